#!/usr/bin/env bash
# The main job: commit signed OS versions with `atomboot commit`, deploy the first with `atomboot admin`, boot
# it in QEMU with Debian's real U-Boot, the atomboot agent and a real Debian armhf kernel; the running device
# then updates itself to the second over its network (`atomboot admin upgrade` through a static delta,
# `reboot`), refuses a third signed by a stranger's key, and finally, with the new version's kernel broken on
# the boot partition, the agent falls back by itself.
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
for v in 1 2 3; do bash scripts/build-guest-os.sh $v "$W/os-v$v" >>"$LOG" 2>&1; done
say "atomboot CLI, agent ($(stat -c %s target/board/qemu-virt/atomboot-agent.bin) bytes), guest OS v1, v2, v3 built"

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
# The device's remote requires signed commits and summaries; it holds the public key only.
remote_add() {
  "$A" --repo="$S/ostree/repo" remote add --sign-verify=ed25519=inline:"$PK" --set=sign-verify-summary=true \
    origin "$1" >>"$LOG" 2>&1
}
remote_add "http://127.0.0.1:$PORT"
"$A" --repo="$S/ostree/repo" pull origin demo/os >>"$LOG" 2>&1 || die "pull of v1 failed (see $LOG)"
admin() { "$A" admin --sysroot "$S" --boot "$B" "$@"; }
admin deploy --os debian --karg console=ttyAMA0 --karg panic=-1 origin:demo/os >>"$LOG" 2>&1
admin mark-good >>"$LOG" 2>&1
# On the device the build server is 10.0.2.100: QEMU's user network (restrict=on: no other address is
# reachable) forwards 10.0.2.100:80 to this machine's 127.0.0.1:$PORT, one `nc` per connection.
"$A" --repo="$S/ostree/repo" remote delete origin >>"$LOG" 2>&1
remote_add http://10.0.2.100
say "deployed v1 (factory state, marked good); the device's remote origin is http://10.0.2.100 and requires"
say "commits and summaries signed by $PK"

# The disk, made once (the factory flashing it): MBR, partition 1 = the FAT boot partition, partition 2 =
# ext4 made from the sysroot. From here on only the device writes it (and the demo, to break a file).
DISK=$W/disk.img
mkfs.ext4 -q -F -L root -d "$S" "$W/root.ext4" 512M
BSZ=$(( $(stat -c %s "$B") / 512 )); RSZ=$(( $(stat -c %s "$W/root.ext4") / 512 ))
truncate -s $(( (2048 + BSZ + RSZ) * 512 )) "$DISK"
printf 'label: dos\nstart=2048, size=%d, type=e, bootable\nstart=%d, size=%d, type=83\n' \
  "$BSZ" $((2048 + BSZ)) "$RSZ" | sfdisk -q "$DISK" >>"$LOG" 2>&1
