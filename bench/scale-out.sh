#!/usr/bin/env bash
# Scale-out figures (issue 18), all in one run on this machine, loopback only, bounded:
#  1. favorites (add / list / check, bench/favorites.lua) on SQLite vs PostgreSQL, one instance;
#     then three instances on one PostgreSQL, loaded at once;
#  2. page hits read from one Redis vs from a six-node Redis Cluster (3 primaries + replicas),
#     hot tier off (every hit reads Redis), one request at a time and 32 at once, with the CPU
#     each hit took in reelcache and in the Redis processes.
# Starts its own PostgreSQL (initdb as the postgres user), redis-server and cluster in a temp
# directory and stops them at the end. Each load: wrk -t1 -c16 for DURATION (5 s), ROUNDS (3)
# times, alternating. ~4 minutes.
# usage: bench/scale-out.sh [BINARY]   (default: target/release/reelcache, built here)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
PARTS=${PARTS:-favorites,three,hits}   # which parts to run, comma-separated
ROUNDS=${ROUNDS:-3}
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 1; }
if [ $# -gt 0 ]; then BIN=$1; else cargo build --release -q; BIN=$PWD/target/release/reelcache; fi
# PostgreSQL, one redis-server and a six-node cluster, as deploy/scale-out-local.sh starts them.
source deploy/scale-out-local.sh
trap sol_stop EXIT
sol_root
ROOT=$SOL_ROOT
sol_postgres
sol_cluster
CLUSTER_URL=$SOL_CLUSTER_URL
RPORT=$(sol_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$ROOT" >/dev/null &
SOL_PIDS+=($!)
sol_wait 10 redis-cli -p "$RPORT" ping
fresh_db() { sol_database "$1"; }
port() { sol_port; }

# --- reelcache instances (offline on the built-in demo data; no client limit)
SECRET=bench-secret-of-more-than-thirty-two-characters
serve() { # name env... -> prints the address
  local dir="$ROOT/$1"; shift; mkdir -p "$dir"
  env -i PATH="$PATH" RUST_LOG=warn REELCACHE_CLIENTS_RPS=0 REELCACHE_HTTP_MAX_CONNECTIONS_PER_CLIENT=4096 \
    REELCACHE_JWT_SECRET=$SECRET "$@" "$BIN" --data-dir "$dir" --listen 127.0.0.1:0 >"$dir/stdout" 2>"$dir/stderr" &
  echo $! > "$dir/pid"   # in $(...): sol_stop reads the file
  for _ in $(seq 600); do grep -q '^listening on' "$dir/stdout" 2>/dev/null && break; sleep 0.05; done
  sed -n 's|^listening on http://||p' "$dir/stdout"
}
token() { # addr user
  curl -fs -X POST "http://$1/api/users/register/" -H 'content-type: application/json' \
    -d "{\"username\":\"$2\",\"password\":\"password123\"}" >/dev/null
  curl -fs -X POST "http://$1/api/users/login/" -H 'content-type: application/json' \
    -d "{\"username\":\"$2\",\"password\":\"password123\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access"])'
}
load() { # label addr [wrk args...] -> "label req/s p50 p99 non2xx"
  local label=$1 addr=$2; shift 2
  local out; out=$(wrk --latency -d "$DURATION" "$@" "http://$addr" 2>&1)
  local rps p50 p99 bad
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out"); bad=${bad:-0}
  echo "$label $rps $p50 $p99 $bad"
}

part() { [[ ",$PARTS," == *",$1,"* ]]; }
if part favorites; then
echo "## Favorites (wrk -t1 -c16, add/list/check in turn), $ROUNDS rounds of $DURATION"
# PostgreSQL with the default pool (8 connections) and with 2 x this machine's cores (PostgreSQL's
# sizing advice; here the database, reelcache and wrk share those cores).
SMALL_POOL=$((2 * $(nproc)))
SQ=$(serve sqlite); PG1=$(serve pg1 REELCACHE_DATABASE_URL="$(fresh_db one)")
PGS=$(serve pgs REELCACHE_DATABASE_POOL_SIZE=$SMALL_POOL REELCACHE_DATABASE_URL="$(fresh_db small)")
TS=$(token "$SQ" ann); TP=$(token "$PG1" ann); TQ=$(token "$PGS" ann)
for r in $(seq "$ROUNDS"); do
  TOKEN=$TS load "R$r sqlite" "$SQ" -t1 -c16 -s bench/favorites.lua
  TOKEN=$TP load "R$r postgres,pool-8" "$PG1" -t1 -c16 -s bench/favorites.lua
  TOKEN=$TQ load "R$r postgres,pool-$SMALL_POOL" "$PGS" -t1 -c16 -s bench/favorites.lua
