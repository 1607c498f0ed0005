#!/usr/bin/env bash
# Benchmark (not a test: it prints numbers and asserts no timing): time from U-Boot's start to "Starting kernel"
# under qemu-system-arm -M virt with Debian's U-Boot, three ways of booting the same kernel and initramfs:
#   agent: the real qemu-virt boot.scr + atomboot agent booting a real deployment (the guest OS of
#          scripts/build-guest-os.sh: Debian armhf kernel + initramfs, deployed by `atomboot admin image`),
#   stock: a plain boot script on the same disk that fatloads the same kernel and initramfs and runs bootz
#          with the same bootargs, no check at all,
#   fit:   U-Boot's own verified boot of the same bytes: one fatload of a FIT image (mkimage -f -E) holding the
#          same kernel (kernel_noload: it runs where it was loaded) and initramfs, each with a sha256 hash node,
#          and `bootm`, which checks both hashes before it boots ("Verifying Hash Integrity ... sha256+ OK";
#          the bench fails if a fit boot did not print it). This is the floor the boot-path issue names: stock's
#          time plus hashing the same bytes, at U-Boot's own SHA-256 speed, measured in the same QEMU process.
# All boot the same disk image in one QEMU process: U-Boot's bootcmd cycles through them (a counter in RAM),
# and the host resets the board through the QEMU monitor at each "Starting kernel"; one unmeasured warm-up
# round, then REPS of each. Times are taken on the host when the console lines arrive (bench/qemu_console.py,
# time.monotonic()): U-Boot start = arrival of the banner line "U-Boot 20...".
# The whole measurement runs in QEMU_RUNS separate QEMU processes per mode, because the guest's CPU speed
# differs from one QEMU process to the next (the same SHA-256 took 147 ms in one process and 208 ms in another;
# bench/agent-sha.sh sees the same): each process prints its medians and its ratios, then the median of those
# ratios and their range is the result (the method of bench/agent-sha.sh). Every ratio printed is measured.
# SD-card mode first: every byte U-Boot reads costs what it costs on an SD card (SD_BPS, default 10485760 =
# 10 MiB/s; 0 skips it): the disk is served over NBD by bench/sd_card.py, which delivers the reads at that
# speed (QEMU's own -drive ...,throttling.bps-read charges a request only after letting it through, so a
# single big read was free: it booted the fit kind's 7 MB in 281 ms). Then the same unthrottled
# (memory-speed reads hide every byte read too many). For each: medians, the ratios atomboot / stock, fit / stock and atomboot / fit, the bytes
# U-Boot read per boot (QEMU's
# `info blockstats` on the monitor) and where the agent's boot spends its time. Full logs in
# bench/out/boot-time/ (or $BENCH_OUT).
# SIGNED=1: the signed path instead: the agent built with --signed (the tests' vendor key,
# qemu-tests/assets/test-vendor.pub, or SIGN_KEY=PREFIX for PREFIX.secret/PREFIX.pub), the commit signed and
# given a kargs file (usr/lib/atomboot/kargs: panic=-1), so the agent checks the boot proof, hashes each file
# once by its OSTree content checksum and rebuilds the command line; it also prints the median time of the
# signature + chain walk.
# Usage: bench/boot-time.sh   (env: REPS=7, QEMU_RUNS=3, SD_BPS=10485760, BOOT_SIZE=64 (MiB), BENCH_OUT=bench/out/boot-time,
#                              SKIP_SETUP=1 skips scripts/setup.sh, AGENT=FILE boots that agent binary instead,
#                              SIGNED=1, SIGN_KEY=PREFIX, QEMU_ARGS="..." extra qemu-system-arm arguments: e.g.
#                              "-icount shift=0" makes the guest's clock count instructions, 1 ms = 1 M, so the
#                              agent's get_timer lines give instruction counts; host-clock times are then not
#                              comparable with a plain run)
set -euo pipefail
[ -z "${AGENT:-}" ] || AGENT=$(realpath -m "$AGENT")
[ -z "${BENCH_OUT:-}" ] || BENCH_OUT=$(realpath -m "$BENCH_OUT")
cd "$(dirname "$0")/.."
REPS=${REPS:-7}
QEMU_RUNS=${QEMU_RUNS:-3}
BOOT_SIZE=${BOOT_SIZE:-64}
SIGN_KEY=$(realpath -m "${SIGN_KEY:-qemu-tests/assets/test-vendor}")
. bench/lib.sh
bench_init boot-time
trap sd_card_stop EXIT
if ! cargo build --release --locked -p host-tools >>"$LOG" 2>&1; then
  # --locked never rewrites Cargo.lock; a workspace mid-edit may refuse it: then use the last build.
  [ -x target/release/atomboot ] || die "cargo build failed (see $LOG)"
  echo "boot-time: cargo build --locked failed (see $LOG); using the existing target/release/atomboot"
