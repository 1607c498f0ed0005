#!/usr/bin/env bash
# Runs every test of atomboot: installs what is missing, then unit, property, interop and QEMU tests, then
# every fuzz target over its committed seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The U-Boot application for both boards, unsigned and signed with the tests' vendor key (the board and
# QEMU tests use them).
for board in qemu-virt am335x; do
  bash scripts/build-agent.sh $board
  bash scripts/build-agent.sh $board --signed qemu-tests/assets/test-vendor.pub
done
cargo test --workspace --locked
bash fuzz/replay.sh
