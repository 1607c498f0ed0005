#!/usr/bin/env bash
# Builds the sample guest OS tree that the end-to-end tests commit, deploy and boot.
# Usage: scripts/build-guest-os.sh VERSION OUTDIR [--health fail]
# OUTDIR is replaced by the tree (layout in docs/FORMATS.md, "Guest OS"):
#   /usr/lib/modules/<kver>/vmlinuz, initramfs.img   Debian armhf armmp kernel + the prepare-root initramfs
#   /usr/bin/busybox (+ applet links), /usr/bin/atomboot (armhf, static)
#   /usr/sbin/init, /usr/lib/atomboot-guest/{health-check,udhcpc.script}, /bin /sbin /lib -> usr/...
#   /etc/os-release (VERSION_ID=VERSION), /etc/fw_env.config (/boot/uboot.env + /boot/uboot-redund.env, 0x4000)
#   empty /proc /sys /dev /run /tmp /var /boot /sysroot /mnt /media/usb
# --health fail: the health check fails on every boot (a version that must never be marked good).
# Environment: ATOMBOOT_GUEST_BIN=FILE uses that armhf atomboot instead of building it.
set -euo pipefail

usage() { echo "usage: $0 VERSION OUTDIR [--health fail]" >&2; exit 2; }
[ $# -ge 2 ] || usage
VERSION="$1"
OUT="$2"
shift 2
HEALTH=ok
while [ $# -gt 0 ]; do
  case "$1" in
    --health) [ "${2:-}" = fail ] || [ "${2:-}" = ok ] || usage; HEALTH="$2"; shift 2 ;;
    *) usage ;;
  esac
done
case "$VERSION" in
  "" | *[!A-Za-z0-9._+~-]*) echo "build-guest-os: VERSION '$VERSION' must be letters, digits and . _ + ~ -" >&2; exit 2 ;;
esac

REPO="$(cd "$(dirname "$0")/.." && pwd)"
GUEST="$REPO/qemu-tests/guest"
CACHE="$REPO/.cache/guest"
TARGET=armv7-unknown-linux-gnueabihf
# The env size the deployer preallocates (host-tools deploy::counters::ENV_SIZE).
ENV_SIZE=0x4000

"$REPO/scripts/fetch-guest.sh"
KVER="$(cat "$CACHE/kver")"
SRC="$CACHE/root"

# --- the armhf atomboot CLI (static) ---------------------------------------------------------------
if [ -n "${ATOMBOOT_GUEST_BIN:-}" ]; then
  BIN="$ATOMBOOT_GUEST_BIN"
else
  echo "build-guest-os: building atomboot for $TARGET (static)"
  (cd "$REPO" && CARGO_TARGET_DIR="$REPO/target/guest" \
    CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc \
    CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --quiet --release -p host-tools --bin atomboot --target "$TARGET")
  BIN="$REPO/target/guest/$TARGET/release/atomboot"
fi
[ -f "$BIN" ] || { echo "build-guest-os: no armhf atomboot at $BIN" >&2; exit 1; }

# --- the initramfs ---------------------------------------------------------------------------------
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
IR="$WORK/initramfs"
mkdir -p "$IR"/{bin,sbin,dev,proc,sys,tmp,sysroot,newroot,lib/modules}
cp "$SRC/bin/busybox" "$IR/bin/busybox"
for a in sh mount umount insmod mkdir cat sleep sync poweroff switch_root grep basename tr echo ls \
         pwd readlink dmesg; do
  ln -s busybox "$IR/bin/$a"
done
install -m 0755 "$GUEST/initramfs/init" "$IR/init"
# The initramfs belongs to its OS version (like a real distribution's, generated per build): its bytes,
# and so the deployment's boot directory, differ between versions even when the kernel is the same.
mkdir -p "$IR/etc"
printf 'ATOMBOOT_OS_VERSION=%s\n' "$VERSION" > "$IR/etc/initrd-release"

# Modules and their order: dependencies from each .ko's .modinfo (depends=), plus the soft dependency
# ext4 needs for metadata_csum (crc32c_generic); the wanted list is QEMU.md's, plus overlay (admin unlock) and
# virtio_net (with failover, net_failover: the device's network for on-device updates).
python3 - "$SRC/lib/modules/$KVER" "$IR/lib/modules" <<'PY'
import os, shutil, struct, sys
moddir, out = sys.argv[1], sys.argv[2]
WANTED = ["virtio_mmio", "virtio_blk", "fat", "vfat", "nls_cp437", "nls_ascii", "crc32c_generic",
          "crc16", "mbcache", "jbd2", "ext4", "overlay", "virtio_net"]
SOFT = {"ext4": ["crc32c_generic"]}
index = {}
for root, _, files in os.walk(moddir):
    for f in files:
        if f.endswith(".ko"):
            index[f[:-3].replace("-", "_")] = os.path.join(root, f)

