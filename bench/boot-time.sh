#!/usr/bin/env bash
# Benchmark (not a test: it prints numbers and asserts no timing): time from U-Boot's start to "Starting kernel"
# under qemu-system-arm -M virt with Debian's U-Boot,
#   agent: the real qemu-virt boot.scr + atomboot agent booting a real deployment (the guest OS of
#          scripts/build-guest-os.sh: Debian armhf kernel + initramfs, deployed by `atomboot admin image`),
#   stock: a plain boot script on the same disk that fatloads the same kernel and initramfs and runs bootz
#          with the same bootargs, no check at all.
# Both boot the same disk image; the two kinds of QEMU run alternate (ABBA order), REPS of each after one
# unmeasured warm-up pair, so both see the same machine load. Times are taken on the host when the console
# lines arrive (bench/qemu_console.py, time.monotonic()); QEMU is stopped at "Starting kernel".
#   U-Boot start = arrival of the banner line "U-Boot 20..."; also shown: QEMU spawn -> "Starting kernel".
# Prints medians and the ratio agent / stock, and where the agent's boot spends its time. Full logs in
# bench/out/boot-time/ (or $BENCH_OUT).
# Usage: bench/boot-time.sh   (env: REPS=11, BENCH_OUT=bench/out/boot-time, SKIP_SETUP=1 skips scripts/setup.sh,
#                              AGENT=FILE boots that agent binary instead of building the tree's)
set -euo pipefail
[ -z "${AGENT:-}" ] || AGENT=$(realpath -m "$AGENT")
[ -z "${BENCH_OUT:-}" ] || BENCH_OUT=$(realpath -m "$BENCH_OUT")
cd "$(dirname "$0")/.."
REPS=${REPS:-11}
. bench/lib.sh
bench_init boot-time runs
if ! cargo build --release --locked -p host-tools >>"$LOG" 2>&1; then
  # --locked never rewrites Cargo.lock; a workspace mid-edit may refuse it: then use the last build.
  [ -x target/release/atomboot ] || die "cargo build failed (see $LOG)"
  echo "boot-time: cargo build --locked failed (see $LOG); using the existing target/release/atomboot"
fi
A=$PWD/target/release/atomboot
if [ -n "${AGENT:-}" ]; then
  [ -f "$AGENT" ] || die "AGENT=$AGENT: no such file"
  echo "boot-time: using the agent $AGENT (AGENT=...)"
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
"$A" --repo="$W/repo" init --mode=archive >>"$LOG" 2>&1
"$A" --repo="$W/repo" commit -b bench/os -s "bench" "$W/os" >>"$LOG" 2>&1
"$A" admin image --repo "$W/repo" --sysroot "$W/sysroot" --board qemu-virt --board-dir "$BD" --root-size 64 \
  --karg console=ttyAMA0 --karg panic=-1 bench/os "$W/disk.img" >>"$LOG" 2>&1 \
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
for kind in agent stock; do
  scr=boot.scr; [ $kind = stock ] && scr=boot-stock.scr
  printf 'bootdelay=0\nbootcmd=fatload virtio 0:1 0x40200000 %s; source 0x40200000\n' "$scr" > "$W/flash-$kind.txt"
  mkenvimage -s 0x40000 -o "$W/flash-$kind.img" "$W/flash-$kind.txt"; truncate -s 64M "$W/flash-$kind.img"
done
echo "boot-time: kernel $KERNEL ($(stat -c %s "$W/os/usr/lib/modules/"*/vmlinuz) bytes)," \
     "initramfs $(stat -c %s "$W/os/usr/lib/modules/"*/initramfs.img) bytes; boot partition 64 MiB"

