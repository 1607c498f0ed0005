#!/usr/bin/env bash
# Fetches the guest OS's Debian armhf parts into .cache/guest/ (idempotent, cached between runs):
#   linux-image-<kver>-armmp:armhf (zImage + modules) and busybox-static:armhf, unpacked with dpkg -x.
# Usage: scripts/fetch-guest.sh [--refresh]
#   --refresh  resolve the newest armmp kernel again (otherwise a complete cache is used as is, offline).
# Prints the cache's layout on success:
#   .cache/guest/kver               the kernel version (for example 6.1.0-50-armmp)
#   .cache/guest/root/boot/vmlinuz-<kver>, .cache/guest/root/lib/modules/<kver>/...
#   .cache/guest/root/bin/busybox
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="$REPO/.cache/guest"
REFRESH=0
[ "${1:-}" = "--refresh" ] && REFRESH=1

complete() {
  [ -f "$CACHE/kver" ] || return 1
  local kver
  kver="$(cat "$CACHE/kver")"
  [ -f "$CACHE/root/boot/vmlinuz-$kver" ] && [ -d "$CACHE/root/lib/modules/$kver" ] \
    && [ -x "$CACHE/root/bin/busybox" ]
}

if [ "$REFRESH" = 0 ] && complete; then
  echo "fetch-guest: cached: kernel $(cat "$CACHE/kver"), busybox-static ($CACHE)"
  exit 0
fi

if ! dpkg --print-foreign-architectures | grep -x armhf >/dev/null; then
  echo "fetch-guest: adding the armhf architecture (dpkg --add-architecture armhf)"
  dpkg --add-architecture armhf
fi

# The versioned kernel package the meta package linux-image-armmp:armhf depends on.
resolve_kernel() {
  apt-cache depends linux-image-armmp:armhf 2>/dev/null \
    | sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*-armmp\)\(:armhf\)\?$/\1/p' | head -n1
}
KPKG="$(resolve_kernel || true)"
if [ -z "$KPKG" ]; then
  echo "fetch-guest: apt-get update (no armhf package index yet)"
  # The armhf security index may fail while the mirror syncs (QEMU.md): main is enough.
  apt-get update -qq || echo "fetch-guest: apt-get update reported errors (continuing)" >&2
  KPKG="$(resolve_kernel || true)"
fi
if [ -z "$KPKG" ]; then
  echo "fetch-guest: cannot resolve the armhf kernel package (apt-cache depends linux-image-armmp:armhf" \
       "found no linux-image-*-armmp); check /etc/apt/sources.list and run apt-get update" >&2
  exit 1
fi
KVER="${KPKG#linux-image-}"

mkdir -p "$CACHE/debs"
cd "$CACHE/debs"
for p in "$KPKG:armhf" "busybox-static:armhf"; do
  name="${p%%:*}"
  if ! ls "${name}"_*_armhf.deb >/dev/null 2>&1; then
    echo "fetch-guest: apt-get download $p"
    apt-get download -qq "$p"
  fi
done

rm -rf "$CACHE/root.new"
mkdir -p "$CACHE/root.new"
for d in "$CACHE/debs/${KPKG}"_*_armhf.deb "$CACHE/debs"/busybox-static_*_armhf.deb; do
  dpkg -x "$d" "$CACHE/root.new"
done
# Debian's merged /usr: the package may ship /usr/lib/modules or /lib/modules, /bin/busybox or /usr/bin/...
if [ ! -d "$CACHE/root.new/lib/modules/$KVER" ] && [ -d "$CACHE/root.new/usr/lib/modules/$KVER" ]; then
  mkdir -p "$CACHE/root.new/lib/modules"
  mv "$CACHE/root.new/usr/lib/modules/$KVER" "$CACHE/root.new/lib/modules/$KVER"
fi
if [ ! -x "$CACHE/root.new/bin/busybox" ] && [ -x "$CACHE/root.new/usr/bin/busybox" ]; then
  mkdir -p "$CACHE/root.new/bin"
  cp "$CACHE/root.new/usr/bin/busybox" "$CACHE/root.new/bin/busybox"
fi
rm -rf "$CACHE/root"
mv "$CACHE/root.new" "$CACHE/root"
echo "$KVER" > "$CACHE/kver.new"
mv "$CACHE/kver.new" "$CACHE/kver"
complete || { echo "fetch-guest: unpacked packages lack vmlinuz-$KVER, modules or busybox" >&2; exit 1; }
echo "fetch-guest: kernel $KVER, busybox-static in $CACHE"
