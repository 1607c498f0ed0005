#!/usr/bin/env bash
# The main job: the most complete real atomboot flow that exists, with short readable output.
# Full logs go to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
out=demo-out; rm -rf "$out"; mkdir -p "$out"
log="$out/demo.log"
step() { printf '\n== %s\n' "$*"; }

step "build atomboot"
cargo build --release --locked -p host-tools >>"$log" 2>&1
atomboot=target/release/atomboot

step "a boot partition's redundant U-Boot environment pair, made by U-Boot's own mkenvimage"
printf 'bootlimit=3\nbootcount=0\nupgrade_available=0\n' > "$out/defaults.txt"
mkenvimage -s 0x4000 -r -o "$out/uboot.env" "$out/defaults.txt"
cp "$out/uboot.env" "$out/uboot-redund.env"
printf '%s 0x0 0x4000\n%s 0x0 0x4000\n' "$PWD/$out/uboot.env" "$PWD/$out/uboot-redund.env" > "$out/fw_env.config"
"$atomboot" env print -c "$out/fw_env.config"

step "deploy sets the counters in one write (bootcount=0 upgrade_available=1)"
"$atomboot" env set -c "$out/fw_env.config" bootcount=0 upgrade_available=1
echo "fw_printenv (libubootenv) reads: $(fw_printenv -c "$out/fw_env.config" | tr '\n' ' ')"

step "power cut: the copy in use is torn; the other copy still holds the previous values"
in_use=$(python3 -c "import sys;a=open(sys.argv[1],'rb').read(5)[4];b=open(sys.argv[2],'rb').read(5)[4];print(sys.argv[2] if b==(a+1)%256 else sys.argv[1])" "$out/uboot.env" "$out/uboot-redund.env")
printf 'garbage' | dd of="$in_use" bs=1 seek=100 conv=notrunc status=none
"$atomboot" env print -c "$out/fw_env.config" 2>&1 | sed 's/^/  /'

step "the next write (mark-good) goes to the torn copy and repairs it"
"$atomboot" env set -c "$out/fw_env.config" bootcount=0 upgrade_available=0
echo "fw_printenv reads: $(fw_printenv -c "$out/fw_env.config" | tr '\n' ' ')"

step "both copies torn: a clear error, nothing written"
for f in "$out/uboot.env" "$out/uboot-redund.env"; do printf 'x' | dd of="$f" bs=1 seek=50 conv=notrunc status=none; done
if "$atomboot" env set -c "$out/fw_env.config" bootcount=1 2>"$out/err.txt"; then echo "unexpected success"; exit 1; fi
sed 's/^/  /' "$out/err.txt"
printf '\ndemo done; logs in %s\n' "$out"
