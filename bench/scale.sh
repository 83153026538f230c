#!/usr/bin/env bash
# Scale run: hit latency with 1 k and 1 M stored entries, start-up time and resident memory with
# 100 k stored pages. Fills data directories with `reelcache dev fill` (synthetic entries from the
# fake TMDB's catalogue), starts the release binary on each, and loads it with wrk over keys spread
# across the whole store. Loopback only; bounded (10 s per load); ~3 minutes, ~2 GB of disk in /tmp.
# usage: bench/scale.sh [sizes|pages|all] [LARGE]     (all, and LARGE = 1000000, by default)
set -euo pipefail
cd "$(dirname "$0")/.."
PART=${1:-all}
LARGE=${2:-1000000}
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 1; }
cargo build --release -q
BIN=$PWD/target/release/reelcache
ROOT=$(mktemp -d /tmp/rc-scale.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$ROOT"' EXIT
PORT=18096
# Never contacted (every request is a hit); no client limit; a size bound above what is filled.
export RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:9/3 REELCACHE_CLIENT_RPS=0 \
  REELCACHE_PREFETCH=false REELCACHE_CACHE_MAX_BYTES=64GiB

fill() { # dir entries shape
  "$BIN" dev fill --data-dir "$1" --entries "$2" --shape "$3" 2>&1 | tail -1
  echo "  on disk: $(du -sh "$1/cache" | cut -f1)"
}

start() { # dir [env...] -> sets PID, prints ms to "listening"
  local dir=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  env "$@" "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$dir" >"$dir/stdout" 2>"$dir/stderr" &
  PID=$!
  for _ in $(seq 1000); do grep -q '^listening on' "$dir/stdout" 2>/dev/null && break; sleep 0.005; done
  t1=$(date +%s%N)
  echo "  start-up to 'listening': $(( (t1 - t0) / 1000000 )) ms"
}

# The first sweep counts the store; wait for it so the load does not race it.
wait_counted() { # entries
  for _ in $(seq 600); do
    curl -s http://127.0.0.1:$PORT/metrics | grep -q "^reelcache_store_entries $1\$" && return 0
    sleep 0.5
  done
  echo "  (the first sweep did not finish in 5 minutes)"
}

load() { # fmt n span
  BENCH_PATH_FMT=$1 BENCH_N=$2 BENCH_SPAN=$3 wrk -t1 -c32 -d3s -s bench/keys.lua http://127.0.0.1:$PORT >/dev/null
  BENCH_PATH_FMT=$1 BENCH_N=$2 BENCH_SPAN=$3 wrk -t1 -c32 -d10s --latency -s bench/keys.lua \
    http://127.0.0.1:$PORT | grep '^SCALE' | cut -f2- | tr '\t' ' '
}

rss() { awk '/VmRSS|VmHWM/ {printf "%s %d MB  ", $1, $2 / 1024}' /proc/$PID/status; echo; }

stop() { kill $PID; wait $PID 2>/dev/null || true; PID=; }

if [ "$PART" != pages ]; then
echo "== hit latency by store size (movie details, hot tier off: every hit reads sled)"
for n in 1000 "$LARGE"; do
  dir=$ROOT/movies-$n
  echo "-- $n entries"
  fill "$dir" "$n" movie
  start "$dir" REELCACHE_CACHE_HOT_BYTES=0
  wait_counted "$n"
  echo "  1000 keys spread across the store: $(load '/api/movies/%d/' 1000 "$n")"
  if [ "$n" -gt 100000 ]; then
    echo "  100000 keys spread across the store: $(load '/api/movies/%d/' 100000 "$n")"
  fi
  echo "  memory: $(rss)"
  stop
  start "$dir" >/dev/null
  wait_counted "$n"
  echo "  with the hot tier (default settings), 1000 keys: $(load '/api/movies/%d/' 1000 "$n")"
  stop
  rm -rf "$dir"
done
fi

if [ "$PART" != sizes ]; then
echo "== 100 k stored pages (recommendation pages, ~14 KB of JSON each; default settings)"
dir=$ROOT/pages
fill "$dir" 100000 page
start "$dir"
stop
echo "  restart with the same 100 k pages:"
start "$dir"
wait_counted 100000
echo "  after the first sweep: $(rss)"
echo "  load over 1000 hot keys: $(load '/api/movies/%d/recommendations/' 1000 100000)"
echo "  memory under that load: $(rss)"
echo "  load over all 100000 keys: $(load '/api/movies/%d/recommendations/' 100000 100000)"
echo "  memory under that load: $(rss)"
stop
fi
