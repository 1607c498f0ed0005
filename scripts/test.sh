#!/usr/bin/env bash
# Runs every test of atomboot: installs what is missing, then unit, property, interop and QEMU tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace --locked