dd if="$B" of="$DISK" bs=512 seek=2048 conv=notrunc status=none
dd if="$W/root.ext4" of="$DISK" bs=512 seek=$((2048 + BSZ)) conv=notrunc status=none
rm -f "$W/root.ext4" "$B"
BOOTFS="$DISK@@$((2048 * 512))"   # the boot partition, for mtools
printf 'bootdelay=0\nbootcmd=fatload virtio 0:1 0x40200000 boot.scr; source 0x40200000\n' > "$W/flash.txt"
mkenvimage -s 0x40000 -o "$W/flash.img" "$W/flash.txt"; truncate -s 64M "$W/flash.img"
boot() { # boot NAME: power the board on until it powers itself off (it may reboot in between)
  local log="$W/logs/$1.log" t0 t1
  t0=$(date +%s.%N)
  timeout 900 qemu-system-arm -M virt -m 512 -nographic \
    -bios /usr/lib/u-boot/qemu_arm/u-boot.bin -drive "if=pflash,unit=1,format=raw,file=$W/flash.img" \
    -drive "if=none,format=raw,id=d0,file=$DISK" -device virtio-blk-device,drive=d0 \
    -netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:nc 127.0.0.1 $PORT" \
    -device virtio-net-device,netdev=n0 </dev/null 2>&1 \
    | tr -d '\r' > "$log" || die "QEMU run $1 failed or timed out (see $log)"
  t1=$(date +%s.%N)
  grep -E '^U-Boot 20|^atomboot: (loader copy|counters|entry|load |REFUSED|verified|FAILED|trying|boot |save)|^atomboot-guest: (booted|network|health|mark-good|upgrade|reboot|refused|status: (last|unchanged|CHANGED))|^pull: |^Error' "$log" \
    | sed -E 's/sha256 ok in [0-9]+ ms/sha256 ok/; s/^U-Boot 20.*/-- power on (U-Boot)/; s/^/  /' | cut -c1-160
  awk -v a="$t0" -v b="$t1" -v n="$1" 'BEGIN{printf "  (%s: %.1f s)\n", n, b-a}'
}
expect() { grep -qF -- "$2" "$W/logs/$1.log" || die "$1: expected '$2' (see $W/logs/$1.log)"; }
# A one-shot job for the running device (qemu-tests/guest/os/init runs /boot/atomboot-job.sh once).
job() { printf 'exec > /dev/console 2>&1\n%s\n' "$1" > "$W/job.sh"; mcopy -o -i "$BOOTFS" "$W/job.sh" ::atomboot-job.sh; }
requests() { wc -l < "$W/logs/http.log"; }

step "boot 1: the factory image runs v1"
boot boot1
expect boot1 "atomboot: boot primary"
expect boot1 "atomboot-guest: booted version=1"
expect boot1 "atomboot-guest: network: eth0 10.0.2.15"

step "commit v2 (signed) and a static delta v1 -> v2; the device runs admin upgrade itself (pull over its network, deploy into its /boot), reboots"
C2=$("$A" --repo="$R" commit -b demo/os -s "version 2" --add-metadata-string=version=2 --sign="$SK" "$W/os-v2")
"$A" --repo="$R" static-delta generate --from="$C1" --to="$C2" >>"$LOG" 2>&1
"$A" --repo="$R" summary -u --sign="$SK"
say "v2 = $C2 (signed); delta $(du -sb "$R/deltas" | cut -f1) bytes"
# Through a pipe, as into a log: atomboot prints one plain line per phase (no progress bar on the console).
job 'echo "atomboot-guest: upgrade: start $(cat /proc/uptime)"
( atomboot admin upgrade; echo $? > /tmp/upgrade.rc ) 2>&1 | cat
rc=$(cat /tmp/upgrade.rc)
echo "atomboot-guest: upgrade: rc=$rc $(cat /proc/uptime)"
[ $rc = 0 ] && touch /run/atomboot/reboot'
R0=$(requests)
boot boot2
expect boot2 "pull: demo/os is commit $C2"
expect boot2 "atomboot-guest: upgrade: rc=0"
expect boot2 "atomboot-guest: reboot"
expect boot2 "atomboot: entry primary: update on trial"
expect boot2 "atomboot-guest: booted version=2"
expect boot2 "atomboot-guest: health=ok"
expect boot2 "atomboot-guest: mark-good: atomboot admin mark-good rc=0"
REQ=$(tail -n +$((R0 + 1)) "$W/logs/http.log")
grep -q '"GET /deltas/.*/superblock' <<<"$REQ" || die "the device did not fetch the static delta (see $W/logs/http.log)"
! grep -q '"GET /objects/.*\.filez' <<<"$REQ" || die "the device fetched file objects beside the delta (see $W/logs/http.log)"
UP=$(awk '/atomboot-guest: upgrade: start/{a=$4} /atomboot-guest: upgrade: rc=0/{b=$4} END{printf "%.1f", b-a}' "$W/logs/boot2.log")
say "  on-device upgrade v1 -> v2: $UP s; $(grep -m1 '^pull: done' "$W/logs/boot2.log" | sed 's/^pull: done (//; s/ so far)//')"
say "  $(wc -l <<<"$REQ") HTTP requests: $(grep -c '"GET /deltas/' <<<"$REQ") of the static delta, $(grep -c '"GET /objects/' <<<"$REQ") of objects (v2's commit and its signature)"
say "  counters after boot 2: $(grep '^atomboot-guest: env:' "$W/logs/boot2.log" | tail -1 | sed 's/^atomboot-guest: env: //')"

