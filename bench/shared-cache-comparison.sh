#!/usr/bin/env bash
# Hit-path benchmark of reelcache against nginx proxy_cache, Varnish and nginx static files, in
# one run on this machine, with the shared harness (../shared/bench/run.sh: installs nginx,
# varnish and wrk with apt-get when missing; loopback only; about 4 minutes).
# usage: bench/shared-cache-comparison.sh [extra run.sh arguments]
#        REELCACHE_BIN=path/to/reelcache bench/shared-cache-comparison.sh   (a given build, e.g. an
#        older one for a before/after comparison in the same hour; no cargo build then)
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS=${HARNESS:-../shared/bench/run.sh}
[ -x "$HARNESS" ] || [ -f "$HARNESS" ] || { echo "harness not found: $HARNESS" >&2; exit 1; }

BIN=${REELCACHE_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release
  BIN=target/release/reelcache
fi
DATA=$(mktemp -d /tmp/rc-bench.XXXXXX)
# Benchmark settings: the origin is the harness's nginx; no per-client limit (one client, wrk);
# no upstream rate limit; request logging at warn (the harness's nginx does not log either).
RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:18080/3 \
  REELCACHE_CLIENT_RPS=0 REELCACHE_MAX_CONNECTIONS_PER_CLIENT=4096 REELCACHE_TMDB_RPS=100000 \
  "$BIN" serve --listen 127.0.0.1:18090 --data-dir "$DATA" >"$DATA/stdout" 2>"$DATA/stderr" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do grep -q '^listening on' "$DATA/stdout" 2>/dev/null && break; sleep 0.1; done
bash "$HARNESS" --passes 6 --duration 5s --extra reelcache=http://127.0.0.1:18090 "$@"
