#!/usr/bin/env bash
# Benchmark: static deltas, atomboot vs Debian's `ostree`, side by side in one run. Not a test.
# The bench tree of bench/repo.sh (Debian minbase via debootstrap, cached) is v1; v2 rewrites ~1% of its
# regular files (one line appended, as bench/repo.sh does). Both commits go into one archive repository
# (made with ostree; both tools produce identical objects). Then, for each tool, in its own hardlinked
# copy of that repository:
#   generate v1 -> v2 and from scratch (wall time, peak RSS, delta size = superblock + parts + fallback
#   objects as stored), `summary -u`, and, served by nginx, pull into a bare-user repository (ostree
#   applies deltas only there): v1 -> v2 and from scratch, each with deltas and without (the same
#   repository without deltas/ and with a summary listing none): wall time, CPU time (user + system) and
#   HTTP requests (nginx's access log). Each tool pulls the deltas it generated. Each pull goes into a
#   fresh copy of one v1 client repository (or a fresh empty one), synced before the clock starts; the
#   two tools are interleaved run by run (which one goes first alternates), against the same nginx.
#   Every run is printed as it is measured; the table gives medians and the ratio atomboot/ostree.
# Usage: sudo bench/delta.sh   (env: RUNS=5 (pull runs per tool and scenario), GEN_RUNS=1 (generation
#                               runs per tool), SCENARIOS="1pct-delta 1pct-objects scratch-delta
#                               scratch-objects" (the pulls to measure), BENCH_CACHE=/var/tmp/atomboot-bench,
#                               SUITE=bookworm, MIRROR=..., TREE=<existing dir>, PORT=18556)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
GEN_RUNS=${GEN_RUNS:-1}
SCENARIOS=${SCENARIOS:-1pct-delta 1pct-objects scratch-delta scratch-objects}
CACHE=${BENCH_CACHE:-/var/tmp/atomboot-bench}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PORT=${PORT:-18556}

# shellcheck source=bench/lib.sh
. bench/lib.sh
need_pkg debootstrap
need_pkg time
need_pkg ostree
command -v nginx >/dev/null || need_pkg nginx-light
command -v curl >/dev/null || need_pkg curl

mkdir -p "$CACHE"
if [ -n "${TREE:-}" ]; then
  ROOTFS=$TREE
else
  minbase_tree "$CACHE" "$SUITE" "$MIRROR"
  ROOTFS=$MINBASE
fi
SIZE=$(du -sm --exclude=.complete "$ROOTFS" | cut -f1)
NFILES=$(find "$ROOTFS" -type f | wc -l)

cargo build --release -q -p host-tools
AB=$PWD/target/release/atomboot
W=$(mktemp -d "$CACHE/delta.XXXXXX")
trap 'kill "$(cat "$W/nginx/nginx.pid" 2>/dev/null || echo 0)" 2>/dev/null || true; rm -rf "$W"' EXIT

# v2: a hardlink farm of v1 with ~1% of regular files rewritten (as bench/repo.sh's commit-1pct).
TREE2=$W/tree2
cp -al "$ROOTFS" "$TREE2"
find "$TREE2" -type f -size +0 | awk 'NR % 100 == 0' | while read -r f; do
  cp --remove-destination "$f" "$f.tmp.bench" && echo "changed" >>"$f.tmp.bench" && mv "$f.tmp.bench" "$f"
done
NCHANGED=$(find "$TREE2" -type f -size +0 | awk 'NR % 100 == 0' | wc -l)

base=$W/base
ostree --repo="$base" init --mode=archive
V1=$(ostree --repo="$base" commit -b main -s one --timestamp=2024-01-01T00:00:00Z "$ROOTFS")
V2=$(ostree --repo="$base" commit -b main -s two --timestamp=2024-01-02T00:00:00Z "$TREE2")

