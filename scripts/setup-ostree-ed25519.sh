#!/usr/bin/env bash
# Builds the referee ostree for the signing tests: Debian's own ostree source package (the version apt has,
# 2022.7 on bookworm) configured with --with-ed25519-libsodium, installed into /opt/ostree-ed25519.
# Debian's binary ostree is built without ed25519 ("Requested signature type is not implemented"), so the
# interop tests (host-tools/tests/sign_interop.rs) need this one. Run as root; called from scripts/setup.sh.
# Idempotent and cached: does nothing when /opt/ostree-ed25519/bin/ostree already reports sign-ed25519.
set -euo pipefail

PREFIX=/opt/ostree-ed25519
CACHE=/var/cache/atomboot/ostree-ed25519
SRC_LIST=/etc/apt/sources.list.d/atomboot-deb-src.sources

if "$PREFIX/bin/ostree" --version 2>/dev/null | grep 'sign-ed25519' >/dev/null; then
  exit 0
fi

echo "setup-ostree-ed25519: building ostree with ed25519 (libsodium) into $PREFIX"
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive

# `apt-get source` needs a deb-src entry for the mirror apt already uses for binaries.
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  . /etc/os-release
  uri=$(grep -rhsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  [ -n "$uri" ] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  [ -n "$uri" ] || { echo "setup-ostree-ed25519: no Debian mirror found in /etc/apt/sources.list(.d)" >&2; exit 1; }
  cat >"$SRC_LIST" <<EOF
Types: deb-src
URIs: $uri
Suites: $VERSION_CODENAME
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -qq || echo "setup-ostree-ed25519: apt-get update reported errors (continuing)" >&2
fi

BUILD_DEPS=(build-essential pkg-config bison dpkg-dev liblzma-dev zlib1g-dev libext2fs-dev libcurl4-openssl-dev
            libsodium-dev libglib2.0-dev-bin libffi-dev)
missing=()
for p in "${BUILD_DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$CACHE"
# GLib's headers: libglib2.0-dev when apt can install it. On an image whose libpcre2-8-0 is newer than any
# libpcre2-dev the mirror has (bookworm images with 10.42-1+deb12u1), apt cannot, and a downgrade of a system
# library is not ours to make: then the two -dev packages are unpacked into $CACHE/sysroot (not registered
# with dpkg), their .pc files point there, and the build links against the installed runtime libraries.
if ! dpkg-query -W -f='${Status}' libglib2.0-dev 2>/dev/null | grep -q "install ok installed" \
   && ! apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends libglib2.0-dev >/dev/null 2>&1; then
  sys="$CACHE/sysroot"
  multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
  lib="$sys/usr/lib/$multiarch"
  if [ ! -f "$lib/pkgconfig/gio-unix-2.0.pc" ]; then
    rm -rf "$sys" "$CACHE/debs" && mkdir -p "$sys" "$CACHE/debs"
    (cd "$CACHE/debs" && apt-get download -qq libglib2.0-dev libpcre2-dev 2>/dev/null)
    for deb in "$CACHE"/debs/*.deb; do dpkg-deb -x "$deb" "$sys"; done
    sed -i "s|^includedir=.*|includedir=$sys/usr/include|; s|^libdir=.*|libdir=$lib|; /^Requires.private:/d" \
      "$lib"/pkgconfig/*.pc
    for so in "$lib"/*.so; do
      real="/usr/lib/$multiarch/$(basename "$(readlink "$so")")"
      [ -e "$real" ] || real="/usr/lib/$multiarch/$(basename "$so").0"
      ln -sfn "$real" "$so"
    done
  fi
  export PKG_CONFIG_PATH="$lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
fi

cd "$CACHE"
# The upstream release tarball that Debian's source package carries (ostree_VERSION.orig.tar.xz), unpacked
# as released: Debian's patches touch the build files, and a patched tree wants automake to rebuild.
if [ ! -f "$CACHE/src/configure" ]; then
  ls ostree_*.orig.tar.* >/dev/null 2>&1 || apt-get source -qq --download-only ostree >/dev/null
  rm -rf "$CACHE/src" && mkdir -p "$CACHE/src"
  tar -xf ostree_*.orig.tar.* -C "$CACHE/src" --strip-components=1
fi
cd "$CACHE/src"
# The upstream release tarball ships a generated configure: no autotools needed.
# Only what the referee needs: ed25519 via libsodium, pull over curl; no GPG, FUSE, docs or introspection.
./configure -q --prefix="$PREFIX" --with-ed25519-libsodium --with-curl --without-soup --without-gpgme \
  --without-libarchive --without-selinux --without-libmount --without-libsystemd --without-avahi \
  --disable-rofiles-fuse --disable-man --disable-gtk-doc --disable-introspection \
  --with-dracut=no --with-mkinitcpio=no >/dev/null
make -s -j"$(nproc)" >/dev/null 2>build-warnings.log
make -s install >/dev/null
"$PREFIX/bin/ostree" --version | grep 'sign-ed25519' >/dev/null \
  || { echo "setup-ostree-ed25519: the built ostree lacks sign-ed25519" >&2; exit 1; }
echo "setup-ostree-ed25519: done in $(( $(date +%s) - start )) s"
