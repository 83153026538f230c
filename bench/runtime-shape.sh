#!/usr/bin/env bash
# The async runtime's shape on this machine: two reelcache instances, one with REELCACHE_WORKERS=2
# and one with 1, loaded by the shared harness in the same run against nginx, Varnish and the
# static-file ceiling (../shared/bench/run.sh; loopback only; about 5 minutes).
# usage: bench/runtime-shape.sh [extra run.sh arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${HARNESS:-../shared/bench/run.sh}
[ -f "$HARNESS" ] || { echo "harness not found: $HARNESS" >&2; exit 1; }
cargo build --release
RUN=$(mktemp -d /tmp/rc-shape.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$RUN"' EXIT
for workers in 2 1; do
  port=$((18088 + workers))
  RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:18080/3 REELCACHE_CLIENT_RPS=0 REELCACHE_MAX_CONNECTIONS_PER_CLIENT=4096 \
    REELCACHE_TMDB_RPS=100000 REELCACHE_WORKERS=$workers \
    target/release/reelcache serve --listen 127.0.0.1:$port --data-dir "$RUN/w$workers" \
    >"$RUN/w$workers.out" 2>&1 & PIDS+=($!)
done
for _ in $(seq 100); do
  grep -q '^listening on' "$RUN/w1.out" 2>/dev/null && grep -q '^listening on' "$RUN/w2.out" 2>/dev/null && break
  sleep 0.1
done
bash "$HARNESS" --passes 6 --duration 5s \
  --extra rc-2-workers=http://127.0.0.1:18090 --extra rc-1-worker=http://127.0.0.1:18089 "$@"
