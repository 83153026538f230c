#!/usr/bin/env bash
# User-space instructions per cache miss, counted by valgrind's callgrind: stable however noisy the
# machine is, so two builds can be compared where wall-clock miss times cannot. Starts the shared
# harness's nginx origin on 127.0.0.1:18080, reelcache under callgrind, warms 200 pages, then counts
# 400 misses (the same pages in two other languages). Loopback only; ~1 minute.
# usage: bench/callgrind-miss.sh [BINARY]     (needs valgrind, nginx, curl, python3)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
SHARED=$(cd "$SHARED" && pwd)
export PATH=$PATH:/usr/sbin:/sbin
for c in valgrind callgrind_annotate nginx curl python3; do command -v $c >/dev/null || { echo "missing $c" >&2; exit 1; }; done
BIN=${1:-}
if [ -z "$BIN" ]; then cargo build --release -q; BIN=target/release/reelcache; fi
RUN=$(mktemp -d /tmp/rc-cgmiss.XXXXXX)
chmod 755 "$RUN"; mkdir -p "$RUN/logs"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] && cp "$RUN/cg.1" "$KEEP"; rm -rf "$RUN"' EXIT
python3 "$SHARED/gen_pages.py" "$RUN/pages" --pages 200 2>/dev/null
nginx -p "$RUN/" -c "$SHARED/nginx-origin.conf" -g 'daemon off;' >"$RUN/logs/nginx.out" 2>&1 & PIDS+=($!)
RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:18080/3 REELCACHE_CLIENT_RPS=0 REELCACHE_MAX_CONNECTIONS_PER_CLIENT=4096 \
  REELCACHE_TMDB_RPS=100000 REELCACHE_PREFETCH=false \
  valgrind --tool=callgrind --callgrind-out-file="$RUN/cg" "$BIN" serve --listen 127.0.0.1:18093 \
  --data-dir "$RUN/data" >"$RUN/stdout" 2>"$RUN/stderr" & VG=$!; PIDS+=($VG)
for _ in $(seq 600); do grep -q '^listening on' "$RUN/stdout" 2>/dev/null && break; sleep 0.1; done
urls() { for l in $1; do for n in $(seq 1 200); do
  printf 'url = "http://127.0.0.1:18093/api/movies/trending/?time_window=day&page=%d&language=%s"\noutput = "/dev/null"\n' "$n" "$l"
done; done; }
urls en-US > "$RUN/warm.cfg"; urls "fr-FR de-DE" > "$RUN/miss.cfg"
curl -s -K "$RUN/warm.cfg" >/dev/null
sleep 3   # let the warm pages' re-encoding finish before counting
callgrind_control -z $VG >/dev/null
curl -s -K "$RUN/miss.cfg" -w '%{http_code} %header{x-cache}\n' >"$RUN/codes"
callgrind_control -d $VG >/dev/null
misses=$(grep -c '^200 MISS' "$RUN/codes" || true)
total=$(callgrind_annotate "$RUN/cg.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "misses counted: $misses; user-space instructions per miss: $((total / misses))"
echo "(under valgrind a miss takes long enough for the server to be quiet between misses, so the"
echo " background LZ4-HC re-encoding of each page is counted too)"
