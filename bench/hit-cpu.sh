#!/usr/bin/env bash
# Server CPU per hit, split into user and system time, with reelcache pinned to core 0 and wrk
# (-t1 -c32, 100 hot pages) to core 1: what the code controls (user) against the kernel's TCP
# work (system). ROUNDS (3) runs of 8 s. STRACE=1 adds a 3 s count of the server's system calls
# under the same load (strace slows it: read the counts per request, not the rate).
# Loopback only; ~1 minute.  usage: bench/hit-cpu.sh [BINARY]   (needs nginx, wrk, taskset, curl,
# python3; strace for STRACE=1). Extra server settings: SERVER_ENV="NAME=VALUE ...".
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
SHARED=$(cd "$SHARED" && pwd)
export PATH=$PATH:/usr/sbin:/sbin
for c in nginx wrk taskset curl python3; do command -v $c >/dev/null || { echo "missing $c" >&2; exit 1; }; done
[ "$(nproc --all)" -ge 2 ] || { echo "needs two cores" >&2; exit 1; }
BIN=${1:-}
if [ -z "$BIN" ]; then cargo build --release -q; BIN=target/release/reelcache; fi
ROUNDS=${ROUNDS:-3}
RUN=$(mktemp -d /tmp/rc-hitcpu.XXXXXX)
chmod 755 "$RUN"; mkdir -p "$RUN/logs"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$RUN"' EXIT
python3 "$SHARED/gen_pages.py" "$RUN/pages" --pages 100 2>/dev/null
nginx -p "$RUN/" -c "$SHARED/nginx-origin.conf" -g 'daemon off;' >"$RUN/logs/nginx.out" 2>&1 & PIDS+=($!)
sleep 0.5
PORT=18099
FMT='/api/movies/trending/?time_window=day&page=%d'
# shellcheck disable=SC2086
env RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:18080/3 REELCACHE_CLIENT_RPS=0 \
  REELCACHE_MAX_CONNECTIONS_PER_CLIENT=4096 REELCACHE_TMDB_RPS=100000 REELCACHE_PREFETCH=false \
  REELCACHE_WORKERS=1 ${SERVER_ENV:-} \
  taskset -c 0 "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$RUN/data" >"$RUN/stdout" 2>"$RUN/stderr" &
PID=$!; PIDS+=($PID)
for _ in $(seq 300); do grep -q '^listening on' "$RUN/stdout" 2>/dev/null && break; sleep 0.05; done
grep -q '^listening on' "$RUN/stdout" || { echo "reelcache did not start:" >&2; cat "$RUN/stderr" >&2; exit 1; }
# The 100 pages: a miss each, then each in the hot tier.
for _ in 1 2; do for n in $(seq 100); do printf 'url = "http://127.0.0.1:%d%s"\noutput = "/dev/null"\n' $PORT "$(printf "$FMT" $n)"; done; done > "$RUN/warm.cfg"
curl -s -K "$RUN/warm.cfg"; sleep 0.5; curl -s -K "$RUN/warm.cfg"
load() { BENCH_PATH_FMT="$FMT" BENCH_N=100 taskset -c 1 wrk -t1 -c32 -d"$1" -s "$SHARED/pages.lua" http://127.0.0.1:$PORT; }
load 2s >/dev/null
echo "hits pinned to one core (wrk -t1 -c32 on the other), $ROUNDS runs of 8 s:"
for _ in $(seq "$ROUNDS"); do
  read -r u0 s0 < <(awk '{print $14, $15}' /proc/$PID/stat)
  out=$(load 8s)
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/$PID/stat)
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  awk -v r="$rps" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {
    printf "  %.0f req/s   user %.2f µs a hit   system %.2f µs a hit\n", r, u / hz * 1e6 / (r * 8), s / hz * 1e6 / (r * 8) }'
done
if [ -n "${STRACE:-}" ]; then
  command -v strace >/dev/null || { echo "missing strace" >&2; exit 1; }
  timeout 6 strace -c -f -p $PID -o "$RUN/strace.txt" 2>/dev/null & ST=$!
  sleep 1
  out=$(load 3s)
  wait $ST || true
  echo "system calls under $(awk '/requests in/ {print $1}' <<<"$out") requests:"
  sed -n 1,14p "$RUN/strace.txt"
fi
