#!/usr/bin/env bash
# The main job: commit two OS versions with `atomboot commit`, deploy them with `atomboot admin`, boot them in
# QEMU with Debian's real U-Boot, the atomboot agent and a real Debian armhf kernel, then break the new
# version's kernel on the boot partition and watch the agent fall back by itself.
# Short output here; full logs in demo-out/ (or $ATOMBOOT_DEMO_OUT). Exits non-zero if any step misbehaves.
set -euo pipefail
cd "$(dirname "$0")/.."
W=$(realpath -m "${ATOMBOOT_DEMO_OUT:-demo-out}")
rm -rf "$W"; mkdir -p "$W/logs"
LOG="$W/logs/build.log"
say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }
die() { printf 'demo FAILED: %s\n' "$*" >&2; exit 1; }

step "setup and build (logs: $LOG)"
bash scripts/setup.sh >>"$LOG" 2>&1
cargo build --release --locked -p host-tools >>"$LOG" 2>&1
A=$PWD/target/release/atomboot
bash scripts/build-agent.sh qemu-virt >>"$LOG" 2>&1
bash scripts/fetch-guest.sh >>"$LOG" 2>&1
bash scripts/build-guest-os.sh 1 "$W/os-v1" >>"$LOG" 2>&1
bash scripts/build-guest-os.sh 2 "$W/os-v2" >>"$LOG" 2>&1
say "atomboot CLI, agent ($(stat -c %s target/board/qemu-virt/atomboot-agent.bin) bytes), guest OS v1 and v2 built"

step "commit v1 with atomboot into the build server's repository (OSTree archive mode), signed; serve it over HTTP"
R=$W/build-repo
# The build host's ed25519 key: the secret stays in $W/build-keys, the device gets only the public key.
mkdir -p "$W/build-keys"
PK=$("$A" sign-keygen "$W/build-keys/demo")
SK=$(cat "$W/build-keys/demo.secret")
"$A" --repo="$R" init --mode=archive
C1=$("$A" --repo="$R" commit -b demo/os -s "version 1" --add-metadata-string=version=1 --sign="$SK" "$W/os-v1")
"$A" --repo="$R" summary -u --sign="$SK"
say "v1 = $C1 (signed with ed25519 key $PK)"
ostree --repo="$R" fsck >>"$LOG" 2>&1 || die "ostree fsck rejects our repository"
say "Debian's ostree fsck accepts the repository"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 scripts/serve-repo.py "$R" "$PORT" >/dev/null 2>"$W/logs/http.log" &
HTTP_PID=$!
trap 'kill $HTTP_PID 2>/dev/null || true' EXIT
python3 -c 'import sys, time, urllib.request
for _ in range(100):
    try: urllib.request.urlopen(sys.argv[1], timeout=1); break
    except OSError: time.sleep(0.1)' "http://127.0.0.1:$PORT/config"
say "serving $R at http://127.0.0.1:$PORT"

step "the device: boot partition and sysroot; its repository pulls v1 over HTTP; deploy v1"
S=$W/sysroot
B=$W/boot.fat
mkfs.vfat -F 16 -n BOOT -C "$B" 65536 >>"$LOG"
mcopy -i "$B" target/board/qemu-virt/atomboot-agent.bin target/board/qemu-virt/boot.scr ::
"$A" admin --boot "$B" init-fs "$S" --board qemu-virt >>"$LOG" 2>&1
"$A" admin --sysroot "$S" os-init debian >>"$LOG" 2>&1
"$A" --repo="$S/ostree/repo" remote add --sign-verify=ed25519=inline:"$PK" --set=sign-verify-summary=true \
  origin "http://127.0.0.1:$PORT" >>"$LOG" 2>&1
"$A" --repo="$S/ostree/repo" pull origin demo/os >>"$LOG" 2>&1 || die "pull of v1 failed (see $LOG)"
admin() { "$A" admin --sysroot "$S" --boot "$B" "$@"; }
admin deploy --os debian --karg console=ttyAMA0 --karg panic=-1 origin:demo/os >>"$LOG" 2>&1
admin mark-good >>"$LOG" 2>&1
say "deployed v1 (factory state, marked good); the device's remote requires signed commits and summaries"