step "the server offers v3 signed with a stranger's key: the device's upgrade refuses it and keeps booting v2"
"$A" sign-keygen "$W/build-keys/stranger" >/dev/null
SK3=$(cat "$W/build-keys/stranger.secret")
C3=$("$A" --repo="$R" commit -b demo/os -s "version 3" --add-metadata-string=version=3 --sign="$SK3" "$W/os-v3")
"$A" --repo="$R" summary -u --sign="$SK"
say "v3 = $C3 (signed by a stranger)"
job 'atomboot admin status > /tmp/status-before
echo "atomboot-guest: upgrade: start"
( atomboot admin upgrade; echo $? > /tmp/upgrade.rc ) 2>&1 | tee /tmp/upgrade.out
echo "atomboot-guest: upgrade: rc=$(cat /tmp/upgrade.rc)"
grep -q "none of its .* verifies" /tmp/upgrade.out && echo "atomboot-guest: refused: $(grep -o "commit [0-9a-f]* from remote [^:]*" /tmp/upgrade.out | head -1)"
atomboot admin status > /tmp/status-after
if cmp -s /tmp/status-before /tmp/status-after; then echo "atomboot-guest: status: unchanged"; else echo "atomboot-guest: status: CHANGED"; cat /tmp/status-after; fi
atomboot --repo=/sysroot/ostree/repo fsck >/dev/null 2>&1 && echo "atomboot-guest: fsck: clean"
touch /run/atomboot/reboot'
boot boot3
expect boot3 "atomboot-guest: refused: commit $C3 from remote \"origin\""
expect boot3 "atomboot-guest: status: unchanged"
expect boot3 "atomboot-guest: fsck: clean"
expect boot3 "atomboot-guest: reboot"
[ "$(grep -c 'atomboot-guest: booted version=2' "$W/logs/boot3.log")" = 2 ] || die "boot3: v2 did not boot again after the refusal"
! grep -q 'atomboot-guest: upgrade: rc=0' "$W/logs/boot3.log" || die "boot3: the device accepted v3"

step "break v2's kernel on the boot partition (one flipped byte)"
# The default entry's kernel: kernel_image of the loader copy with the highest generation.
KV2=$(for c in 0 1; do mtype -i "$BOOTFS" ::loader.$c/uEnv.txt 2>/dev/null | tr -d '\r' \
      | awk -F= '/^atomboot_generation=/{g=$2} /^kernel_image=/{k=$2} END{if (k) print g, k}'; done \
      | sort -n | tail -1 | cut -d' ' -f2)
[ -n "$KV2" ] || die "no kernel_image in the loader copies"
mcopy -o -i "$BOOTFS" "::$KV2" "$W/vmlinuz"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0x01; open(p,"wb").write(b)' "$W/vmlinuz"
mcopy -o -i "$BOOTFS" "$W/vmlinuz" "::$KV2"
say "  flipped one byte of $KV2"

step "boot 4: the agent refuses v2's kernel and boots v1 by itself"
boot boot4
expect boot4 "atomboot: FAILED primary kernel"
expect boot4 "atomboot: boot fallback"
expect boot4 "atomboot-guest: booted version=1"
grep '^atomboot-guest: status: ' "$W/logs/boot4.log" | sed 's/^atomboot-guest: status: /  /'

printf '\ndemo done: v1 booted; the device updated itself to v2 over its network through a static delta, refused a\nv3 signed by a stranger and kept v2; then the automatic fallback. Logs: %s/logs\n' "$W"