fi
A=$PWD/target/release/atomboot
if [ -n "${AGENT:-}" ]; then
  [ -f "$AGENT" ] || die "AGENT=$AGENT: no such file"
  echo "boot-time: using the agent $AGENT (AGENT=...)"
elif [ -n "${SIGNED:-}" ]; then
  bash scripts/build-agent.sh qemu-virt --signed "$SIGN_KEY.pub" >>"$LOG" 2>&1 || die "build-agent.sh --signed failed (see $LOG)"
  AGENT=$PWD/target/board/qemu-virt-signed/atomboot-agent.bin
else
  bash scripts/build-agent.sh qemu-virt >>"$LOG" 2>&1 || die "build-agent.sh failed (see $LOG)"
  AGENT=$PWD/target/board/qemu-virt/atomboot-agent.bin
fi
# The guest OS (as scripts/demo.sh builds it). Its armhf atomboot is built here with --locked (as above) and
# handed to build-guest-os.sh, so that no build of ours rewrites Cargo.lock.
GT=armv7-unknown-linux-gnueabihf
GBIN=$PWD/target/guest/$GT/release/atomboot
if ! CARGO_TARGET_DIR=$PWD/target/guest CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc \
     CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="-C target-feature=+crt-static" \
     cargo build --release --locked -p host-tools --bin atomboot --target $GT >>"$LOG" 2>&1; then
  [ -f "$GBIN" ] || die "cargo build of the guest's atomboot failed (see $LOG)"
  echo "boot-time: guest atomboot build --locked failed (see $LOG); using the existing $GBIN"
fi
bash scripts/fetch-guest.sh >>"$LOG" 2>&1 || die "fetch-guest.sh failed (see $LOG)"
ATOMBOOT_GUEST_BIN=$GBIN bash scripts/build-guest-os.sh 1 "$W/os" >>"$LOG" 2>&1 \
  || die "build-guest-os.sh failed (see $LOG)"

# The deployment: a factory disk image (marked good: no counter write on boot), board files from a copy of
# target/board/qemu-virt with the chosen agent.
BD=$W/board
mkdir -p "$BD"
cp target/board/qemu-virt/boot.scr target/board/qemu-virt/fw_env.config "$BD/"
cp "$AGENT" "$BD/atomboot-agent.bin"
KARGS=(--karg console=ttyAMA0 --karg panic=-1)
if [ -n "${SIGNED:-}" ]; then
  # Signed: panic=-1 comes from the commit's kargs file (the board allows only console= etc. unsigned).
  mkdir -p "$W/os/usr/lib/atomboot"; echo panic=-1 > "$W/os/usr/lib/atomboot/kargs"
  KARGS=(--karg console=ttyAMA0)
fi
"$A" --repo="$W/repo" init --mode=archive >>"$LOG" 2>&1
C=$("$A" --repo="$W/repo" commit -b bench/os -s "bench" "$W/os" 2>>"$LOG")
if [ -n "${SIGNED:-}" ]; then
  "$A" --repo="$W/repo" sign "$C" --keys-file="$SIGN_KEY.secret" >>"$LOG" 2>&1 || die "sign failed (see $LOG)"
fi
"$A" admin image --repo "$W/repo" --sysroot "$W/sysroot" --board qemu-virt --board-dir "$BD" \
  --boot-size "$BOOT_SIZE" --root-size 64 \
  "${KARGS[@]}" bench/os "$W/disk.img" >>"$LOG" 2>&1 \
  || die "admin image failed (see $LOG)"
# Partition 1 starts at 1 MiB (admin image). The stock script boots what the newest loader copy names, at the
# agent's load addresses (board/src/lib.rs QEMU_VIRT; the pflash env has no kernel_addr_r/ramdisk_addr_r).
P1="$W/disk.img@@1M"
UENV=$(for c in 0 1; do
         g=$(mtype -i "$P1" ::loader.$c/uEnv.txt 2>/dev/null | tr -d '\r' | sed -n 's/^atomboot_generation=//p')
         echo "${g:-0} $c"
       done | sort -n | tail -1 | cut -d' ' -f2)