def modinfo(path):
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 1:
        sys.exit(f"build-guest-os: {path} is not a 32-bit ELF module")
    end = "<" if data[5] == 1 else ">"
    shoff, = struct.unpack_from(end + "I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x2E)
    secs = [struct.unpack_from(end + "IIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    stroff = secs[shstrndx][4]
    for name, _typ, _fl, _addr, off, size in secs:
        n = data[stroff + name:data.index(b"\0", stroff + name)].decode()
        if n == ".modinfo":
            return dict(kv.split("=", 1) for kv in data[off:off + size].decode(errors="replace").split("\0") if "=" in kv)
    sys.exit(f"build-guest-os: {path} has no .modinfo section")

order, seen = [], set()
def visit(m, chain):
    if m in seen:
        return
    if m in chain:
        sys.exit(f"build-guest-os: module dependency loop: {' -> '.join(chain + [m])}")
    if m not in index:
        sys.exit(f"build-guest-os: module {m} not found under {moddir} (built into the kernel?)")
    info = modinfo(index[m])
    deps = [d.replace("-", "_") for d in info.get("depends", "").split(",") if d] + SOFT.get(m, [])
    for d in deps:
        visit(d, chain + [m])
    seen.add(m)
    order.append(m)
for m in WANTED:
    visit(m, [])
with open(os.path.join(out, "modules.order"), "w") as f:
    for m in order:
        name = os.path.basename(index[m])
        shutil.copy(index[m], os.path.join(out, name))
        f.write(name + "\n")
print("build-guest-os: initramfs modules: " + " ".join(order))
PY
# Reproducible: same inputs -> same bytes (so versions with the same kernel share their boot files).
find "$IR" -exec touch -h -d @0 {} +
(cd "$IR" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible | gzip -9 -n) \
  > "$WORK/initramfs.img"

# --- the OS tree -----------------------------------------------------------------------------------
rm -rf "$OUT"
mkdir -p "$OUT"
R="$(cd "$OUT" && pwd)"
mkdir -p "$R"/usr/{bin,sbin,lib/modules/"$KVER",lib/atomboot-guest} "$R"/etc \
         "$R"/{proc,sys,dev,run,tmp,var,boot,sysroot,mnt,media/usb}
ln -s usr/bin "$R/bin"
ln -s usr/sbin "$R/sbin"
ln -s usr/lib "$R/lib"
install -m 0644 "$SRC/boot/vmlinuz-$KVER" "$R/usr/lib/modules/$KVER/vmlinuz"
install -m 0644 "$WORK/initramfs.img" "$R/usr/lib/modules/$KVER/initramfs.img"
install -m 0755 "$SRC/bin/busybox" "$R/usr/bin/busybox"
for a in sh ash cat echo ls mount umount mkdir rm touch sync poweroff reboot sleep grep sed cut tr \
         uname dmesg df du find head tail wc sort vi dd hexdump md5sum sha256sum ps kill date printf \
         test true false basename dirname readlink ln cp mv chmod stat udhcpc ifconfig route ip wget \
         tee; do
  ln -s busybox "$R/usr/bin/$a"
done
install -m 0755 "$BIN" "$R/usr/bin/atomboot"
arm-linux-gnueabihf-strip "$R/usr/bin/atomboot"
install -m 0755 "$GUEST/os/init" "$R/usr/sbin/init"
install -m 0755 "$GUEST/os/health-check" "$R/usr/lib/atomboot-guest/health-check"
install -m 0755 "$GUEST/os/udhcpc.script" "$R/usr/lib/atomboot-guest/udhcpc.script"
[ "$HEALTH" = fail ] && echo "built with --health fail" > "$R/usr/lib/atomboot-guest/health-fail"
cat > "$R/etc/os-release" <<EOF
NAME="atomboot guest"
ID=atomboot-guest
VERSION="$VERSION"
VERSION_ID=$VERSION
PRETTY_NAME="atomboot guest $VERSION"
EOF
cat > "$R/etc/fw_env.config" <<EOF
# U-Boot environment: a redundant pair of files on the FAT boot partition (mounted at /boot).
# file                   offset  env size  sector size
/boot/uboot.env          0x0     $ENV_SIZE    $ENV_SIZE
/boot/uboot-redund.env   0x0     $ENV_SIZE    $ENV_SIZE
EOF
echo "build-guest-os: version $VERSION (health $HEALTH), kernel $KVER -> $R"
ls -l "$R/usr/lib/modules/$KVER/vmlinuz" "$R/usr/lib/modules/$KVER/initramfs.img" "$R/usr/bin/atomboot" \
  | awk '{print "build-guest-os:   " $5 " bytes  " $NF}'
