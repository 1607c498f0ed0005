#!/usr/bin/env bash
# Runs one fuzz target for a number of seconds from its committed seeds:
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
# FUZZ_FLAGS: cargo-fuzz build flags (default "-s address": ASan, debug assertions and overflow checks).
# The agent targets (agent_decide, agent_vars) can also be fuzzed as the agent ships, and much faster:
# FUZZ_FLAGS="-O -s none" (release arithmetic, no ASan).
# Prints libFuzzer's final stats (executions) and exits non-zero on a crash.
set -euo pipefail
cd "$(dirname "$0")"
target=$1 seconds=$2; shift 2
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p "corpus/$target"
cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
# shellcheck disable=SC2086
exec cargo +nightly fuzz run ${FUZZ_FLAGS:--s address} "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 "$@"