mtype -i "$P1" "::loader.$UENV/uEnv.txt" | tr -d '\r' > "$W/uEnv.txt"
val() { sed -n "s|^$1=||p" "$W/uEnv.txt" | head -1; }
KERNEL=$(val kernel_image); RAMDISK=$(val ramdisk_image); BOOTARGS=$(val bootargs)
[ -n "$KERNEL" ] && [ -n "$RAMDISK" ] && [ -n "$BOOTARGS" ] || die "no kernel/ramdisk/bootargs in $W/uEnv.txt"
cat > "$W/boot-stock.cmd" <<EOF
echo stock: boot script (no verification)
setenv bootargs '$BOOTARGS'
fatload virtio 0:1 0x40400000 $KERNEL
fatload virtio 0:1 0x44000000 $RAMDISK
bootz 0x40400000 0x44000000:\${filesize} \${fdtcontroladdr}
echo stock: bootz failed
poweroff
EOF
mkimage -A arm -O linux -T script -C none -n "stock boot (bench)" -d "$W/boot-stock.cmd" "$W/boot-stock.scr" >>"$LOG"
mcopy -i "$P1" "$W/boot-stock.scr" ::boot-stock.scr
# U-Boot's own verified boot: the same kernel and initramfs in a FIT with sha256 hash nodes. External data
# (-E), 4 KiB aligned (-B), loaded at the stock ramdisk address: the kernel runs in place there (kernel_noload;
# it decompresses itself to the start of RAM, as stock's does), the initramfs follows it, and bootm verifies
# both hashes before it boots them with the same bootargs and fdt as stock.
need_pkg device-tree-compiler
need_pkg qemu-utils  # qemu-nbd, for bench/sd_card.py
mtype -i "$P1" "::$KERNEL" > "$W/fit-kernel"
mtype -i "$P1" "::$RAMDISK" > "$W/fit-ramdisk"
cat > "$W/boot.its" <<EOF
/dts-v1/;
/ {
  description = "atomboot bench: stock kernel + initramfs, verified by U-Boot";
  #address-cells = <1>;
  images {
    kernel-1 {
      data = /incbin/("$W/fit-kernel");
      type = "kernel_noload"; arch = "arm"; os = "linux"; compression = "none";
      load = <0>; entry = <0>;
      hash-1 { algo = "sha256"; };
    };
    ramdisk-1 {
      data = /incbin/("$W/fit-ramdisk");
      type = "ramdisk"; arch = "arm"; os = "linux"; compression = "none";
      hash-1 { algo = "sha256"; };
    };
  };
  configurations { default = "conf-1"; conf-1 { kernel = "kernel-1"; ramdisk = "ramdisk-1"; }; };
};
EOF
mkimage -E -B 0x1000 -f "$W/boot.its" "$W/boot.itb" >>"$LOG" 2>&1 || die "mkimage -f failed (see $LOG)"
mcopy -i "$P1" "$W/boot.itb" ::boot.itb
cat > "$W/boot-fit.cmd" <<EOF
echo fit: boot script, U-Boot verifies the sha256 hashes of the FIT
setenv bootargs '$BOOTARGS'
fatload virtio 0:1 0x44000000 boot.itb
bootm 0x44000000#conf-1 0x44000000:ramdisk-1 \${fdtcontroladdr}
echo fit: bootm failed
poweroff
EOF
mkimage -A arm -O linux -T script -C none -n "fit boot (bench)" -d "$W/boot-fit.cmd" "$W/boot-fit.scr" >>"$LOG"
mcopy -i "$P1" "$W/boot-fit.scr" ::boot-fit.scr
# Each QEMU process: the pflash bootcmd cycles through the agent's boot.scr, the stock script and the fit
# script by a counter kept in RAM (0x4f000000, outside every load region; RAM survives QEMU's system_reset
# and starts zeroed), and the host resets the board through the QEMU monitor each time "Starting kernel"
# appears. Hush expands a whole line before running it, so each step is its own variable.
cat > "$W/flash.txt" <<'ENV'
bootdelay=0
ab1=setexpr.l abn *0x4f000000
ab2=setexpr abn ${abn} + 1
ab3=mw.l 0x4f000000 ${abn}; setexpr abk ${abn} % 3
ab4=if test "${abk}" = "1"; then echo bench: boot agent; fatload virtio 0:1 0x40200000 boot.scr; elif test "${abk}" = "2"; then echo bench: boot stock; fatload virtio 0:1 0x40200000 boot-stock.scr; else echo bench: boot fit; fatload virtio 0:1 0x40200000 boot-fit.scr; fi
bootcmd=run ab1; run ab2; run ab3; run ab4; source 0x40200000
ENV
mkenvimage -s 0x40000 -o "$W/flash.img" "$W/flash.txt"; truncate -s 64M "$W/flash.img"
echo "boot-time: kernel $KERNEL ($(stat -c %s "$W/os/usr/lib/modules/"*/vmlinuz) bytes)," \
     "initramfs $(stat -c %s "$W/os/usr/lib/modules/"*/initramfs.img) bytes; boot partition $BOOT_SIZE MiB"

