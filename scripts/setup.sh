#!/usr/bin/env bash
# Installs everything atomboot needs on a fresh Debian 12 machine (run as root).
# Idempotent: fast when everything is already present.
# Checks on a command's output use `grep PATTERN >/dev/null`, not `grep -q`: grep -q stops reading at the
# first match, the command then dies of SIGPIPE, and with pipefail the check fails (a cached ostree build was
# redone this way).
set -euo pipefail

APT_PKGS=(qemu-system-arm u-boot-qemu ostree u-boot-tools libubootenv-tool mtools dosfstools
          e2fsprogs fdisk device-tree-compiler llvm python3 xz-utils cpio ca-certificates gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
          nginx-light netcat-openbsd python3-nacl python3-gi)  # nginx: serving tests; nc: QEMU guestfwd; PyNaCl + GLib: signature checks

# The guest OS (qemu-tests/guest, scripts/fetch-guest.sh) uses Debian's armhf kernel and busybox-static.
if ! dpkg --print-foreign-architectures | grep -x armhf >/dev/null; then
  echo "setup: adding the armhf architecture"
  dpkg --add-architecture armhf
  NEED_UPDATE=1
fi

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] || [ -n "${NEED_UPDATE:-}" ]; then
  export DEBIAN_FRONTEND=noninteractive
  # The armhf security index can fail to update while the mirror syncs (QEMU.md): main is enough.
  apt-get update -qq || echo "setup: apt-get update reported errors (continuing)" >&2
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v rustup >/dev/null 2>&1; then
  echo "setup: rustup is required (the machine's Rust toolchain)" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep '^clippy' >/dev/null || rustup component add clippy rustfmt
rustup target list --installed | grep '^armv7a-none-eabi$' >/dev/null || rustup target add armv7a-none-eabi
# The atomboot CLI inside the guest: armv7-unknown-linux-gnueabihf, linked statically (+crt-static) by
# Debian's arm-linux-gnueabihf-gcc (the musl target's rust-std is not downloadable from this machine).
rustup target list --installed | grep '^armv7-unknown-linux-gnueabihf$' >/dev/null \
  || rustup target add armv7-unknown-linux-gnueabihf
rustup toolchain list | grep '^nightly' >/dev/null || rustup toolchain install nightly --profile minimal
rustup component list --installed --toolchain nightly 2>/dev/null | grep '^rust-src' >/dev/null \
  || rustup component add rust-src --toolchain nightly
# fmt and clippy of the U-Boot application (.ci/run) run on nightly (build-std).
rustup component list --installed --toolchain nightly 2>/dev/null | grep '^clippy' >/dev/null \
  || rustup component add clippy rustfmt --toolchain nightly
# The fuzz targets (fuzz/): cargo-fuzz; the tests replay their seeds (fuzz/replay.sh).
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2
# The signing interop tests (host-tools/tests/sign_interop.rs) need an ostree with ed25519, which Debian's
# is not: built once from Debian's source package into /opt/ostree-ed25519 (cached; a no-op when present).
bash "$(dirname "$0")/setup-ostree-ed25519.sh"
echo "setup: ok"
