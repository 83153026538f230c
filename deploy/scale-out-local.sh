#!/usr/bin/env bash
# The scaled-out topology on one machine, for trying it (and for tests): PostgreSQL for the
# accounts, a six-node Redis Cluster (three primaries, a replica each) for the pages, and N
# reelcache instances sharing both, each on its own data directory and port. Everything runs on
# 127.0.0.1, on free ports, in one temporary directory, and is stopped (by PID) when this script
# ends. The instances serve the built-in demo data offline unless TMDB_API_KEY is set.
#
# usage: deploy/scale-out-local.sh [--instances N] [--check]
#   --check  runs a short check across the instances (register on one, log in on another, a
#            favorite added through a third and seen on the first, pages everywhere), then stops
#   without  prints the addresses and runs until Ctrl-C
# Needs root (PostgreSQL runs as the postgres user), Debian's postgresql and redis-server
# (with redis-cli), curl, python3, and `reelcache` on PATH (or REELCACHE_BIN).
#
# Sourced (`source deploy/scale-out-local.sh`), it only defines the functions, for
# bench/scale-out.sh.
set -euo pipefail

SOL_PIDS=()
sol_stop() {
  # Instances are started inside $(...), a subshell: their PIDs are in files, not in SOL_PIDS.
  local pids=("${SOL_PIDS[@]}")
  if [ -n "${SOL_ROOT:-}" ]; then
    for f in "$SOL_ROOT"/*/pid; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
  fi
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ -n "${SOL_ROOT:-}" ]; then rm -rf "$SOL_ROOT"; fi
}
sol_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sol_wait() { local end=$(( SECONDS + $1 )); shift; until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $end ] || { echo "timed out: $*" >&2; return 1; }; sleep 0.05; done; }

# A temporary directory for everything (owned by postgres, which must write its data there).
sol_root() {
  SOL_ROOT=$(mktemp -d /tmp/reelcache-scale-out.XXXXXX)
  chown postgres:postgres "$SOL_ROOT"
}

# PostgreSQL with a password (sets SOL_PGURL: a server URL without a database, SOL_PGBIN).
sol_postgres() {
  SOL_PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  local port; port=$(sol_port)
  echo local-scale-out-pass > "$SOL_ROOT/pgpass"
  setpriv --reuid=postgres --regid=postgres --init-groups -- "$SOL_PGBIN/initdb" -D "$SOL_ROOT/pg" \
    -U reelcache --pwfile="$SOL_ROOT/pgpass" --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  setpriv --reuid=postgres --regid=postgres --init-groups -- "$SOL_PGBIN/postgres" -D "$SOL_ROOT/pg" \
    -p "$port" -k "$SOL_ROOT" -c listen_addresses=127.0.0.1 >"$SOL_ROOT/postgres.log" 2>&1 &
  SOL_PIDS+=($!)
  sol_wait 20 "$SOL_PGBIN/pg_isready" -h 127.0.0.1 -p "$port" -U reelcache -d postgres
  SOL_PGURL=postgres://reelcache:local-scale-out-pass@127.0.0.1:$port
}

# A new database on it; prints its URL.
sol_database() {
  PGPASSWORD=local-scale-out-pass "$SOL_PGBIN/psql" -X -q "$SOL_PGURL/postgres?sslmode=disable" \
    -c "CREATE DATABASE $1" >&2
  echo "$SOL_PGURL/$1?sslmode=disable"
}

# A six-node Redis Cluster (sets SOL_CLUSTER_URL, SOL_CLUSTER_PORTS).
sol_cluster() {
  SOL_CLUSTER_PORTS=()
  for _ in 1 2 3 4 5 6; do
    local p b; p=$(sol_port); b=$(sol_port); SOL_CLUSTER_PORTS+=("$p"); mkdir -p "$SOL_ROOT/redis-$p"
    redis-server --port "$p" --cluster-port "$b" --bind 127.0.0.1 --save '' --appendonly no \
      --cluster-enabled yes --cluster-node-timeout 1000 --cluster-config-file nodes.conf \
      --cluster-require-full-coverage no --repl-diskless-sync-delay 0 \
      --maxmemory 256mb --maxmemory-policy allkeys-lru --dir "$SOL_ROOT/redis-$p" >/dev/null &
    SOL_PIDS+=($!)
  done
  for p in "${SOL_CLUSTER_PORTS[@]}"; do sol_wait 10 redis-cli -p "$p" ping; done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${SOL_CLUSTER_PORTS[@]}") \
    --cluster-replicas 1 --cluster-yes >/dev/null
  sol_cluster_ok() { for p in "${SOL_CLUSTER_PORTS[@]}"; do redis-cli -p "$p" cluster info | grep -q '^cluster_state:ok' || return 1; done; }
  sol_wait 30 sol_cluster_ok
  SOL_CLUSTER_URL="redis+cluster://127.0.0.1:${SOL_CLUSTER_PORTS[0]},127.0.0.1:${SOL_CLUSTER_PORTS[1]},127.0.0.1:${SOL_CLUSTER_PORTS[2]}"
}

# One reelcache instance named $1 with extra environment; prints its address.
sol_instance() {
  local dir="$SOL_ROOT/$1"; shift; mkdir -p "$dir"
  env -i PATH="$PATH" RUST_LOG="${RUST_LOG:-warn}" ${TMDB_API_KEY:+TMDB_API_KEY=$TMDB_API_KEY} \
    "$@" "${REELCACHE_BIN:-reelcache}" --data-dir "$dir/data" --listen 127.0.0.1:0 \
    >"$dir/stdout" 2>"$dir/stderr" &
  echo $! > "$dir/pid"
  sol_wait 60 grep -q '^listening on' "$dir/stdout" || { cat "$dir/stderr" >&2; return 1; }
  sed -n 's|^listening on http://||p' "$dir/stdout"
}

sol_main() {
  local n=3 check=false
  while [ $# -gt 0 ]; do
    case $1 in
      --instances) n=$2; shift 2 ;;
      --check) check=true; shift ;;
      *) echo "usage: $0 [--instances N] [--check]" >&2; exit 2 ;;
    esac
  done
  [ "$(id -u)" = 0 ] || { echo "run as root: PostgreSQL is started as the postgres user" >&2; exit 2; }
  trap sol_stop EXIT
  sol_root
  sol_postgres
  sol_cluster
  local db secret addrs=()
  db=$(sol_database reelcache)
  # One signing secret for every instance (they refuse to start on PostgreSQL without one).
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  for i in $(seq "$n"); do
    addrs+=("$(sol_instance "instance-$i" REELCACHE_DATABASE_URL="$db" \
      REELCACHE_CACHE_URL="$SOL_CLUSTER_URL" REELCACHE_JWT_SECRET="$secret")")
  done
  echo "PostgreSQL: ${SOL_PGURL%%:local-scale-out-pass@*}:REDACTED@${SOL_PGURL##*@}/reelcache"
  echo "Redis Cluster: $SOL_CLUSTER_URL"
  for i in "${!addrs[@]}"; do echo "instance $((i + 1)): http://${addrs[$i]}"; done
  if ! $check; then
    echo "running; Ctrl-C stops everything"
    wait
    return
  fi
  local first=${addrs[0]} second=${addrs[1 % n]} third=${addrs[2 % n]} json access status
  curl -fsS -X POST "http://$first/api/users/register/" -H 'content-type: application/json' \
    -d '{"username":"demo","password":"password123"}' >/dev/null
  json=$(curl -fsS -X POST "http://$second/api/users/login/" -H 'content-type: application/json' \
    -d '{"username":"demo","password":"password123"}')
  access=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access"])' "$json")
  curl -fsS -X POST "http://$third/api/users/favorites/add/" -H "authorization: Bearer $access" \
    -H 'content-type: application/json' -d '{"tmdb_id":550,"title":"Fight Club"}' >/dev/null
  curl -fsS "http://$first/api/users/favorites/check/550/" -H "authorization: Bearer $access" \
    | grep -q '"is_favorite":true' || { echo "check failed: the favorite is not seen on another instance" >&2; exit 1; }
  for addr in "${addrs[@]}"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/api/movies/trending/?page=2")
    [ "$status" = 200 ] || { echo "check failed: trending on $addr answered $status" >&2; exit 1; }
    curl -fsS "http://$addr/health/" | grep -q '"topology":"cluster"' \
      || { echo "check failed: $addr is not on the cluster" >&2; exit 1; }
  done
  echo "check passed: $n instances share accounts (PostgreSQL) and pages (Redis Cluster)"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  sol_main "$@"
fi