BOOTS=$((3 * REPS + 3))
# run_once DIR BPS: ONE QEMU process of $BOOTS boots cycling agent/stock/fit (BPS: read throttling, 0 = none);
# prints its medians, its ratio and the bytes U-Boot read per boot (QEMU's `info blockstats` at each
# "Starting kernel", differences between boots), and keeps them in DIR/results.txt.
run_once() {
  local d=$1 bps=$2
  mkdir -p "$d"
  qemu_virt_cmd "$bps"
  python3 bench/qemu_console.py "$d/console.log" --timeout $((60 * BOOTS)) --stop 'Starting kernel' \
      --monitor "$d/monitor.sock" --resets $((BOOTS - 1)) --blockstats -- \
    "${QEMU_VIRT[@]}" ${QEMU_ARGS:-} -monitor "unix:$d/monitor.sock,server=on,wait=off" \
    || die "the QEMU run failed or timed out (see $d/console.log)"
  python3 - "$d" "$BOOTS" <<'EOF' | tee "$d/results.txt"
import re, statistics, sys
sys.path.insert(0, "bench")
from qemu_console import Console
d, boots = sys.argv[1], int(sys.argv[2])
c = Console(d + "/console.log")
med = statistics.median
stats = [int(line.split()[1]) for line in open(d + "/console.log.blockstats")]
if len(stats) != boots:
    sys.exit("boot-time: %d blockstats for %d boots (see %s)" % (len(stats), boots, d))
read = [b - a for a, b in zip([0] + stats, stats)]
starts = [m.start() for m in re.finditer(r"^U-Boot 20", c.text, re.M)]
if len(starts) != boots:
    sys.exit("boot-time: %d U-Boot starts in one run, expected %d (see %s/console.log)" % (len(starts), boots, d))
KINDS = ("agent", "stock", "fit")
rows = {k: [] for k in KINDS}
script = {k: [] for k in KINDS}
nread = {k: [] for k in KINDS}
phases = []
calls = []
for n, s0 in enumerate(starts):
    end = starts[n + 1] if n + 1 < len(starts) else len(c.text)
    seg = c.text[s0:end]
    kind = re.search(r"^bench: boot (agent|stock|fit)", seg, re.M)
    k = re.search(r"^Starting kernel", seg, re.M)
    if not kind or not k:
        sys.exit("boot-time: boot %d did not reach 'Starting kernel' (see %s/console.log)" % (n + 1, d))
    if kind.group(1) == "fit" and not re.search(r"sha256\+ OK", seg):
        sys.exit("boot-time: fit boot %d: U-Boot did not verify the FIT's sha256 hashes (see %s/console.log)"
                 % (n + 1, d))
    if n < len(KINDS):
        continue  # warm-up round
    t0, t1 = c.time_at(s0), c.time_at(s0 + k.start())
    rows[kind.group(1)].append(t1 - t0)
    script[kind.group(1)].append(t1 - c.time_at(s0 + kind.start()))
    nread[kind.group(1)].append(read[n])
    if kind.group(1) == "agent":
        go = [c.time_at(s0 + m.start()) for m in re.finditer(r"^## Starting application", seg, re.M)]
        ret = [c.time_at(s0 + m.start()) for m in re.finditer(r"^## Application terminated", seg, re.M)]
        agent = sum(b - a for a, b in zip(go, ret))
        phases.append((go[0] - t0, agent, (t1 - t0) - (go[0] - t0) - agent))
        calls.append([b - a for a, b in zip(go, ret)])
ms = lambda x: 1000 * x
print("  U-Boot start -> 'Starting kernel', %d boots of each, in turn (ms); console: %s/console.log"
      % (len(rows["agent"]), d))
for kind in KINDS:
    xs = [ms(x) for x in rows[kind]]
    print("  %-6s median %5.0f   all: %s" % (kind, med(xs), " ".join("%d" % round(x) for x in xs)))
a, b, f = med(rows["agent"]), med(rows["stock"]), med(rows["fit"])
print("  ratio atomboot / stock: %.3f (agent %.0f ms, stock %.0f ms, difference %+.0f ms)" % (a / b, ms(a), ms(b), ms(a - b)))
print("  ratio fit / stock: %.3f (fit %.0f ms: U-Boot's own sha256 of the same bytes costs %+.0f ms)" % (f / b, ms(f), ms(f - b)))
print("  ratio atomboot / fit: %.3f (difference %+.0f ms)" % (a / f, ms(a - f)))
print("  the boot scripts alone ('bench: boot' line -> 'Starting kernel'), median: atomboot %.0f ms, stock %.0f ms,"
      " difference %+.0f ms" % (ms(med(script["agent"])), ms(med(script["stock"])),
                              ms(med(script["agent"]) - med(script["stock"]))))
ra, rs, rf = med(nread["agent"]), med(nread["stock"]), med(nread["fit"])
print("  bytes read per boot (QEMU info blockstats, median; boot.scr included): atomboot %d, stock %d,"
      " difference %+d; fit %d" % (ra, rs, ra - rs, rf))
print("  atomboot boot, median per phase (ms): start->first go %.0f, agent (decide + verify) %.0f,"
      " the rest (loading the entry's files, bootz) %.0f" % tuple(med([ms(p[i]) for p in phases]) for i in range(3)))
print("  agent calls, median (ms): decide %.0f, verify %.0f (host clock, console output included)"
      % (med([ms(x[0]) for x in calls]), med([ms(x[-1]) for x in calls])))
# The agent's own clock (U-Boot's get_timer) for its steps, skipping the warm-up boot.
for what, pat in (("signature + chain walk", r"chain to every boot file checked in (\d+) ms"),
                  ("hashing the kernel", r"^atomboot: verified \w+ kernel .* in (\d+) ms"),
                  ("hashing the ramdisk", r"^atomboot: verified \w+ ramdisk .* in (\d+) ms")):
    xs = [int(m.group(1)) for m in re.finditer(pat, c.text[starts[len(KINDS)]:], re.M)]
    if xs:
        print("  agent's %s (its get_timer, median of %d): %d ms" % (what, len(xs), med(xs)))
EOF
}

