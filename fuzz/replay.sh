#!/usr/bin/env bash
# Builds every fuzz target and runs each over its committed seeds (fuzz/seeds/TARGET: real inputs and the
# inputs of crashes found and fixed), once each, no fuzzing: a target that no longer builds, or a seed that
# panics again, fails the tests (scripts/test.sh runs this). Built the way the
# code ships (-O, no sanitizer); fuzz/run.sh is for fuzzing campaigns.
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || { echo "fuzz/replay.sh: cargo-fuzz missing (scripts/setup.sh installs it)" >&2; exit 1; }
cargo +nightly fuzz build -O -s none
bin=target/x86_64-unknown-linux-gnu/release
targets=$(cargo +nightly fuzz list)
for target in $targets; do
  [ -d "seeds/$target" ] || { echo "fuzz/replay.sh: $target has no seeds (fuzz/seeds/$target)" >&2; exit 1; }
  n=$(find "seeds/$target" -type f | wc -l)
  if ! out=$("$bin/$target" -runs=0 "seeds/$target" 2>&1); then
    echo "$out" | tail -40 >&2
    echo "fuzz/replay.sh: $target failed on a seed in fuzz/seeds/$target (output above)" >&2
    exit 1
  fi
  echo "fuzz/replay.sh: $target: $n seeds replayed, no crash"
done
