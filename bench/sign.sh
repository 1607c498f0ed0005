#!/usr/bin/env bash
# Benchmark: the cost of ed25519 signing and verification per commit, next to a pull. Not a test.
# Side by side in one run, median wall time of RUNS runs each (whole commands, process start included):
#   sign a commit (atomboot sign / ostree sign, the ostree built with libsodium by
#   scripts/setup-ostree-ed25519.sh), verify it (sign --verify), and an atomboot pull over file:// of a
#   commit of NFILES files into an empty bare-user repository with and without sign-verify (+ signed summary).
# Usage: bench/sign.sh     (env: RUNS=11, NFILES=2000)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-11}
NFILES=${NFILES:-2000}
OSTREE=/opt/ostree-ed25519/bin/ostree
[ -x "$OSTREE" ] || { echo "bench: $OSTREE missing: run scripts/setup-ostree-ed25519.sh" >&2; exit 1; }

cargo build --release -q -p host-tools
AB=$PWD/target/release/atomboot
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# A tree of NFILES files (1-16 KiB, deterministic content).
python3 - "$W/tree" "$NFILES" <<'PY'
import os, sys, hashlib
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "usr/lib/d%02d" % (i % 50))
    os.makedirs(d, exist_ok=True)
    seed = hashlib.sha256(str(i).encode()).digest()
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(seed * (32 * (1 + i % 16)))
PY
"$AB" sign-keygen "$W/key" >/dev/null
SK=$(cat "$W/key.secret"); PK=$(cat "$W/key.pub")
"$AB" --repo="$W/server" init --mode=archive
C=$("$AB" --repo="$W/server" commit -b os/stable "$W/tree")
"$AB" --repo="$W/server" summary -u --sign="$SK"
META="$W/server/objects/${C:0:2}/${C:2}.commitmeta"

ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "bench: failed: $*" >&2; exit 1; }; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1000}'; }
measure() { # name, setup-command, command...
  local name=$1 setup=$2; shift 2
  for _ in $(seq "$RUNS"); do eval "$setup"; ms "$@"; done | median
}

declare -A T
T[ab_sign]=$(measure "atomboot sign" 'rm -f "$META"' "$AB" --repo="$W/server" sign "$C" "$SK")
T[os_sign]=$(measure "ostree sign" 'rm -f "$META"' "$OSTREE" --repo="$W/server" sign "$C" "$SK")
T[ab_verify]=$(measure "atomboot verify" ':' "$AB" --repo="$W/server" sign --verify "$C" "$PK")
T[os_verify]=$(measure "ostree verify" ':' "$OSTREE" --repo="$W/server" sign --verify "$C" "$PK")
T[ab_revparse]=$(measure "atomboot rev-parse" ':' "$AB" --repo="$W/server" rev-parse os/stable)

pull_setup() { # $1: with signature checks or not
  rm -rf "$W/client"
  "$AB" --repo="$W/client" init --mode=bare-user
  if [ "$1" = signed ]; then
    "$AB" --repo="$W/client" remote add --sign-verify=ed25519=inline:"$PK" --set=sign-verify-summary=true origin "file://$W/server"
  else
    "$AB" --repo="$W/client" remote add --no-gpg-verify origin "file://$W/server"
  fi
}
T[pull_plain]=$(measure "pull" 'pull_setup plain' "$AB" --repo="$W/client" pull origin os/stable)
T[pull_signed]=$(measure "pull signed" 'pull_setup signed' "$AB" --repo="$W/client" pull origin os/stable)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "bench/sign.sh: median of $RUNS runs, ms (whole commands, process start included); commit of $NFILES files"
printf '%-44s %10s %10s %8s\n' "" atomboot ostree ratio
printf '%-44s %10s %10s %8s\n' "sign a commit (sign COMMIT KEY)" "${T[ab_sign]}" "${T[os_sign]}" "$(ratio "${T[ab_sign]}" "${T[os_sign]}")"
printf '%-44s %10s %10s %8s\n' "verify a commit (sign --verify COMMIT KEY)" "${T[ab_verify]}" "${T[os_verify]}" "$(ratio "${T[ab_verify]}" "${T[os_verify]}")"
printf '%-44s %10s\n' "atomboot rev-parse (process start + open)" "${T[ab_revparse]}"
printf '%-44s %10s\n' "pull, no signature checks" "${T[pull_plain]}"
printf '%-44s %10s\n' "pull, sign-verify + sign-verify-summary" "${T[pull_signed]}"
printf '%-44s %10s\n' "signed/unsigned pull" "$(ratio "${T[pull_signed]}" "${T[pull_plain]}")"