run() { # run KIND NAME
  python3 bench/qemu_console.py "$W/runs/$2.log" --timeout 120 --stop 'Starting kernel' -- \
    qemu-system-arm -M virt -m 512 -nographic -no-reboot -net none \
      -bios /usr/lib/u-boot/qemu_arm/u-boot.bin -drive "if=pflash,unit=1,format=raw,file=$W/flash-$1.img" \
      -drive "if=none,format=raw,id=d0,file=$W/disk.img" -device virtio-blk-device,drive=d0 \
    || die "QEMU run $2 failed or timed out (see $W/runs/$2.log)"
  grep -q 'Starting kernel' "$W/runs/$2.log" || die "run $2 did not reach 'Starting kernel' (see $W/runs/$2.log)"
}
echo "boot-time: 1 warm-up pair + $REPS x (agent, stock), alternating ABBA; consoles in $W/runs/"
run agent warmup-agent; run stock warmup-stock
for i in $(seq 1 "$REPS"); do
  if [ $((i % 2)) = 1 ]; then run agent "agent-$i"; run stock "stock-$i"
  else run stock "stock-$i"; run agent "agent-$i"; fi
done

python3 - "$W" "$REPS" <<'EOF' | tee "$W/results.txt"
import statistics, sys
sys.path.insert(0, "bench")
from qemu_console import Console
w, reps = sys.argv[1], int(sys.argv[2])
med = statistics.median

def at(c, pattern, end=False, start=0):
    m = c.first(pattern, start)
    if not m:
        sys.exit("boot-time: no %r in a console log (see %s/runs)" % (pattern, w))
    return c.time_at(m.end() - 1 if end else m.start()), m

rows = {"agent": [], "stock": []}
phases = []
for kind in rows:
    for i in range(1, reps + 1):
        c = Console("%s/runs/%s-%d.log" % (w, kind, i))
        t_uboot, _ = at(c, r"^U-Boot 20")
        t_kernel, _ = at(c, r"^Starting kernel")
        rows[kind].append((t_uboot, t_kernel))
        if kind == "agent":
            t_script, _ = at(c, r"^## Executing script")
            t_read0, m = at(c, r"^virtio read: ")
            t_read1, _ = at(c, r"blocks read: OK", end=True, start=m.end())
            t_go, _ = at(c, r"^## Starting application")
            t_ret, _ = at(c, r"^## Application terminated")
            t_bootz, _ = at(c, r"^atomboot: bootz ")
            phases.append((t_script - t_uboot, t_read0 - t_script, t_read1 - t_read0, t_go - t_read1,
                           t_ret - t_go, t_bootz - t_ret, t_kernel - t_bootz))

ms = lambda x: 1000 * x
print("boot-time: U-Boot start -> 'Starting kernel', %d runs of each, alternating (ms)" % reps)
print("  %-42s %8s %8s   %s" % ("", "median", "ratio", "all runs"))
m = {}
for label, f in (("U-Boot banner -> Starting kernel", lambda r: r[1] - r[0]),
                 ("QEMU spawn -> Starting kernel", lambda r: r[1])):
    for kind in ("agent", "stock"):
        xs = [ms(f(r)) for r in rows[kind]]
        m[label, kind] = med(xs)
        ratio = "%8.2f" % (m[label, "agent"] / m[label, "stock"]) if kind == "stock" else " " * 8
        print("  %-42s %8.0f %s   %s" % ("%s: %s" % (kind, label), med(xs), ratio,
                                         " ".join("%d" % round(x) for x in xs)))
print("  ratio agent / stock (U-Boot banner -> Starting kernel): %.2f, difference %+.0f ms"
      % (m["U-Boot banner -> Starting kernel", "agent"] / m["U-Boot banner -> Starting kernel", "stock"],
         m["U-Boot banner -> Starting kernel", "agent"] - m["U-Boot banner -> Starting kernel", "stock"]))
names = ("banner->script", "script->virtio read", "virtio read 64 MiB", "agent fatload+setup",
         "go..return (agent)", "return->bootz", "bootz->Starting kernel")
print("  agent boot, median per phase (ms): " + ", ".join(
    "%s %.0f" % (n, med([ms(p[k]) for p in phases])) for k, n in enumerate(names)))
EOF
echo "boot-time: logs and results in $W"
