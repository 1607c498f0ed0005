#!/usr/bin/env bash
# Benchmark (not a test: it prints numbers and asserts no timing): the agent's verification of a 16 MiB kernel
# vs U-Boot's own SHA-256 of the same 16 MiB, both in ONE QEMU run (Debian's U-Boot, qemu-system-arm -M virt),
# alternating, REPS times each.
#   agent:  a disk made by `atomboot admin image` from a commit whose only boot file is a 16 MiB random
#           vmlinuz; a bench boot script runs board/qemu-virt/boot.cmd's steps up to the kernel's fatload,
#           then `go ... verify` REPS times (never bootz): the agent hashes the kernel where it was loaded. The agent's own line "verified primary kernel ... in X ms"
#           (U-Boot's get_timer) is the number; the same interval is also taken on the host (arrival of the
#           line before it to arrival of that line).
#   U-Boot: a FIT (mkimage -f) holding the same 16 MiB with a hash-1 sha256 node, fatloaded into RAM,
#           checked by `iminfo` (this U-Boot has no hash/time/timer command). Timed on the host: iminfo prints
#           "sha256" right before hashing and "+" right after, so the interval between their arrivals is the
#           hash alone. U-Boot's fatload of that FIT ("bytes read in X ms") is shown for context.
# Both hash in place. Prints, for each QEMU run, the medians and the ratio agent / U-Boot of that run (the
# project's target is <= 1.0), then the median and range of those ratios. The
# whole measurement is repeated in QEMU_RUNS separate QEMU runs because the times of both sides shift from
# one QEMU process to the next (U-Boot's iminfo took 196 ms in one run and 310 ms in the next, steady within
# each run), so a single run's ratio can be far off. Full logs in bench/out/agent-sha/ (or $BENCH_OUT).
# Usage: bench/agent-sha.sh   (env: REPS=9, QEMU_RUNS=3, BENCH_OUT=bench/out/agent-sha, SKIP_SETUP=1 skips
#                              scripts/setup.sh, AGENT=FILE benchmarks that agent binary instead of the tree's)
set -euo pipefail
[ -z "${AGENT:-}" ] || AGENT=$(realpath -m "$AGENT")
[ -z "${BENCH_OUT:-}" ] || BENCH_OUT=$(realpath -m "$BENCH_OUT")
cd "$(dirname "$0")/.."
REPS=${REPS:-9}
QEMU_RUNS=${QEMU_RUNS:-3}
. bench/lib.sh
bench_init agent-sha
# mkimage -f runs dtc, which scripts/setup.sh does not install.
if ! command -v dtc >/dev/null; then
  echo "agent-sha: installing device-tree-compiler (for mkimage -f)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends device-tree-compiler >>"$LOG" 2>&1 \
    || { apt-get update -qq >>"$LOG" 2>&1 || true
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends device-tree-compiler >>"$LOG" 2>&1; } \
    || die "cannot install device-tree-compiler"
fi
if ! cargo build --release --locked -p host-tools >>"$LOG" 2>&1; then
  # --locked never rewrites Cargo.lock; a workspace mid-edit may refuse it: then use the last build.
  [ -x target/release/atomboot ] || die "cargo build failed (see $LOG)"
  echo "agent-sha: cargo build --locked failed (see $LOG); using the existing target/release/atomboot"
fi
if [ -n "${AGENT:-}" ]; then
  [ -f "$AGENT" ] || die "AGENT=$AGENT: no such file"
  echo "agent-sha: using the agent $AGENT (AGENT=...)"
else
  bash scripts/build-agent.sh qemu-virt >>"$LOG" 2>&1 || die "build-agent.sh failed (see $LOG)"
  AGENT=$PWD/target/board/qemu-virt/atomboot-agent.bin
fi
A=$PWD/target/release/atomboot

# The OS tree: only a kernel, 16 MiB of random bytes (the agent only hashes it; nothing boots it).
KDIR=$W/tree/usr/lib/modules/6.1.0-bench
mkdir -p "$KDIR"
head -c $((16 << 20)) /dev/urandom > "$KDIR/vmlinuz"
"$A" --repo="$W/repo" init --mode=archive >>"$LOG" 2>&1
"$A" --repo="$W/repo" commit -b bench/sha "$W/tree" >>"$LOG" 2>&1

# The same bytes as a FIT image with a sha256 hash node.
cat > "$W/sha.its" <<EOF
/dts-v1/;
/ {
  description = "atomboot bench: 16 MiB for U-Boot's SHA-256";
  #address-cells = <1>;
  images {
    kernel-1 {
      description = "16 MiB random";
      data = /incbin/("$KDIR/vmlinuz");
      type = "kernel"; arch = "arm"; os = "linux"; compression = "none";
      load = <0x40400000>; entry = <0x40400000>;
      hash-1 { algo = "sha256"; };
    };
  };
  configurations { default = "conf-1"; conf-1 { kernel = "kernel-1"; }; };
};
EOF
BD=$W/board
mkdir -p "$BD"
mkimage -f "$W/sha.its" "$BD/sha.itb" >>"$LOG" 2>&1 || die "mkimage -f failed (see $LOG)"
cp "$AGENT" "$BD/atomboot-agent.bin"

