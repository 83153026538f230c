#!/usr/bin/env bash
# Two builds of reelcache in one run of the shared harness (../shared/bench/run.sh), beside nginx
# proxy_cache, Varnish and the static-file ceiling: the way to show that a change kept the hit
# path as fast (issue 17 asks for before and after in the same hour; one run is better still,
# since both see the same machine at the same moment). Loopback only; about 5 minutes.
# usage: bench/before-after.sh BEFORE_BINARY [AFTER_BINARY] [extra run.sh arguments]
#        (AFTER_BINARY defaults to target/release/reelcache, built here)
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${HARNESS:-../shared/bench/run.sh}
[ -f "$HARNESS" ] || { echo "harness not found: $HARNESS" >&2; exit 1; }
BEFORE=${1:?usage: bench/before-after.sh BEFORE_BINARY [AFTER_BINARY]}
shift
if [ $# -gt 0 ] && [ -x "$1" ]; then AFTER=$1; shift; else cargo build --release; AFTER=target/release/reelcache; fi

DATA=$(mktemp -d /tmp/rc-before-after.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$DATA"' EXIT
start() { # name binary port
  mkdir -p "$DATA/$1"
  # As bench/shared-cache-comparison.sh: the harness's nginx is the origin; no client or upstream
  # limits (one client, wrk); request logging at warn.
  RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:18080/3 \
    REELCACHE_CLIENT_RPS=0 REELCACHE_MAX_CONNECTIONS_PER_CLIENT=4096 REELCACHE_TMDB_RPS=100000 \
    "$2" serve --listen "127.0.0.1:$3" --data-dir "$DATA/$1" >"$DATA/$1.stdout" 2>"$DATA/$1.stderr" &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q '^listening on' "$DATA/$1.stdout" 2>/dev/null && return; sleep 0.1; done
  echo "$1 did not start:" >&2; cat "$DATA/$1.stderr" >&2; exit 1
}
start before "$BEFORE" 18090
start after "$AFTER" 18091
bash "$HARNESS" --passes 6 --duration 5s \
  --extra before=http://127.0.0.1:18090 --extra after=http://127.0.0.1:18091 "$@"
