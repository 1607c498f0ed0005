#!/usr/bin/env bash
# Builds atomboot-agent.bin and boot.scr for a board into target/board/BOARD/ (unsigned: development
# boards), or with --signed into target/board/BOARD-signed/: the agent then boots only entries whose boot
# proof ties them to a commit signed by one of the public keys in KEYFILE (one base64 ed25519 public key a
# line, e.g. `atomboot sign-keygen`'s PREFIX.pub), compiled into the binary.
#   scripts/build-agent.sh qemu-virt|am335x [--signed KEYFILE]
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: scripts/build-agent.sh qemu-virt|am335x [--signed KEYFILE]"
board=${1:?$usage}
case "$board" in qemu-virt|am335x) ;; *) echo "unknown board $board" >&2; exit 2;; esac
features="board-$board"
name=$board
keys=
if [ $# -gt 1 ]; then
  [ "$2" = --signed ] && [ $# -eq 3 ] || { echo "$usage" >&2; exit 2; }
  keys=$(realpath "$3")
  [ -f "$keys" ] || { echo "key file $3 not found" >&2; exit 2; }
  features="$features signed"
  name=$board-signed
fi
out=target/board/$name
mkdir -p "$out"
# Tests build the agent from several threads and processes at once: one build at a time, and every output
# is written beside its final name and renamed into place.
exec 9>"target/board/.build-agent-$name.lock"
flock 9
(cd boot-agent/uboot-app && ATOMBOOT_AGENT_KEYS="$keys" cargo +nightly build --quiet --release \
   --features "$features" --target-dir "../../target/uboot-app-$name")
elf=target/uboot-app-$name/armv7a-atomboot-eabi/release/atomboot-agent
llvm-objcopy -O binary "$elf" "$out/atomboot-agent.bin.new"
cp "$elf" "$out/atomboot-agent.elf.new"
mkimage -A arm -O linux -T script -C none -n "atomboot $board" -d "board/$board/boot.cmd" "$out/boot.scr.new" >/dev/null
cp "board/$board/fw_env.config" "$out/fw_env.config.new"
for f in atomboot-agent.bin atomboot-agent.elf boot.scr fw_env.config; do mv -f "$out/$f.new" "$out/$f"; done
echo "$out/atomboot-agent.bin $(stat -c %s "$out/atomboot-agent.bin") bytes"
