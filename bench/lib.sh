# Shared prelude of the benchmark scripts (sourced): output folder, build log, die, setup (the QEMU benches);
# packages and the cached Debian minbase tree (the repository benches).
# bench_init NAME SUBDIRS...: W = $BENCH_OUT or bench/out/NAME (cleared only if this tooling made it),
# LOG = $W/build.log; runs scripts/setup.sh unless SKIP_SETUP is set.
bench_init() {
  BENCH_NAME=$1; shift
  W=$(realpath -m "${BENCH_OUT:-bench/out/$BENCH_NAME}")
  # Only a folder this script made (marker .bench-out) or an empty one is cleared.
  if [ -e "$W" ] && [ ! -e "$W/.bench-out" ] && [ -n "$(ls -A "$W")" ]; then
    echo "$BENCH_NAME: $W is not empty and not a bench output folder: refusing to clear it" >&2; exit 1
  fi
  rm -rf "$W"; mkdir -p "$W"; touch "$W/.bench-out"
  for d in "$@"; do mkdir -p "$W/$d"; done
  LOG=$W/build.log
  echo "$BENCH_NAME: setup and build (log: $LOG)"
  if [ -z "${SKIP_SETUP:-}" ]; then bash scripts/setup.sh >>"$LOG" 2>&1 || die "scripts/setup.sh failed (see $LOG)"; fi
}
die() { printf '%s: %s\n' "${BENCH_NAME:-bench}" "$*" >&2; exit 1; }
# qemu_virt_cmd [BPS]: QEMU_VIRT = the qemu-system-arm command line the U-Boot benches share (Debian's
# U-Boot, the env in $W/flash.img, the disk $W/disk.img on virtio as d0); each bench appends its own options.
# BPS (bytes/s, not 0): the disk is the one sd_card_start serves at that speed (an SD card's: 10485760 =
# 10 MiB/s) instead of the file itself.
qemu_virt_cmd() {
  local disk="file=$W/disk.img"
  if [ -n "${1:-}" ] && [ "${1:-0}" != 0 ]; then
    disk="file.driver=nbd,file.server.type=unix,file.server.path=$W/sd-card.sock"
  fi
  QEMU_VIRT=(qemu-system-arm -M virt -m 512 -nographic -net none
    -bios /usr/lib/u-boot/qemu_arm/u-boot.bin -drive "if=pflash,unit=1,format=raw,file=$W/flash.img"
    -drive "if=none,format=raw,id=d0,$disk" -device virtio-blk-device,drive=d0)
}
# sd_card_start BPS: serves $W/disk.img on $W/sd-card.sock at BPS bytes/s of reads (bench/sd_card.py: every
# byte read costs 1/BPS s, which QEMU's own throttling does not give); sd_card_stop ends it.
sd_card_start() {
  python3 bench/sd_card.py "$W/disk.img" "$W/sd-card.sock" "$1" >"$W/sd-card.log" 2>&1 &
  SD_CARD_PID=$!
  local i
  for i in $(seq 100); do
    grep -q '^ready' "$W/sd-card.log" 2>/dev/null && return
    kill -0 "$SD_CARD_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$W/sd-card.log" >&2
  die "bench/sd_card.py did not start (see $W/sd-card.log)"
}
sd_card_stop() {
  [ -z "${SD_CARD_PID:-}" ] || { kill "$SD_CARD_PID" 2>/dev/null || true; wait "$SD_CARD_PID" 2>/dev/null || true; }
  SD_CARD_PID=
}
# need_pkg PKG: installs a Debian package a bench needs, when it is missing.
need_pkg() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep "install ok installed" >/dev/null && return
  echo "bench: installing $1" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null; }
}
# minbase_tree CACHE SUITE MIRROR: MINBASE = CACHE/SUITE-minbase, made once with debootstrap --variant=minbase.
# Device nodes, sockets and FIFOs cannot be committed (OSTree refuses them too): they are dropped.
minbase_tree() {
  MINBASE=$1/$2-minbase
  [ -e "$MINBASE/.complete" ] && return
  echo "bench: debootstrap --variant=minbase $2 into $MINBASE (once)" >&2
  rm -rf "$MINBASE"
  debootstrap --variant=minbase "$2" "$MINBASE" "$3" >"$1/debootstrap.log" 2>&1
  find "$MINBASE" \( -type b -o -type c -o -type s -o -type p \) -delete
  touch "$MINBASE/.complete"
}
