#!/usr/bin/env bash
# Memory under a miss-heavy load, and disk bytes after churn (issue 21). reelcache fetches
# recommendation pages (~14 KB of JSON) from an nginx origin on loopback that serves the shared
# harness's generated pages for any movie id.
#   memory: 100 k requests over 30 k ids (30 k misses, 70 k hits; wrk -t1 -c32): resident memory
#           sampled every 0.5 s during the load and for 60 s after it.
#   disk:   100 k pages fetched, then every page expired and fetched again ROUNDS times (4: a
#           trending page's hour at a 15-minute TTL), with a 30 s TTL, dynamic TTLs and the
#           stale-while-revalidate window off (so each pass rewrites every page); then
#           the store's files against the raw JSON they hold, while serving and after a
#           graceful stop.
# Loopback only, bounded (each load stops after its count); memory ~2 min, disk ~5 min, ~1.5 GB
# in /tmp.
# usage: bench/churn.sh [memory|disk|all] [BINARY]    (needs nginx, wrk, curl, python3)
#        SERVER_ENV="NAME=VALUE ..." adds settings to the server of the memory part.
set -euo pipefail
cd "$(dirname "$0")/.."
PART=${1:-all}
BIN=${2:-}
ROUNDS=${ROUNDS:-4}
SHARED=${SHARED:-../shared/bench}
SHARED=$(cd "$SHARED" && pwd)
export PATH=$PATH:/usr/sbin:/sbin
for c in nginx wrk curl python3; do command -v $c >/dev/null || { echo "missing $c" >&2; exit 1; }; done
if [ -z "$BIN" ]; then cargo build --release -q; BIN=target/release/reelcache; fi
BIN=$(realpath "$BIN")
RUN=$(mktemp -d /tmp/rc-churn.XXXXXX)
chmod 755 "$RUN"; mkdir -p "$RUN/logs" "$RUN/pages/rec"
PIDS=(); PID=
trap 'for p in "${PIDS[@]}" $PID; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$RUN"' EXIT
ORIGIN_PORT=18085; PORT=18097

# Origin: /3/movie/<id>/recommendations answered with page file rec/<id's last three digits>.
python3 "$SHARED/gen_pages.py" "$RUN/pages" --pages 400 2>/dev/null
for n in $(seq 0 999); do cp "$RUN/pages/day/$((n % 400 + 1)).json" "$RUN/pages/rec/$(printf %03d $n).json"; done
cat > "$RUN/origin.conf" <<CONF
worker_processes 1;
pid origin.pid;
error_log logs/origin-error.log warn;
events { worker_connections 4096; }
http {
  types { } default_type application/json;
  access_log off; sendfile on; tcp_nodelay on;
  keepalive_requests 1000000; open_file_cache max=2000 inactive=60s;
  map \$uri \$rec_file {
    "~^/3/movie/[0-9]*?(?<l>[0-9]{3})/recommendations\$" \$l;
    "~^/3/movie/(?<l>[0-9]{2})/recommendations\$" 0\$l;
    "~^/3/movie/(?<l>[0-9])/recommendations\$" 00\$l;
    default none;
  }
  server {
    listen 127.0.0.1:$ORIGIN_PORT;
    root pages;
    location /3/movie/ { try_files /rec/\$rec_file.json =404; }
  }
}
CONF
nginx -p "$RUN/" -c "$RUN/origin.conf" -g 'daemon off;' >"$RUN/logs/nginx.out" 2>&1 & PIDS+=($!)
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/3/movie/12345/recommendations" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/3/movie/7/recommendations" || { echo "origin did not start" >&2; exit 1; }

export RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:$ORIGIN_PORT/3 REELCACHE_CLIENT_RPS=0 \
  REELCACHE_MAX_CONNECTIONS_PER_CLIENT=4096 REELCACHE_TMDB_RPS=100000 REELCACHE_PREFETCH=false

start() { # dir [env...]
  local dir=$1; shift
  mkdir -p "$dir"
  env "$@" "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$dir" >"$dir.stdout" 2>"$dir.stderr" &
  PID=$!
  for _ in $(seq 300); do grep -q '^listening on' "$dir.stdout" 2>/dev/null && return 0; sleep 0.05; done
  echo "reelcache did not start:" >&2; cat "$dir.stderr" >&2; exit 1
}
stop() { kill $PID; wait $PID 2>/dev/null || true; PID=; }
answered() { curl -s http://127.0.0.1:$PORT/metrics \
  | awk '/^reelcache_http_requests_total\{route="\/api\/movies\/\{movie_id\}\/recommendations\/"/ {n += $2} END {print n + 0}'; }
