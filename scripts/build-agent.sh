#!/usr/bin/env bash
# Builds atomboot-agent.bin and boot.scr for a board into target/board/BOARD/.
#   scripts/build-agent.sh qemu-virt|am335x
set -euo pipefail
cd "$(dirname "$0")/.."
board=${1:?usage: scripts/build-agent.sh qemu-virt|am335x}
case "$board" in qemu-virt|am335x) ;; *) echo "unknown board $board" >&2; exit 2;; esac
out=target/board/$board
mkdir -p "$out"
(cd boot-agent/uboot-app && cargo +nightly build --quiet --release --features "board-$board" \
   --target-dir "../../target/uboot-app-$board")
elf=target/uboot-app-$board/armv7a-atomboot-eabi/release/atomboot-agent
llvm-objcopy -O binary "$elf" "$out/atomboot-agent.bin"
cp "$elf" "$out/atomboot-agent.elf"
mkimage -A arm -O linux -T script -C none -n "atomboot $board" -d "board/$board/boot.cmd" "$out/boot.scr" >/dev/null
cp "board/$board/fw_env.config" "$out/fw_env.config"
echo "$out/atomboot-agent.bin $(stat -c %s "$out/atomboot-agent.bin") bytes"