done
fi
if part three; then
echo "## Favorites on one PostgreSQL: three instances loaded at once (wrk -t1 -c16 each)"
DB3=$(fresh_db three); A=$(serve pg3a REELCACHE_DATABASE_URL="$DB3"); B=$(serve pg3b REELCACHE_DATABASE_URL="$DB3"); C=$(serve pg3c REELCACHE_DATABASE_URL="$DB3")
TA=$(token "$A" bob)
for r in $(seq "$ROUNDS"); do
  TOKEN=$TA load "R$r one-of-three-alone" "$A" -t1 -c16 -s bench/favorites.lua
  LOADS=()
  for x in A B C; do
    ( TOKEN=$TA load "R$r three-at-once:$x" "${!x}" -t1 -c16 -s bench/favorites.lua ) &
    LOADS+=($!)
  done
  wait "${LOADS[@]}"
done

fi
if part hits; then
echo "## Page hits read from Redis (hot tier off: every hit reads Redis; offline demo data; wrk -t1 over its 5 trending pages and 50 movies)"
cat > "$ROOT/pages.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then return wrk.format("GET", "/api/movies/trending/?page=" .. (n % 5 + 1)) end
  return wrk.format("GET", "/api/movies/" .. PATHS[n % #PATHS + 1] .. "/")
end
LUA
SINGLE_PID=${SOL_PIDS[-1]}   # the redis-server started above
CLUSTER_PIDS=("${SOL_PIDS[@]:1:6}")   # sol_postgres's postmaster first, then the six nodes
S0=$(serve single REELCACHE_CACHE_URL="redis://127.0.0.1:$RPORT/0" REELCACHE_CACHE_HOT_BYTES=0 REELCACHE_CACHE_REDIS_PREFIX=b1:)
C0=$(serve cluster REELCACHE_CACHE_URL="$CLUSTER_URL" REELCACHE_CACHE_HOT_BYTES=0 REELCACHE_CACHE_REDIS_PREFIX=b2:)
# The movies of the first trending pages (held by the demo data), for the script to ask for.
IDS=$(for p in 1 2 3; do curl -fs "http://$S0/api/movies/trending/?page=$p"; echo; done |
  python3 -c 'import json,sys; print(",".join(str(m["id"]) for l in sys.stdin if l.strip() for m in json.loads(l)["data"]))')
sed -i "1i PATHS = {$IDS}" "$ROOT/pages.lua"
for a in "$S0" "$C0"; do for p in 1 2 3 4 5; do curl -fs -o /dev/null "http://$a/api/movies/trending/?page=$p"; done; done
ticks() { local t=0 f; for p in "$@"; do read -r -a f < "/proc/$p/stat"; t=$((t + f[13] + f[14])); done; echo "$t"; }
hits() { # label addr connections redis-pids... -> load's line + CPU µs per hit (reelcache, Redis)
  local label=$1 addr=$2 conns=$3; shift 3
  local pid; pid=$(cat "$ROOT/${label%%,*}/pid")
  local t0 r0 line t1 r1 n
  t0=$(ticks "$pid"); r0=$(ticks "$@")
  line=$(load "$label" "$addr" -t1 -c"$conns" -s "$ROOT/pages.lua")
  t1=$(ticks "$pid"); r1=$(ticks "$@")
  n=$(awk -v d="${DURATION%s}" '{printf "%d", $2 * d}' <<<"$line")
  echo "$line cpu/hit reelcache $(( (t1 - t0) * 10000000 / n / 1000 ))µs redis $(( (r1 - r0) * 10000000 / n / 1000 ))µs"
}
for r in $(seq "$ROUNDS"); do
  for c in 1 32; do
    hits "single,c$c,R$r" "$S0" "$c" "$SINGLE_PID"
    hits "cluster,c$c,R$r" "$C0" "$c" "${CLUSTER_PIDS[@]}"
  done
done
fi
echo "(columns: round and target, req/s, p50, p99, non-2xx answers)"
