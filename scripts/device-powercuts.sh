#!/usr/bin/env bash
# The power-cut campaign of the on-device update (N cut moments, default 24; 6 is the CI subset, which is
# #[ignore]d until it has been seen to pass once):
# qemu-tests/tests/device_update.rs, scenario s4. Each cut is QEMU's `system_reset` at a moment spread over
# the pull and the deploy of an on-device `atomboot admin upgrade` (the guest's page cache is lost); the
# next boot must boot a verified entry; a sample of the cuts runs a completing upgrade that boots v2.
# Prints one line per cut and the campaign's wall time. Usage: scripts/device-powercuts.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-24}"
bash scripts/setup.sh >/dev/null
bash scripts/build-agent.sh qemu-virt >/dev/null
ATOMBOOT_POWERCUTS="$N" cargo test --locked -p qemu-tests --test device_update \
  s4_power_cuts_during_the_on_device_upgrade -- --include-ignored --nocapture 2>&1 \
  | grep -E '^device_update|^test |panicked|test result'