load() { # n span -> the COUNT line, once the server has answered n more requests (or 10 minutes)
  local start; start=$(answered)
  BENCH_PATH_FMT='/api/movies/%d/recommendations/' BENCH_N=$1 BENCH_SPAN=$2 \
    wrk -t1 -c32 -d600s -s bench/count.lua http://127.0.0.1:$PORT > "$RUN/wrk.out" &
  local wrk=$!
  while kill -0 $wrk 2>/dev/null && [ $(( $(answered) - start )) -lt "$1" ]; do sleep 0.2; done
  kill -INT $wrk 2>/dev/null || true; wait $wrk 2>/dev/null || true
  grep '^COUNT' "$RUN/wrk.out" | cut -f2- | tr '\t' ' '
}
rss_mb() { awk '/VmRSS/ {printf "%d", $2 / 1024}' /proc/$PID/status; }
hwm_mb() { awk '/VmHWM/ {printf "%d", $2 / 1024}' /proc/$PID/status; }
metric() { curl -s http://127.0.0.1:$PORT/metrics | awk -v m="$1" '$1 == m {print $2}'; }
mb() { awk -v b="$1" 'BEGIN {printf "%.0f MB", b / 1e6}'; }

if [ "$PART" != disk ]; then
  echo "== memory under a miss-heavy load: 100 k requests over 30 k recommendation pages"
  # shellcheck disable=SC2086 # SERVER_ENV: extra settings to try, e.g. "REELCACHE_CACHE_MEMORY=8MiB"
  start "$RUN/mem" ${SERVER_ENV:-}
  echo "  idle after start: $(rss_mb) MB"
  ( while kill -0 $PID 2>/dev/null; do echo "$(date +%s.%N) $(rss_mb)"; sleep 0.5; done ) > "$RUN/rss.txt" 2>/dev/null &
  SAMPLER=$!
  echo "  load: $(load 100000 30000)"
  end=$(date +%s.%N)
  echo "  entries stored: $(metric reelcache_store_entries); resident at the end of the load: $(rss_mb) MB; peak (VmHWM): $(hwm_mb) MB"
  for after in 10 30 60; do
    sleep $(awk -v e="$end" -v a="$after" -v now="$(date +%s.%N)" 'BEGIN {s = e + a - now; print (s > 0 ? s : 0)}')
    echo "  resident ${after} s after the load: $(rss_mb) MB"
  done
  kill $SAMPLER 2>/dev/null || true
  echo "  samples during the load (MB, every 0.5 s): $(awk -v e="$end" '$1 <= e {printf "%s ", $2}' "$RUN/rss.txt")"
  stop
  rm -rf "$RUN/mem"
fi

if [ "$PART" != memory ]; then
  echo "== disk after churn: 100 k pages, each expired and fetched again $ROUNDS times (TTL 30 s)"
  dir=$RUN/disk
  # A 1 s stale-while-revalidate window (the least it may be): an expired page is fetched again before it is answered
  # (its stale copy answers only if TMDB fails), so every pass rewrites every page.
  TTL_ENV=(REELCACHE_TTL_RECOMMENDATIONS=30s REELCACHE_TTL_DYNAMIC=false REELCACHE_REVALIDATE_WINDOW=1s)
  start "$dir" "${TTL_ENV[@]}"
  t0=$(date +%s)
  echo "  fill: $(load 100000 100000)"
  for r in $(seq "$ROUNDS"); do
    # Every page stored in the previous pass has expired 30 s after it was written.
    sleep $(( 33 - ($(date +%s) - t0) > 0 ? 33 - ($(date +%s) - t0) : 0 ))
    t0=$(date +%s)
    echo "  round $r: $(load 100000 100000)"
  done
  sleep 5   # the last refreshes' writes land
  writes=$(metric reelcache_stored_raw_bytes_total)
  stats() { "$BIN" cache stats --data-dir "$dir" 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("data", d); print(d["entries"], d["raw_bytes"], d["stored_bytes"])'; }
  on_disk() { du -sb "$dir/cache" | cut -f1; }
  report() { # label
    local used; used=$(on_disk)
    read -r entries raw stored < <(stats)
    echo "  $1: $entries entries, raw JSON $(mb "$raw"), entries as stored $(mb "$stored"), files $(mb "$used"): files ÷ raw $(awk -v u="$used" -v r="$raw" 'BEGIN {printf "%.2f", u / r}')"
  }
  echo "  JSON written over the run: $(mb "$writes") ($(awk -v w="$writes" 'BEGIN {printf "%.1f", w / 1.4e9}')× the 100 k pages, ~14 KB each)"
  report "serving, after the churn"
  stop
  report "after a graceful stop"
fi
