#!/usr/bin/env bash
# User-space instructions per cache miss and per hit, counted by valgrind's callgrind: stable
# however noisy the machine is, so two builds can be compared where wall-clock times cannot.
# Starts the shared harness's nginx origin on 127.0.0.1:18080 and reelcache under callgrind,
# warms 200 pages, then counts 400 misses (the same pages in two other languages) and 400 hits
# (the warmed pages, twice each: the hot tier's, through the fast path), and prints the functions
# that cost the most in each, inclusive of what they call. Loopback only; ~2 minutes.
# usage: bench/callgrind.sh [BINARY]     (needs valgrind, nginx, curl, python3)
#        KEEP=DIR keeps the two callgrind files (miss.cg, hit.cg) for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
SHARED=$(cd "$SHARED" && pwd)
export PATH=$PATH:/usr/sbin:/sbin
for c in valgrind callgrind_annotate callgrind_control nginx curl python3; do
  command -v $c >/dev/null || { echo "missing $c" >&2; exit 1; }
done
BIN=${1:-}
if [ -z "$BIN" ]; then cargo build --release -q; BIN=target/release/reelcache; fi
RUN=$(mktemp -d /tmp/rc-cg.XXXXXX)
chmod 755 "$RUN"; mkdir -p "$RUN/logs"
PIDS=()
finish() {
  for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$RUN"/miss.cg "$RUN"/hit.cg "$KEEP"/ 2>/dev/null || true; fi
  [ -n "${KEEP_RUN:-}" ] || rm -rf "$RUN"
}
trap finish EXIT
python3 "$SHARED/gen_pages.py" "$RUN/pages" --pages 200 2>/dev/null
nginx -p "$RUN/" -c "$SHARED/nginx-origin.conf" -g 'daemon off;' >"$RUN/logs/nginx.out" 2>&1 & PIDS+=($!)
# The upstream budget raised (its default 40 req/s would make misses wait); prefetch off, so
# that each miss is one request's work.
RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:18080/3 REELCACHE_CLIENT_RPS=0 REELCACHE_MAX_CONNECTIONS_PER_CLIENT=4096 \
  REELCACHE_TMDB_RPS=100000 REELCACHE_PREFETCH=false \
  valgrind --tool=callgrind --callgrind-out-file="$RUN/cg" "$BIN" serve --listen 127.0.0.1:18093 \
  --data-dir "$RUN/data" >"$RUN/stdout" 2>"$RUN/stderr" & VG=$!; PIDS+=($VG)
for _ in $(seq 600); do grep -q '^listening on' "$RUN/stdout" 2>/dev/null && break; sleep 0.1; done
grep -q '^listening on' "$RUN/stdout" || { echo "reelcache did not start:" >&2; cat "$RUN/stderr" >&2; exit 1; }
urls() { # languages repeats
  for l in $1; do for n in $(seq 1 200); do for _ in $(seq "$2"); do
    printf 'url = "http://127.0.0.1:18093/api/movies/trending/?time_window=day&page=%d&language=%s"\noutput = "/dev/null"\n' "$n" "$l"
  done; done; done
}
urls en-US 1 > "$RUN/warm.cfg"; urls "fr-FR de-DE" 1 > "$RUN/miss.cfg"; urls en-US 2 > "$RUN/hit.cfg"
curl -s -K "$RUN/warm.cfg" >/dev/null
sleep 3   # the warm pages' writes land (each waits for the encoder) before counting
count() { # name cfg wanted-x-cache

  callgrind_control -z $VG >/dev/null
  curl -s -K "$2" -w '%{http_code} %header{x-cache}\n' >"$RUN/$1.codes"
  sleep 3   # the misses' writes land: counted with them
  callgrind_control -d $VG >/dev/null
  local dump; dump=$(ls -t "$RUN"/cg* | grep -v "\.cg$" | head -1); mv "$dump" "$RUN/$1.cg"
  local n total
  n=$(grep -c "^200 $3" "$RUN/$1.codes" || true)
  total=$(callgrind_annotate "$RUN/$1.cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "== $1: $n answered 200 $3; user-space instructions per request: $((total / n))"
  echo "   the costliest functions, inclusive (share of all instructions counted):"
  callgrind_annotate --inclusive=yes --threshold=100 "$RUN/$1.cg" 2>/dev/null \
    | awk -v t="$total" '/^ *[0-9,]+ +\(/ {c=$1; gsub(",", "", c); sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, ""); sub(/^[^:]*:/, ""); sub(/ \[[^]]*\]$/, ""); printf "   %5.1f %%  %s\n", 100 * c / t, substr($0, 1, 130)}' \
    | grep -Ev ' (std::|core::ops::function|__rust_begin|tokio::runtime::(scheduler|task|context|blocking|driver|time|io|park)|<tokio::runtime|clone$|start_thread$|hyper_util::server::graceful|<core::panic|reelcache::http::server::serve::)' \
    | awk '$1 < 99' | head -${TOP:-30} || true
}
count miss "$RUN/miss.cfg" MISS
count hit "$RUN/hit.cfg" HIT
echo "(misses include their writes: LZ4-HC on the encoder thread and sled's; hits one timer tick"
echo " of the server's background work per ~3 s, shared across 400 requests)"
