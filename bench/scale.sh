#!/usr/bin/env bash
# Scale run: hit latency with 1 k and 1 M stored entries, start-up time and resident memory with
# 100 k stored pages. Fills data directories with `reelcache dev fill` (synthetic entries from the
# fake TMDB's catalogue), starts the release binary on each, and loads it with wrk over keys spread
# across the whole store. Loopback only; bounded (10 s per load); ~3 minutes, ~2 GB of disk in /tmp.
# usage: bench/scale.sh [sizes|pages|all] [LARGE]     (all, and LARGE = 1000000, by default;
#        ROUNDS=7 alternating loads per store size)
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
export RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:9/3 REELCACHE_CLIENT_RPS=0 REELCACHE_MAX_CONNECTIONS_PER_CLIENT=4096 \
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
timed_stop() { # prints ms from SIGTERM to exit (a graceful stop folds sled's log into its snapshot)
  local t0; t0=$(date +%s%N); stop
  echo "  graceful stop: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

# The two stores are served side by side and loaded in turn, ROUNDS times each, so that the noise
# of a shared machine falls on both alike; medians of the rounds are reported.
ROUNDS=${ROUNDS:-7}
start_pair() { # env... -> PIDS for the small and large store, on PORT and PORT+1
  PAIR=()
  for which in small large; do
    local port=$PORT; [ $which = large ] && port=$((PORT + 1))
    env "$@" "$BIN" serve --listen 127.0.0.1:$port --data-dir "$ROOT/movies-$which" \
      >"$ROOT/$which.stdout" 2>"$ROOT/$which.stderr" &
    PAIR+=($!)
  done
  PID="${PAIR[*]}"
  for which in small large; do
    for _ in $(seq 1000); do grep -q '^listening on' "$ROOT/$which.stdout" 2>/dev/null && break; sleep 0.01; done
  done
}
counted_on() { # port entries
  for _ in $(seq 600); do
    curl -s http://127.0.0.1:$1/metrics | grep -q "^reelcache_store_entries $2\$" && return 0
    sleep 0.5
  done
}
load_on() { # port n span seconds [connections] -> p50 in microseconds
  BENCH_PATH_FMT='/api/movies/%d/' BENCH_N=$2 BENCH_SPAN=$3 wrk -t1 -c${5:-32} -d${4}s -s bench/keys.lua \
    http://127.0.0.1:$1 | grep '^SCALE' | tr '\t' '\n' | grep '^p50_us=' | cut -d= -f2
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Each round loads the small store, then the large one; the ratio of a round's two p50s is what
# is compared (drift over the run cancels), and the median of those ratios is the result. Once
# with one connection (a request's own latency: what the store's size could change) and once
# with 32 (saturated: the p50 is mostly queueing, and as noisy as the machine's throughput).
alternate() { # label
  local conns small=() large=() ratios=() s l ms ml
  for conns in 1 32; do
    small=(); large=(); ratios=()
    load_on $PORT 1000 1000 2 $conns >/dev/null; load_on $((PORT + 1)) 1000 "$LARGE" 2 $conns >/dev/null
    for _ in $(seq "$ROUNDS"); do
      s=$(load_on $PORT 1000 1000 4 $conns); l=$(load_on $((PORT + 1)) 1000 "$LARGE" 4 $conns)
      small+=("$s"); large+=("$l"); ratios+=($(awk -v a="$l" -v b="$s" 'BEGIN {printf "%.2f", a / b}'))
    done
    ms=$(printf '%s\n' "${small[@]}" | median); ml=$(printf '%s\n' "${large[@]}" | median)
    echo "  $1, -c$conns: p50 1000 entries ${ms} us (rounds: ${small[*]}), $LARGE entries ${ml} us (rounds: ${large[*]})"
    echo "    $LARGE ÷ 1000 p50, round by round: ${ratios[*]}; median $(printf '%s\n' "${ratios[@]}" | median)"
  done
}

if [ "$PART" != pages ]; then
echo "== hit latency by store size (movie details; 1000 keys spread across each store)"
for which in small large; do
  n=1000; [ $which = large ] && n=$LARGE
  echo "-- $n entries"
  fill "$ROOT/movies-$which" "$n" movie
done
start_pair REELCACHE_CACHE_HOT_BYTES=0
counted_on $PORT 1000; counted_on $((PORT + 1)) "$LARGE"
alternate "hot tier off (every hit reads sled)"
echo "  $LARGE entries, 100000 keys spread across the store, hot tier off: p50 $(load_on $((PORT + 1)) 100000 "$LARGE" 10) us"
echo "  memory, $LARGE entries: $(PID=${PAIR[1]} rss)"
stop
start_pair
counted_on $PORT 1000; counted_on $((PORT + 1)) "$LARGE"
alternate "hot tier on (default settings)"
stop
rm -rf "$ROOT"/movies-*
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
timed_stop
fi
