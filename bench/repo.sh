#!/usr/bin/env bash
# Benchmark: atomboot's OSTree-compatible repository vs Debian's `ostree`, side by side in one run.
# Not a test. Times, for both tools:
#   commit archive, commit bare-user, a second commit of the same directory after ~1% of its files were
#   rewritten (archive; each tool first commits the unchanged directory itself, untimed, as a build does
#   between two releases), hardlink checkout (bare-user, -U -H), full pull and incremental pull over
#   loopback HTTP.
# Prints the median wall time of RUNS runs, the ratio atomboot/ostree, the peak RSS (max over runs),
# measured with /usr/bin/time, every run, and the size of each tool's archive objects.
# Trees (TREE_KIND): `minbase` (default): a Debian bookworm minbase made with debootstrap (cached);
# `debs`: a different shape, the contents of a few big Debian packages extracted with dpkg-deb (a kernel's
# thousands of small modules, LLVM's and GCC's big binaries, Python's and Perl's libraries), fetched with
# `apt-get download` from the configured Debian mirror (cached).
# HTTP is served by nginx on 127.0.0.1:$PORT.
# Usage: sudo bench/repo.sh        (env: RUNS=3, BENCH_CACHE=/var/tmp/atomboot-bench, SUITE=bookworm,
#                                    MIRROR=http://deb.debian.org/debian, TREE_KIND=minbase|debs,
#                                    TREE=<existing dir to use instead>)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
# Which scenarios to run (default: all, in this order).
SCENARIOS=${SCENARIOS:-"commit-archive commit-bare-user commit-1pct checkout-hardlink pull-full pull-incremental"}
CACHE=${BENCH_CACHE:-/var/tmp/atomboot-bench}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PORT=${PORT:-18555}

# shellcheck source=bench/lib.sh
. bench/lib.sh
need_pkg debootstrap
need_pkg time
need_pkg ostree
command -v nginx >/dev/null || need_pkg nginx-light
command -v curl >/dev/null || need_pkg curl

mkdir -p "$CACHE"
DEBS=${DEBS:-"linux-image-6.1.0-50-amd64 libllvm14 cpp-12 gcc-12 libpython3.11-stdlib perl-modules-5.36"}
if [ -n "${TREE:-}" ]; then
  ROOTFS=$TREE
