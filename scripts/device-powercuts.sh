#!/usr/bin/env bash
# The power-cut campaign of the on-device update: qemu-tests/tests/device_update.rs, scenario s4, with N cut
# moments (default 24; `cargo test` runs the CI subset of 6). The board boots v1 once and is saved (QEMU's
# machine state + its disk) while its job waits to upgrade; a probe times an uncut `atomboot admin upgrade`
# from there (each `pull:`/`deploy:` progress line); then each cut resumes the saved board over its own disk
# overlay, lets the upgrade run to a moment spread over the pull (a quarter of the moments) and the deploy (the
# rest), and cuts the power (QEMU `system_reset`: the guest's page cache is lost). The next boot must boot a
# verified entry (the agent's lines, the guest's booted deployment, health check, mark-good); after every
# third cut (from the second) and after the last, the job runs `admin upgrade` again: from v1 it must deploy
# v2 and reboot into it (on trial, marked good); when v2 already booted after the cut it has nothing to do.
# Moments are placed phase by phase (the spans between the upgrade's `pull:`/`deploy:` lines in the probe) and
# a cut never goes past its phase's next line; each row says which line the console showed last before it.
# Prints the probe, one line per cut as it ends, the table of all cuts and the campaign's wall time.
# Usage: scripts/device-powercuts.sh [N]     (the console of cut K is kept in target/tmp/device-update/s4/cutK.log)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-24}"
case "$N" in
  "" | *[!0-9]*) echo "device-powercuts: N must be a number (at least 6), not '$N'" >&2; exit 2 ;;
esac
bash scripts/setup.sh >/dev/null
bash scripts/build-agent.sh qemu-virt >/dev/null
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
start=$(date +%s)
set +e
ATOMBOOT_POWERCUTS="$N" cargo test --locked -p qemu-tests --test device_update \
  s4_power_cuts_during_the_on_device_upgrade -- --nocapture 2>&1 \
  | tee "$LOG" | grep --line-buffered -E '^device_update s4: (probe|snapshot|cut )|panicked'
status=${PIPESTATUS[0]}
set -e
echo
echo "Power cuts during the on-device upgrade ($N cut moments):"
sed -n 's/^device_update s4: table: //p' "$LOG"
grep -E '^device_update scenario 4|^test result' "$LOG" || true
echo "campaign wall time: $(( $(date +%s) - start )) s"
if [ "$status" != 0 ]; then
  echo "device-powercuts: FAILED (cargo test exit $status); the full output:" >&2
  grep -vE '^\s*$' "$LOG" | tail -n 60 >&2
fi
exit "$status"