# The bench boot script: board/qemu-virt/boot.cmd's steps (small files, go workaround, `go decide`, the
# bounded fatload of the kernel it names), then REPS rounds of {agent `go verify` of the kernel in place,
# U-Boot}, unrolled (FIT at 0x50000000: clear of every load region, below U-Boot).
{
  echo 'echo bench: agent-sha script'
  grep -E '^(setenv atomboot_|fatload|if fatload|setexpr|mw.l)' board/qemu-virt/boot.cmd
  echo 'go 0x48000000 decide'
  echo 'if fatload virtio 0:1 ${atomboot_kernel_addr} ${atomboot_kernel_file} ${atomboot_kernel_max}; then setenv atomboot_kernel_bytes ${filesize}; fi'
  for i in $(seq 1 "$REPS"); do
    echo "echo bench: rep $i agent"
    echo 'go 0x48000000 verify'
    echo "echo bench: rep $i uboot"
    echo 'fatload virtio 0:1 0x50000000 sha.itb'
    echo 'iminfo 0x50000000'
  done
  echo 'echo bench: done'
  echo 'poweroff'
} > "$W/bench.cmd"
mkimage -A arm -O linux -T script -C none -n "atomboot bench agent-sha" -d "$W/bench.cmd" "$BD/boot.scr" >>"$LOG"

"$A" admin image --repo "$W/repo" --sysroot "$W/sysroot" --board qemu-virt --board-dir "$BD" \
  --boot-size 64 --root-size 64 bench/sha "$W/disk.img" >>"$LOG" 2>&1 || die "admin image failed (see $LOG)"
printf 'bootdelay=0\nbootcmd=fatload virtio 0:1 0x40200000 boot.scr; source 0x40200000\n' > "$W/flash.txt"
mkenvimage -s 0x40000 -o "$W/flash.img" "$W/flash.txt"; truncate -s 64M "$W/flash.img"

qemu_virt_cmd
: > "$W/results.txt"
for run in $(seq 1 "$QEMU_RUNS"); do
CONSOLE=$W/console-$run.log
echo "agent-sha: QEMU run $run of $QEMU_RUNS, $REPS x (agent verify, U-Boot iminfo); console: $CONSOLE"
python3 bench/qemu_console.py "$CONSOLE" --timeout 600 -- "${QEMU_VIRT[@]}" -no-reboot \
  || die "QEMU failed or timed out (see $CONSOLE)"

python3 - "$CONSOLE" "$REPS" <<'EOF' | tee -a "$W/results.txt"
import re, statistics, sys
sys.path.insert(0, "bench")
from qemu_console import Console
console, reps = sys.argv[1], int(sys.argv[2])
c = Console(console)
if not c.first(r"^bench: done"):
    sys.exit("agent-sha: the bench script did not finish (see %s)" % console)
agent, agent_host, ub_hash, ub_load = [], [], [], []
for i in range(1, reps + 1):
    a = c.first(r"^bench: rep %d agent$" % i)
    u = c.first(r"^bench: rep %d uboot$" % i)
    v = c.first(r"^atomboot: verified primary kernel \S+ (\d+) bytes sha256 ok in (\d+) ms$", a.end())
    if not v or v.start() > u.start():
        sys.exit("agent-sha: rep %d: no 'verified primary kernel' line (see %s)" % (i, console))
    assert int(v.group(1)) == 16 << 20
    agent.append(int(v.group(2)))
    # host: the line before "verified" (the agent's banner) arrived -> the "verified" line arrived
    agent_host.append(1000 * (c.time_at(v.start()) - c.time_at(v.start() - 1)))
    l = c.first(r"^(\d+) bytes read in (\d+) ms", u.end())
    s = c.first(r"Hash\(es\) for Image \d+ \(kernel-1\): sha256(.)", u.end())
    if not s or s.group(1) != "+":
        sys.exit("agent-sha: rep %d: iminfo did not verify the sha256 (see %s)" % (i, console))
    ub_load.append(int(l.group(2)))
    ub_hash.append(1000 * (c.time_at(s.start(1)) - c.time_at(s.start(1) - 1)))
med = statistics.median
fmt = lambda xs: " ".join("%d" % round(x) for x in xs)
print("agent-sha: SHA-256 of 16 MiB inside QEMU, %d repetitions each, one QEMU run: %s (ms)" % (reps, console))
print("  %-44s %8s   %s" % ("", "median", "all runs"))
print("  %-44s %8.0f   %s" % ("agent verify in place (its own get_timer line)", med(agent), fmt(agent)))
print("  %-44s %8.0f   %s" % ("agent verify in place (host, line arrivals)", med(agent_host), fmt(agent_host)))
print("  %-44s %8.0f   %s" % ("U-Boot iminfo sha256 (host, 'sha256'..'+')", med(ub_hash), fmt(ub_hash)))
print("  %-44s %8.0f   %s" % ("U-Boot fatload of the FIT (its own line)", med(ub_load), fmt(ub_load)))
print("  ratio agent / U-Boot sha256: %.2f (agent's line), %.2f (host timing); target <= 1.0"
      % (med(agent) / med(ub_hash), med(agent_host) / med(ub_hash)))
EOF
done
python3 - "$W/results.txt" <<'EOF' | tee -a "$W/results.txt"
import re, statistics, sys
text = open(sys.argv[1]).read()
ratios = [float(m) for m in re.findall(r"ratio agent / U-Boot sha256: ([\d.]+) \(agent's line\)", text)]
print("agent-sha: ratio agent / U-Boot per QEMU run (agent's line): %s; median %.2f, range %.2f-%.2f;"
      " target <= 1.0" % (" ".join("%.2f" % r for r in ratios), statistics.median(ratios), min(ratios),
                          max(ratios)))
EOF
echo "agent-sha: logs and results in $W"
