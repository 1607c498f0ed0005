#!/usr/bin/env bash
# Builds atomboot-agent.bin and boot.scr for a board into target/board/BOARD/.
#   scripts/build-agent.sh qemu-virt|am335x
set -euo pipefail
cd "$(dirname "$0")/.."
board=${1:?usage: scripts/build-agent.sh qemu-virt|am335x}
case "$board" in qemu-virt|am335x) ;; *) echo "unknown board $board" >&2; exit 2;; esac
out=target/board/$board
mkdir -p "$out"
# Tests build the agent from several threads and processes at once: one build at a time, and every output
# is written beside its final name and renamed into place.
exec 9>"target/board/.build-agent-$board.lock"
flock 9
(cd boot-agent/uboot-app && cargo +nightly build --quiet --release --features "board-$board" \
   --target-dir "../../target/uboot-app-$board")
elf=target/uboot-app-$board/armv7a-atomboot-eabi/release/atomboot-agent
llvm-objcopy -O binary "$elf" "$out/atomboot-agent.bin.new"
cp "$elf" "$out/atomboot-agent.elf.new"
mkimage -A arm -O linux -T script -C none -n "atomboot $board" -d "board/$board/boot.cmd" "$out/boot.scr.new" >/dev/null
cp "board/$board/fw_env.config" "$out/fw_env.config.new"
for f in atomboot-agent.bin atomboot-agent.elf boot.scr fw_env.config; do mv -f "$out/$f.new" "$out/$f"; done
echo "$out/atomboot-agent.bin $(stat -c %s "$out/atomboot-agent.bin") bytes"
