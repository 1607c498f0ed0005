#!/usr/bin/env bash
# Runs one fuzz target for a number of seconds from its committed seeds:
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
# FUZZ_SANITIZER=none skips AddressSanitizer (safe Rust; the agent path is ~30x faster without it).
# Prints libFuzzer's final stats (executions) and exits non-zero on a crash.
set -euo pipefail
cd "$(dirname "$0")"
target=$1 seconds=$2; shift 2
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p "corpus/$target"
cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
exec cargo +nightly fuzz run -s "${FUZZ_SANITIZER:-address}" "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 "$@"