# measure LABEL BPS: QEMU_RUNS separate QEMU processes (run_once each), then the median of their ratios and
# the range, into $W/LABEL/results.txt.
measure() {
  local label=$1 bps=$2 d=$W/$1 run
  mkdir -p "$d"
  : > "$d/results.txt"
  [ "$bps" = 0 ] || sd_card_start "$bps"
  for run in $(seq 1 "$QEMU_RUNS"); do
    echo "boot-time: [$label] QEMU process $run of $QEMU_RUNS, $BOOTS boots cycling agent/stock/fit (first round =" \
         "warm-up), disk reads $( [ "$bps" = 0 ] && echo unthrottled || echo "paced to $bps bytes/s")" \
      | tee -a "$d/results.txt"
    run_once "$d/run-$run" "$bps" | tee -a "$d/results.txt"
  done
  sd_card_stop
  python3 - "$d/results.txt" "$label" <<'EOF' | tee -a "$d/results.txt"
import re, statistics, sys
text, label = open(sys.argv[1]).read(), sys.argv[2]
runs = [(float(r), float(a), float(s)) for r, a, s in
        re.findall(r"ratio atomboot / stock: ([\d.]+) \(agent (\d+) ms, stock (\d+) ms", text)]
med = statistics.median
for what in ("atomboot / stock", "fit / stock", "atomboot / fit"):
    ratios = [float(r) for r in re.findall(r"ratio %s: ([\d.]+)" % what, text)]
    print("boot-time [%s]: ratio %s per QEMU process: %s; median %.3f, range %.3f-%.3f"
          % (label, what, " ".join("%.3f" % r for r in ratios), med(ratios), min(ratios), max(ratios)))
fits = re.findall(r"ratio fit / stock: [\d.]+ \(fit (\d+) ms", text)
print("boot-time [%s]: medians per QEMU process (ms): atomboot %s; stock %s; fit %s"
      % (label, " ".join("%.0f" % a for _, a, _ in runs), " ".join("%.0f" % s for _, _, s in runs), " ".join(fits)))
EOF
}

SD_BPS=${SD_BPS-10485760}
if [ "$SD_BPS" != 0 ]; then measure sd-card "$SD_BPS"; fi
measure unthrottled 0
echo "boot-time: logs and results in $W"