elif [ "${TREE_KIND:-minbase}" = debs ]; then
  ROOTFS=$CACHE/debs-tree
  if [ ! -e "$ROOTFS/.complete" ]; then
    echo "bench: extracting $DEBS into $ROOTFS (once)" >&2
    rm -rf "$ROOTFS"; mkdir -p "$CACHE/debs" "$ROOTFS"
    # shellcheck disable=SC2086
    (cd "$CACHE/debs" && apt-get download $DEBS >/dev/null)
    for d in "$CACHE"/debs/*.deb; do dpkg-deb -x "$d" "$ROOTFS"; done
    touch "$ROOTFS/.complete"
  fi
else
  minbase_tree "$CACHE" "$SUITE" "$MIRROR"
  ROOTFS=$MINBASE
fi
SIZE=$(du -sm --exclude=.complete "$ROOTFS" | cut -f1)
NFILES=$(find "$ROOTFS" -type f | wc -l)

cargo build --release -q -p host-tools
AB=$PWD/target/release/atomboot
W=$(mktemp -d "$CACHE/run.XXXXXX")
# (No nginx pid file when the pull scenarios were not run: `kill 0` would signal this whole process group.)
trap '[ ! -s "$W/nginx/nginx.pid" ] || kill "$(cat "$W/nginx/nginx.pid")" 2>/dev/null || true; rm -rf "$W"' EXIT

# change_1pct DIR: rewrites ~1% of DIR's regular files (every 100th), each replaced by a longer copy.
change_1pct() {
  find "$1" -type f -size +0 ! -name .complete | awk 'NR % 100 == 0' | while read -r f; do
    cp --remove-destination "$f" "$f.tmp.bench" && echo "changed" >>"$f.tmp.bench" && mv "$f.tmp.bench" "$f"
  done
}
# Second tree (for the incremental pull): hardlink farm of the first with ~1% of regular files rewritten.
TREE2=$W/tree2
cp -al "$ROOTFS" "$TREE2"
change_1pct "$TREE2"
NCHANGED=$(find "$TREE2" -type f -size +0 ! -name .complete | awk 'NR % 100 == 0' | wc -l)

# run_timed OUTFILE CMD...  -> appends "seconds maxrss_kib" to OUTFILE
run_timed() {
  local out=$1; shift
  sync  # what the previous run left dirty is not written during this one
  /usr/bin/time -f "%e %M %U %S" -o "$W/t.tmp" "$@" >/dev/null 2>"$W/err.tmp" || { cat "$W/err.tmp" >&2; return 1; }
  cat "$W/t.tmp" >>"$out"
}

tool() { # tool NAME ARGS... (NAME ostree|atomboot)
  if [ "$1" = ostree ]; then shift; ostree "$@"; else shift; "$AB" "$@"; fi
}
# The binary behind a tool name (/usr/bin/time runs programs, not shell functions).
bin() { if [ "$1" = ostree ]; then command -v ostree; else echo "$AB"; fi; }

# Each scenario: prepare (untimed) then the timed command, RUNS times, tools interleaved. Nothing is deleted
# until the bench ends (see below).
scenario() { # scenario LABEL
  local label=$1
  mkdir -p "$W/trash"
  for i in $(seq "$RUNS"); do
    for t in ostree atomboot; do
      local d=$W/$t
      # The previous run's files are moved aside, not deleted: on ext4, files created after thousands
      # were deleted make the inode allocator skip each recently deleted inode (recently_deleted() in
      # ext4_new_inode: within 60 s of the deletion, 360 s while the inode table block is not yet
      # checkpointed, which a sync does not do). Measured 2026-12-01: a bare-user commit of the minbase
      # tree a minute after the archive scenario's repositories were deleted took 2.2-2.5 s (4.3 s of
      # CPU) instead of 0.7-0.9 s (1.1-1.4 s), ostree's 5.0-5.6 s instead of 2.2-3.6 s.
      [ ! -e "$d" ] || mv "$d" "$W/trash/$label-$t-$i"
      mkdir -p "$d"
      case $label in
        commit-archive)
          tool $t --repo="$d/r" init --mode=archive
          run_timed "$W/$label.$t" "$(bin $t)" --repo="$d/r" commit -b main -s one --timestamp=2024-01-01T00:00:00Z "$ROOTFS"
          du -sb "$d/r/objects" | cut -f1 >>"$W/objects-bytes.$t" ;;
        commit-bare-user)
          tool $t --repo="$d/r" init --mode=bare-user
          run_timed "$W/$label.$t" "$(bin $t)" --repo="$d/r" commit -b main -s one --timestamp=2024-01-01T00:00:00Z "$ROOTFS" ;;
        commit-1pct)
          # A build directory (hardlink farm: fresh inodes' ctimes are the copy's), committed once by the
          # tool itself, then 1% of it rewritten and committed again (timed). The pause keeps the farm's
          # files out of the stat cache's 2 s racy window, as a build tree is not rewritten in the 2 s
          # before a commit.
          # (ostree keeps no cache, so its first commit is skipped: base-archive already holds every
          # object, and the page cache is warm for both.)
          cp -a "$W/base-archive" "$d/r"
          cp -al "$ROOTFS" "$d/tree"
          if [ $t = atomboot ]; then
            sleep 2.1
            tool $t --repo="$d/r" commit -b main -s one --timestamp=2024-01-01T00:00:00Z "$d/tree" >/dev/null
          fi
          change_1pct "$d/tree"
          run_timed "$W/$label.$t" "$(bin $t)" --repo="$d/r" commit -b main -s two --timestamp=2024-01-02T00:00:00Z "$d/tree" ;;
        checkout-hardlink)
          run_timed "$W/$label.$t" "$(bin $t)" --repo="$W/base-bare-user" checkout -U -H main "$d/co" ;;
        pull-full)
          tool $t --repo="$d/r" init --mode=archive
          tool $t --repo="$d/r" remote add --no-gpg-verify origin "http://127.0.0.1:$PORT/served"
          run_timed "$W/$label.$t" "$(bin $t)" --repo="$d/r" pull origin main ;;
        pull-incremental)
          cp -a "$W/pulled-$t" "$d/r"
          run_timed "$W/$label.$t" "$(bin $t)" --repo="$d/r" pull origin main ;;
      esac
    done
  done
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

echo "bench: tree $ROOTFS: ${SIZE} MB, $NFILES files; $NCHANGED files changed for commit-1pct; RUNS=$RUNS" >&2

# Shared fixtures (made with ostree; both tools produce identical objects anyway).
ostree --repo="$W/base-archive" init --mode=archive
ostree --repo="$W/base-archive" commit -b main -s one --timestamp=2024-01-01T00:00:00Z "$ROOTFS" >/dev/null
ostree --repo="$W/base-bare-user" init --mode=bare-user
ostree --repo="$W/base-bare-user" commit -b main -s one --timestamp=2024-01-01T00:00:00Z "$ROOTFS" >/dev/null

has() { [[ " $SCENARIOS " == *" $1 "* ]]; }
for s in commit-archive commit-bare-user commit-1pct checkout-hardlink; do has $s && scenario $s; done

# HTTP: serve a copy of base-archive; pull-full; then add the 1% commit and pull incrementally.
if has pull-full || has pull-incremental; then
mkdir -p "$W/www"
cp -a "$W/base-archive" "$W/www/served"
# A static web server, as repositories are served in production (the issue's reference numbers used
# nginx). Not python's http.server: its listen backlog of 5 drops connection attempts when 8 fetchers
# open at once, and each drop costs the client a 1 s SYN retransmission: that measures the server.
mkdir -p "$W/nginx/tmp"
cat >"$W/nginx/nginx.conf" <<EOF
daemon on;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 2;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 512; }
http {
  access_log off;
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
EOF
nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" >"$W/nginx/start.log" 2>&1 || { cat "$W/nginx/start.log" >&2; exit 1; }
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/served/config" >/dev/null && break; sleep 0.1; done
scenario pull-full
for t in ostree atomboot; do
  rm -rf "$W/pulled-$t"
  tool $t --repo="$W/pulled-$t" init --mode=archive
  tool $t --repo="$W/pulled-$t" remote add --no-gpg-verify origin "http://127.0.0.1:$PORT/served"
  tool $t --repo="$W/pulled-$t" pull origin main >/dev/null
done
ostree --repo="$W/www/served" commit -b main -s two --timestamp=2024-01-02T00:00:00Z "$TREE2" >/dev/null
scenario pull-incremental
fi

printf '\n%-20s %12s %12s %8s %14s %14s\n' scenario "ostree s" "atomboot s" ratio "ostree MiB" "atomboot MiB"
for s in $SCENARIOS; do
  o=$(cut -d' ' -f1 "$W/$s.ostree" | median)
  a=$(cut -d' ' -f1 "$W/$s.atomboot" | median)
  orss=$(cut -d' ' -f2 "$W/$s.ostree" | sort -n | tail -1)
  arss=$(cut -d' ' -f2 "$W/$s.atomboot" | sort -n | tail -1)
  ratio=$(awk -v a="$a" -v o="$o" 'BEGIN { if (o > 0) printf "%.2f", a / o; else print "n/a" }')
  printf '%-20s %12s %12s %8s %14.1f %14.1f\n' "$s" "$o" "$a" "$ratio" "$(awk -v k="$orss" 'BEGIN{print k/1024}')" "$(awk -v k="$arss" 'BEGIN{print k/1024}')"
done
echo "(medians of $RUNS runs; ratio = atomboot/ostree, lower is better; RSS = max over runs; tree ${SIZE} MB, $NFILES files)"
has commit-archive && printf 'archive objects after commit-archive: ostree %s bytes, atomboot %s bytes (ratio %s)\n' \
  "$(median <"$W/objects-bytes.ostree")" "$(median <"$W/objects-bytes.atomboot")" \
  "$(awk -v a="$(median <"$W/objects-bytes.atomboot")" -v o="$(median <"$W/objects-bytes.ostree")" 'BEGIN { printf "%.3f", a / o }')"
echo
echo "every run (s), in the order they ran: wall (user+system CPU)"
runs() { awk '{ printf "%s (%.2f) ", $1, $3 + $4 }' "$1"; }
for s in $SCENARIOS; do
  printf '  %-20s ostree: %s  atomboot: %s\n' "$s" "$(runs "$W/$s.ostree")" "$(runs "$W/$s.atomboot")"
done