tool() { if [ "$1" = ostree ]; then shift; ostree "$@"; else shift; "$AB" "$@"; fi; }
bin() { if [ "$1" = ostree ]; then command -v ostree; else echo "$AB"; fi; }
# run_timed OUTFILE CMD... -> appends "wall_seconds maxrss_kib cpu_seconds" to OUTFILE (wall time to the
# millisecond; cpu = user + system, children included).
run_timed() {
  local out=$1 t0 t1; shift
  sync
  t0=$(date +%s%N)
  /usr/bin/time -f "%M %U %S" -o "$W/t.tmp" "$@" >/dev/null 2>"$W/err.tmp" || { cat "$W/err.tmp" >&2; return 1; }
  t1=$(date +%s%N)
  awk -v ns=$((t1 - t0)) '{ printf "%.3f %s %.2f\n", ns / 1e9, $1, $2 + $3 }' "$W/t.tmp" >>"$out"
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# delta_bytes REPO NAME: superblock + parts on disk + fallback objects as stored.
delta_bytes() {
  local repo=$1 name=$2 dir fb
  dir=$(dirname "$(find "$repo/deltas" -name superblock -newer "$W/stamp.$3" | head -1)")
  fb=$(ostree --repo="$repo" static-delta show "$name" | awk -F'[ :]+' '/^Total Fallback Size/ {print $4}')
  echo $(( $(du -cb "$dir"/* | tail -1 | cut -f1) + fb ))
}

mkdir -p "$W/www"
cp -a "$base" "$W/www/plain"  # no deltas: the object pull, for both tools
for t in ostree atomboot; do
  for i in $(seq "$GEN_RUNS"); do
    rm -rf "$W/www/$t"; mkdir -p "$W/www/$t"; cp -al "$base/." "$W/www/$t/"
    touch "$W/stamp.from"; sleep 1
    run_timed "$W/gen-1pct.$t" "$(bin $t)" --repo="$W/www/$t" static-delta generate --from="$V1" --to="$V2"
    echo "$(delta_bytes "$W/www/$t" "$V1-$V2" from)" >>"$W/size-1pct.$t"
    touch "$W/stamp.scratch"; sleep 1
    run_timed "$W/gen-scratch.$t" "$(bin $t)" --repo="$W/www/$t" static-delta generate --empty --to="$V2"
    echo "$(delta_bytes "$W/www/$t" "$V2" scratch)" >>"$W/size-scratch.$t"
  done
  tool $t --repo="$W/www/$t" summary -u
done
ostree --repo="$W/www/plain" summary -u

mkdir -p "$W/nginx/tmp"
cat >"$W/nginx/nginx.conf" <<NGINX
daemon on;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 2;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 512; }
http {
  access_log $W/nginx/access.log;
  sendfile on;
  client_body_temp_path $W/nginx/tmp;
  proxy_temp_path $W/nginx/tmp;
  fastcgi_temp_path $W/nginx/tmp;
  uwsgi_temp_path $W/nginx/tmp;
  scgi_temp_path $W/nginx/tmp;
  server {
    listen 127.0.0.1:$PORT;
    root $W/www;
  }
}
NGINX
nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" >"$W/nginx/start.log" 2>&1 || { cat "$W/nginx/start.log" >&2; exit 1; }
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/plain/config" >/dev/null && break; sleep 0.1; done

# The bare-user client holding v1 (copied locally, no network), made once; each pull gets a fresh copy.
ostree --repo="$W/client-v1" init --mode=bare-user
ostree --repo="$W/client-v1" pull-local "$base" "$V1" >/dev/null
ostree --repo="$W/client-v1" refs --create=origin:main "$V1"
pull_scenario() { # pull_scenario RUN TOOL SCENARIO(1pct-delta|1pct-objects|scratch-delta|scratch-objects)
  local i=$1 t=$2 sc=$3 c=$W/client served
  case $sc in *-delta) served=$t ;; *) served=plain ;; esac
  rm -rf "$c"
  case $sc in
    1pct-*) cp -a "$W/client-v1" "$c" ;;
    *) tool $t --repo="$c" init --mode=bare-user ;;
  esac
  tool $t --repo="$c" remote add --no-gpg-verify origin "http://127.0.0.1:$PORT/$served"
  : >"$W/nginx/access.log"
  run_timed "$W/pull-$sc.$t" "$(bin $t)" --repo="$c" pull origin main
  sleep 0.2
  wc -l <"$W/nginx/access.log" >>"$W/pull-$sc-req.$t"
  printf 'run %d %-16s %-8s %6.3f s wall %6.2f s cpu %4d requests\n' "$i" "$sc" "$t" \
    "$(tail -1 "$W/pull-$sc.$t" | cut -d' ' -f1)" "$(tail -1 "$W/pull-$sc.$t" | cut -d' ' -f3)" \
    "$(tail -1 "$W/pull-$sc-req.$t")"
  ostree --repo="$c" fsck >/dev/null
  [ "$(ostree --repo="$c" rev-parse origin:main)" = "$V2" ] || { echo "bench: $t $sc did not reach v2" >&2; exit 1; }
}
for i in $(seq "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then order="ostree atomboot"; else order="atomboot ostree"; fi
  for sc in $SCENARIOS; do
    for t in $order; do pull_scenario "$i" "$t" "$sc"; done
  done
done

echo
echo "bench: tree $ROOTFS: ${SIZE} MB, $NFILES files; v2 changes $NCHANGED files; RUNS=$RUNS GEN_RUNS=$GEN_RUNS; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-24s %14s %14s %8s\n' "" ostree atomboot ratio
row() { # row LABEL FILE-STEM [FIELD]: medians of FIELD (default 1) of both tools' files, when measured
  local o a f=${3:-1}
  [ -e "$W/$2.ostree" ] || return 0
  o=$(cut -d' ' -f"$f" "$W/$2.ostree" | median); a=$(cut -d' ' -f"$f" "$W/$2.atomboot" | median)
  printf '%-24s %14s %14s %8s\n' "$1" "$o" "$a" "$(awk -v a="$a" -v o="$o" 'BEGIN { if (o > 0) printf "%.2f", a / o; else print "n/a" }')"
}
row "delta size 1% (B)" size-1pct
row "delta size scratch (B)" size-scratch
row "generate 1% (s)" gen-1pct
row "generate scratch (s)" gen-scratch
row "pull 1% delta (s)" pull-1pct-delta
row "  cpu (s)" pull-1pct-delta 3
row "pull 1% objects (s)" pull-1pct-objects
row "  cpu (s)" pull-1pct-objects 3
row "pull scratch delta (s)" pull-scratch-delta
row "  cpu (s)" pull-scratch-delta 3
row "pull scratch objects (s)" pull-scratch-objects
row "  cpu (s)" pull-scratch-objects 3
row "requests 1% delta" pull-1pct-delta-req
row "requests 1% objects" pull-1pct-objects-req
row "requests scratch delta" pull-scratch-delta-req
row "requests scratch objects" pull-scratch-objects-req
echo "(pulls: medians of $RUNS runs, generation: of $GEN_RUNS; ratio = atomboot/ostree, lower is better; each tool pulls the deltas it generated)"
echo "peak RSS of generation (MiB): ostree 1% $(cut -d' ' -f2 "$W/gen-1pct.ostree" | sort -n | tail -1 | awk '{print $1/1024}')," \
  "atomboot 1% $(cut -d' ' -f2 "$W/gen-1pct.atomboot" | sort -n | tail -1 | awk '{print $1/1024}')," \
  "ostree scratch $(cut -d' ' -f2 "$W/gen-scratch.ostree" | sort -n | tail -1 | awk '{print $1/1024}')," \
  "atomboot scratch $(cut -d' ' -f2 "$W/gen-scratch.atomboot" | sort -n | tail -1 | awk '{print $1/1024}')"
