#!/usr/bin/env bash
# Benchmark: `atomboot admin deploy` vs Debian's `ostree admin deploy`, side by side in one run, on the
# same tree. Not a test.
# The tree: the Debian bookworm minbase of bench/repo.sh (debootstrap, cached) with its /etc moved to
# /usr/etc (as ostree trees ship it) and a kernel + initramfs in /usr/lib/modules/<kver>/ (random bytes of
# a real kernel's size: neither tool boots them here).
# For each tool: its own `admin init-fs` and `os-init`, one commit into the sysroot's repository (bare for
# both), then two `admin deploy`s of that commit (as on a device: the second costs only what a deployment
# adds). atomboot also writes its boot files and A/B loader copies to a FAT image (mkfs.vfat, 64 MiB), as on
# a board; ostree writes its boot files into the sysroot's /boot.
# Prints the median time of each deploy over RUNS runs (tools interleaved), and the disk used after the
# commit and two deploys: du of the sysroot (hard links counted once) plus, for atomboot, the files on
# the FAT image.
# Usage: sudo bench/deploy.sh   (env: RUNS=3, BENCH_CACHE=/var/tmp/atomboot-bench, SUITE=bookworm,
#                                 MIRROR=http://deb.debian.org/debian, TREE=<existing dir instead>)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
CACHE=${BENCH_CACHE:-/var/tmp/atomboot-bench}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

# shellcheck source=bench/lib.sh
. bench/lib.sh
need_pkg debootstrap
need_pkg time
need_pkg ostree
need_pkg dosfstools
need_pkg mtools

mkdir -p "$CACHE"
if [ -n "${TREE:-}" ]; then
  BASE=$TREE
else
  minbase_tree "$CACHE" "$SUITE" "$MIRROR"
  BASE=$MINBASE
fi

cargo build --release -q -p host-tools
AB=$PWD/target/release/atomboot
W=$(mktemp -d "$CACHE/deploy.XXXXXX")
# ostree marks each deployment immutable (chattr +i): lift that before removing a sysroot.
wipe() { chattr -i "$1"/ostree/deploy/*/deploy/*/ 2>/dev/null || true; rm -rf "$1"; }
trap 'wipe "$W/ostree"; rm -rf "$W"' EXIT

# The deploy tree: a copy (not links: ostree's commit must not see the cache's inodes) with /usr/etc.
ROOTFS=$W/tree
cp -a "$BASE" "$ROOTFS"
rm -f "$ROOTFS/.complete"
if [ -d "$ROOTFS/etc" ] && [ ! -e "$ROOTFS/usr/etc" ]; then mv "$ROOTFS/etc" "$ROOTFS/usr/etc"; fi
KVER=6.1.0-bench
mkdir -p "$ROOTFS/usr/lib/modules/$KVER"
head -c 5400000 /dev/urandom >"$ROOTFS/usr/lib/modules/$KVER/vmlinuz"
head -c 1500000 /dev/urandom >"$ROOTFS/usr/lib/modules/$KVER/initramfs.img"
SIZE=$(du -sm "$ROOTFS" | cut -f1)
NFILES=$(find "$ROOTFS" -type f | wc -l)
echo "bench: tree ${SIZE} MB, $NFILES files; RUNS=$RUNS" >&2

secs() { /usr/bin/time -f "%e" -o "$W/t.tmp" "$@" >/dev/null 2>"$W/err.tmp" || { cat "$W/err.tmp" >&2; return 1; }; cat "$W/t.tmp"; }

# One run of one tool: prints "deploy1 deploy2 disk_kib".
run_ostree() {
  local s=$W/ostree
  wipe "$s"; mkdir -p "$s"
  ostree admin init-fs "$s" >/dev/null
  ostree admin os-init --sysroot="$s" debian >/dev/null
  ostree --repo="$s/ostree/repo" commit -b debian/stable -s one --timestamp=2024-01-01T00:00:00Z "$ROOTFS" >/dev/null
  sync
  local t1 t2
  t1=$(secs ostree admin deploy --sysroot="$s" --os=debian debian/stable)
  sync
  t2=$(secs ostree admin deploy --sysroot="$s" --os=debian debian/stable)
  sync
  echo "$t1 $t2 $(du -sk "$s" | cut -f1)"
}

run_atomboot() {
  local s=$W/atomboot
  rm -rf "$s"; mkdir -p "$s"
  mkfs.vfat -F 16 -n BOOT -C "$W/boot.img" 65536 >/dev/null
  "$AB" admin --boot "$W/boot.img" init-fs "$s/root" >/dev/null
  "$AB" admin --sysroot "$s/root" --boot "$W/boot.img" os-init debian >/dev/null
  "$AB" --repo="$s/root/ostree/repo" commit -b debian/stable -s one --timestamp=2024-01-01T00:00:00Z "$ROOTFS" >/dev/null
  sync
  local t1 t2 fat
  t1=$(secs "$AB" admin --sysroot "$s/root" --boot "$W/boot.img" deploy --os=debian debian/stable)
  sync
  t2=$(secs "$AB" admin --sysroot "$s/root" --boot "$W/boot.img" deploy --os=debian debian/stable)
  sync
  # Space the files take on the FAT image: mdu counts clusters; minfo gives sectors (512 B) per cluster.
  local clusters spc
  clusters=$(mdu -s -i "$W/boot.img" :: | awk '{print $2}' | tail -1)
  spc=$(minfo -i "$W/boot.img" :: | awk '/^cluster size:/ {print $3}')
  fat=$((clusters * spc / 2))
  rm -f "$W/boot.img"
  echo "$t1 $t2 $(($(du -sk "$s" | cut -f1) + ${fat:-0}))"
}

for i in $(seq "$RUNS"); do
  run_ostree >>"$W/ostree.runs"
  run_atomboot >>"$W/atomboot.runs"
done

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
col() { cut -d' ' -f"$2" "$W/$1.runs" | median; }
ratio() { awk -v a="$1" -v o="$2" 'BEGIN { if (o > 0) printf "%.2f", a / o; else print "n/a" }'; }

printf '\n%-28s %12s %12s %8s\n' what ostree atomboot ratio
for k in 1 2; do
  o=$(col ostree $k); a=$(col atomboot $k)
  printf '%-28s %12s %12s %8s\n' "deploy $k (s)" "$o" "$a" "$(ratio "$a" "$o")"
done
o=$(col ostree 3); a=$(col atomboot 3)
printf '%-28s %12s %12s %8s\n' "disk after commit+2 (MiB)" "$((o / 1024))" "$((a / 1024))" "$(ratio "$a" "$o")"
echo "(medians of $RUNS runs; ratio = atomboot/ostree, lower is better; tree ${SIZE} MB, $NFILES files)"
echo
echo "every run (deploy1 s, deploy2 s, disk KiB):"
paste -d'|' "$W/ostree.runs" "$W/atomboot.runs" | awk -F'|' '{printf "  ostree: %-28s atomboot: %s\n", $1, $2}'
