#!/usr/bin/env bash
# Runs one fuzz target for a number of seconds from its committed seeds:
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
# Prints libFuzzer's final stats (executions) and exits non-zero on a crash.
set -euo pipefail
cd "$(dirname "$0")"
target=$1 seconds=$2; shift 2
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p "corpus/$target"
cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
exec cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 "$@"
