#!/usr/bin/env bash
# How hit throughput grows with cores (issue 21): reelcache pinned with taskset to one core, then
# to two, loaded by wrk pinned to core 1 in every round (the machine has two cores, so in the
# two-core rounds the load generator shares one of them: that is the measurement's limit, and
# why the server's CPU time per hit, which does not depend on it, is reported beside req/s).
# Three shapes: 1 core / 1 async worker; 2 cores / 1 worker (the default on two cores: one worker
# per two cores); 2 cores / 2 workers. ROUNDS (5) interleaved rounds of 10 s, medians. The server's
# CPU per hit is given whole and split into user time (what the code controls) and system time
# (the kernel's TCP work). ONE_CORE=1 runs the first shape only (~1 minute at ROUNDS=3).
# STRACE=1 then counts the server's system calls for 3 s under the same load on one core (strace
# slows it: read the counts per request, not the rate). Extra server settings: SERVER_ENV="N=V ...".
# Loopback only; ~4 minutes.  usage: bench/cores.sh [BINARY]   (needs nginx, wrk, taskset, python3;
# strace for STRACE=1)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
SHARED=$(cd "$SHARED" && pwd)
export PATH=$PATH:/usr/sbin:/sbin
for c in nginx wrk taskset curl python3; do command -v $c >/dev/null || { echo "missing $c" >&2; exit 1; }; done
[ "$(nproc --all)" -ge 2 ] || { echo "needs two cores" >&2; exit 1; }
BIN=${1:-}
if [ -z "$BIN" ]; then cargo build --release -q; BIN=target/release/reelcache; fi
BIN=$(realpath "$BIN")
ROUNDS=${ROUNDS:-5}
RUN=$(mktemp -d /tmp/rc-cores.XXXXXX)
chmod 755 "$RUN"; mkdir -p "$RUN/logs"
PIDS=(); PID=
trap 'for p in "${PIDS[@]}" $PID; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$RUN"' EXIT
python3 "$SHARED/gen_pages.py" "$RUN/pages" --pages 100 2>/dev/null
nginx -p "$RUN/" -c "$SHARED/nginx-origin.conf" -g 'daemon off;' >"$RUN/logs/nginx.out" 2>&1 & PIDS+=($!)
sleep 0.5
PORT=18098
export RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:18080/3 REELCACHE_CLIENT_RPS=0 \
  REELCACHE_MAX_CONNECTIONS_PER_CLIENT=4096 REELCACHE_TMDB_RPS=100000 REELCACHE_PREFETCH=false
FMT='/api/movies/trending/?time_window=day&page=%d'

start() { # cpus workers
  # shellcheck disable=SC2086
  taskset -c "$1" env REELCACHE_WORKERS="$2" ${SERVER_ENV:-} "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$RUN/data" \
    >"$RUN/stdout" 2>"$RUN/stderr" &
  PID=$!
  for _ in $(seq 300); do grep -q '^listening on' "$RUN/stdout" 2>/dev/null && break; sleep 0.05; done
  # The 100 pages: misses once, then each in the hot tier (its second request).
  for _ in 1 2; do for n in $(seq 100); do printf 'url = "http://127.0.0.1:%d%s"\noutput = "/dev/null"\n' $PORT "$(printf "$FMT" $n)"; done; done > "$RUN/warm.cfg"
  curl -s -K "$RUN/warm.cfg"; sleep 0.5; curl -s -K "$RUN/warm.cfg"
}
stop() { kill $PID; wait $PID 2>/dev/null || true; PID=; : > "$RUN/stdout"; }
ticks() { awk '{print $14, $15}' /proc/$PID/stat; }   # user, system, in clock ticks
load() { BENCH_PATH_FMT="$FMT" BENCH_N=100 taskset -c 1 wrk -t1 -c32 -d"$1" -s "$SHARED/pages.lua" http://127.0.0.1:$PORT; }
run() { # -> "req/s cpu_us_per_hit user_us_per_hit system_us_per_hit"
  local u0 s0 u1 s1 out
  load 2s >/dev/null
  read -r u0 s0 < <(ticks)
  out=$(load 10s)
  read -r u1 s1 < <(ticks)
  local rps; rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  awk -v r="$rps" -v u="$((u1 - u0))" -v s="$((s1 - s0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    k = 1e6 / hz / (r * 10); printf "%.0f %.1f %.1f %.1f\n", r, (u + s) * k, u * k, s * k }'
}
SHAPES=("0 1" "0,1 1" "0,1 2")
[ -n "${ONE_CORE:-}" ] && SHAPES=("0 1")
declare -A RPS CPU USER SYS
for round in $(seq "$ROUNDS"); do
  for shape in "${SHAPES[@]}"; do
    set -- $shape
    start "$1" "$2"
    read -r rps cpu user sys < <(run)
    stop
    RPS[$shape]+="$rps "; CPU[$shape]+="$cpu "; USER[$shape]+="$user "; SYS[$shape]+="$sys "
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(echo "${RPS["0 1"]}" | median)
echo "| server cores (taskset) | async workers | hit req/s (median of $ROUNDS) | ÷ one core | server CPU µs per hit | of it user / system | rounds |"
echo "|---|---:|---:|---:|---:|---:|---|"
for shape in "${SHAPES[@]}"; do
  set -- $shape
  r=$(echo "${RPS[$shape]}" | median); c=$(echo "${CPU[$shape]}" | median)
  u=$(echo "${USER[$shape]}" | median); y=$(echo "${SYS[$shape]}" | median)
  printf '| %s | %s | %s | %.2f | %s | %s / %s | %s|\n' "$1" "$2" "$r" "$(awk -v a="$r" -v b="$base" 'BEGIN {print a / b}')" "$c" "$u" "$y" "${RPS[$shape]}"
done
echo "(wrk -t1 -c32 on core 1 in every round, over 100 hot pages; the server's CPU from /proc/PID/stat)"
if [ -n "${STRACE:-}" ]; then
  command -v strace >/dev/null || { echo "missing strace" >&2; exit 1; }
  start 0 1
  timeout 6 strace -c -f -p "$PID" -o "$RUN/strace.txt" 2>/dev/null & ST=$!
  sleep 1
  out=$(load 3s)
  wait $ST || true
  stop
  echo "system calls of the server on one core under $(awk '/requests in/ {print $1}' <<<"$out") requests:"
  sed -n 1,14p "$RUN/strace.txt"
fi
