#!/usr/bin/env bash
# Runs every test of atomboot: installs what is missing, then unit, property, interop and QEMU tests, then
# every fuzz target over its committed seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The U-Boot application for both boards (the board and QEMU tests use them).
bash scripts/build-agent.sh qemu-virt
bash scripts/build-agent.sh am335x
cargo test --workspace --locked
bash fuzz/replay.sh