# The disk: MBR, partition 1 = the FAT boot partition, partition 2 = ext4 made from the sysroot.
# (Stop-gap for deploying inside the guest: the root file system is rebuilt from the host sysroot before
# each boot; the boot partition is carried over byte for byte, with whatever U-Boot and the guest wrote.)
DISK=$W/disk.img
mkdisk() {
  mkfs.ext4 -q -F -L root -d "$S" "$W/root.ext4" 512M
  local bsz rsz
  bsz=$(( $(stat -c %s "$B") / 512 )); rsz=$(( $(stat -c %s "$W/root.ext4") / 512 ))
  rm -f "$DISK"; truncate -s $(( (2048 + bsz + rsz) * 512 )) "$DISK"
  printf 'label: dos\nstart=2048, size=%d, type=e, bootable\nstart=%d, size=%d, type=83\n' \
    "$bsz" $((2048 + bsz)) "$rsz" | sfdisk -q "$DISK" >>"$LOG" 2>&1
  dd if="$B" of="$DISK" bs=512 seek=2048 conv=notrunc status=none
  dd if="$W/root.ext4" of="$DISK" bs=512 seek=$((2048 + bsz)) conv=notrunc status=none
}
takeboot() { dd if="$DISK" of="$B" bs=512 skip=2048 count=$(( $(stat -c %s "$B") / 512 )) status=none; }
printf 'bootdelay=0\nbootcmd=fatload virtio 0:1 0x40200000 boot.scr; source 0x40200000\n' > "$W/flash.txt"
mkenvimage -s 0x40000 -o "$W/flash.img" "$W/flash.txt"; truncate -s 64M "$W/flash.img"
boot() { # boot NAME: one power cycle of the board, console in logs/NAME.log
  local log="$W/logs/$1.log" t0 t1
  mkdisk
  t0=$(date +%s.%N)
  timeout 180 qemu-system-arm -M virt -m 512 -nographic -no-reboot -net none \
    -bios /usr/lib/u-boot/qemu_arm/u-boot.bin -drive "if=pflash,unit=1,format=raw,file=$W/flash.img" \
    -drive "if=none,format=raw,id=d0,file=$DISK" -device virtio-blk-device,drive=d0 </dev/null 2>&1 \
    | tr -d '\r' > "$log" || die "QEMU run $1 failed or timed out (see $log)"
  t1=$(date +%s.%N)
  takeboot
  grep -E '^atomboot: (loader copy|counters|entry|load |REFUSED|verified|FAILED|trying|boot |save)|^atomboot-guest: (booted|health|mark-good)' "$log" \
    | sed -E 's/sha256 ok in [0-9]+ ms/sha256 ok/; s/^/  /' | cut -c1-150
  awk -v a="$t0" -v b="$t1" -v n="$1" 'BEGIN{printf "  (%s: %.1f s)\n", n, b-a}'
}
expect() { grep -qF -- "$2" "$W/logs/$1.log" || die "$1: expected '$2' (see $W/logs/$1.log)"; }

step "boot 1: the factory image runs v1"
boot boot1
expect boot1 "atomboot: boot primary"
expect boot1 "atomboot-guest: booted version=1"

step "commit v2 on the build server; the device runs admin upgrade (pull over HTTP, deploy on trial)"
C2=$("$A" --repo="$R" commit -b demo/os -s "version 2" --add-metadata-string=version=2 --sign="$SK" "$W/os-v2")
"$A" --repo="$R" summary -u --sign="$SK"
say "v2 = $C2 (signed)"
admin upgrade >>"$LOG" 2>&1 || die "admin upgrade failed (see $LOG)"
admin status | sed 's/^/  /'

step "boot 2: v2 boots on trial and its health check marks it good from inside the guest"
boot boot2
expect boot2 "atomboot-guest: booted version=2"
expect boot2 "atomboot-guest: health=ok"
mcopy -o -i "$B" ::uboot.env "$W/env-a"; mcopy -o -i "$B" ::uboot-redund.env "$W/env-b"
say "  counters after boot 2: $("$A" env print -c <(printf '%s 0x0 0x4000\n%s 0x0 0x4000\n' "$W/env-a" "$W/env-b") bootcount upgrade_available | tr '\n' ' ')"

step "the server offers v3 signed with a stranger's key: the device's upgrade refuses it and keeps v2"
"$A" sign-keygen "$W/build-keys/stranger" >/dev/null
SK3=$(cat "$W/build-keys/stranger.secret")
C3=$("$A" --repo="$R" commit -b demo/os -s "version 3" --add-metadata-string=version=3 --sign="$SK3" "$W/os-v1")
"$A" --repo="$R" summary -u --sign="$SK"
admin status >"$W/status-before-v3"
if admin upgrade >"$W/logs/upgrade-v3.log" 2>&1; then die "the device accepted v3 signed by a stranger"; fi
grep -qF "commit $C3" "$W/logs/upgrade-v3.log" || die "the refusal does not name v3 (see $W/logs/upgrade-v3.log)"
say "  $(grep -o 'none of its.*verifies' "$W/logs/upgrade-v3.log" | head -1)"
admin status | cmp -s - "$W/status-before-v3" || die "admin status changed after the refused upgrade"
"$A" --repo="$S/ostree/repo" fsck >>"$LOG" 2>&1 || die "the device's repository fails fsck after the refusal"
say "  v3 ($C3) refused; deployments unchanged (v2 default), repository fsck clean"

step "break v2's kernel on the boot partition (one flipped byte)"
# The default entry's kernel: kernel_image of the loader copy with the highest generation.
KV2=$(for c in 0 1; do mtype -i "$B" ::loader.$c/uEnv.txt 2>/dev/null | tr -d '\r' \
      | awk -F= '/^atomboot_generation=/{g=$2} /^kernel_image=/{k=$2} END{if (k) print g, k}'; done \
      | sort -n | tail -1 | cut -d' ' -f2)
[ -n "$KV2" ] || die "no kernel_image in the loader copies"
mcopy -o -i "$B" "::$KV2" "$W/vmlinuz"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0x01; open(p,"wb").write(b)' "$W/vmlinuz"
mcopy -o -i "$B" "$W/vmlinuz" "::$KV2"
say "  flipped one byte of $KV2"

step "boot 3: the agent refuses v2's kernel and boots v1 by itself"
boot boot3
expect boot3 "atomboot: FAILED primary kernel"
expect boot3 "atomboot: boot fallback"
expect boot3 "atomboot-guest: booted version=1"
admin status | sed 's/^/  /'

printf '\ndemo done: v1 and v2 booted, then the automatic fallback. Logs: %s/logs\n' "$W"
