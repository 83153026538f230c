#!/usr/bin/env bash
# Misses, cold-key herds and stored size of reelcache against the shared harness's origin, measured
# the way ../shared/bench/run.sh measures nginx and Varnish (sequential curl for misses; 32 simultaneous
# curl requests per cold key, origin taking 100 ms, for the herd). Loopback only; ~30 s.
# usage: bench/cold-path.sh [BINARY]   (needs nginx, curl, python3; run.sh installs them)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
[ -f "$SHARED/nginx-origin.conf" ] || { echo "shared bench not found: $SHARED" >&2; exit 1; }
SHARED=$(cd "$SHARED" && pwd)
export PATH=$PATH:/usr/sbin:/sbin
for c in nginx curl python3; do command -v $c >/dev/null || { echo "missing $c (run ../shared/bench/run.sh once, it installs it)" >&2; exit 1; }; done

BIN=${1:-}
if [ -z "$BIN" ]; then cargo build --release -q; BIN=target/release/reelcache; fi
RUN=$(mktemp -d /tmp/rc-cold.XXXXXX)
chmod 755 "$RUN"   # nginx workers (www-data) read the pages
mkdir -p "$RUN/logs"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$RUN"' EXIT
python3 "$SHARED/gen_pages.py" "$RUN/pages" --pages 500 2>/dev/null
nginx -p "$RUN/" -c "$SHARED/nginx-origin.conf" -g 'daemon off;' >"$RUN/logs/nginx.out" 2>&1 & PIDS+=($!)
python3 "$SHARED/slow_origin.py" "$RUN/pages" --port 18084 --delay-ms 100 >"$RUN/logs/slow.out" 2>&1 & PIDS+=($!)
RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:18080/3 REELCACHE_CLIENT_RPS=0 REELCACHE_MAX_CONNECTIONS_PER_CLIENT=4096 \
  REELCACHE_TMDB_RPS=100000 REELCACHE_PREFETCH=false \
  "$BIN" serve --listen 127.0.0.1:18095 --data-dir "$RUN/data" >"$RUN/stdout" 2>"$RUN/stderr" & PIDS+=($!)
for _ in $(seq 100); do grep -q '^listening on' "$RUN/stdout" 2>/dev/null && [ -s "$RUN/logs/nginx.out" -o -e "$RUN/nginx-origin.pid" ] && break; sleep 0.1; done
sleep 0.5

ORIGIN=http://127.0.0.1:18080/3/trending/movie/day?page=
OURS='http://127.0.0.1:18095/api/movies/trending/?time_window=day&page='
pass() { # base first last -> one time_total (s) per line
  local cfg; cfg=$(mktemp "$RUN/cfg.XXXXXX")
  for ((n = $2; n <= $3; n++)); do printf 'url = "%s%d"\noutput = "/dev/null"\n' "$1" "$n"; done > "$cfg"
  curl -s -K "$cfg" -w '%{time_total} %{http_code} %header{x-cache}\n' | tee -a "$RUN/passes.txt" | cut -d' ' -f1
}
median_ms() { sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]*1000}'; }
origin_count() { wc -l < "$RUN/logs/origin-access.log" 2>/dev/null || echo 0; }

pass "$ORIGIN" 111 200 >/dev/null                      # wake the loopback path up
direct=$(pass "$ORIGIN" 201 300 | median_ms)
miss=$(pass "$OURS" 201 300 | median_ms)
hit=$(pass "$OURS" 201 300 | median_ms)
hits=$(tail -100 "$RUN/passes.txt" | grep -c ' HIT' || true)
direct2=$(pass "$ORIGIN" 201 300 | median_ms)
echo "misses (sequential curl, 100 cold pages, medians):"
echo "  origin direct ${direct} / ${direct2} ms   reelcache miss ${miss} ms   reelcache hit ${hit} ms ($hits/100 X-Cache: HIT)"
awk -v m="$miss" -v d="$direct" -v d2="$direct2" 'BEGIN {o = (d < d2 ? d : d2); printf "  miss overhead over the origin: %.3f ms\n", m - o}'

echo "cold-key herd: 32 simultaneous requests per key, origin 100 ms (pages 496..500):"
for page in 496 497 498 499 500; do
  before=$(origin_count)
  cfg=$(mktemp "$RUN/cfg.XXXXXX")
  for _ in $(seq 32); do printf 'url = "%s%d"\noutput = "/dev/null"\n' "$OURS" "$page"; done > "$cfg"
  times=$(curl -s --no-progress-meter -Z --parallel-immediate --parallel-max 32 -K "$cfg" -w '%{http_code} %{time_total}\n' 2>/dev/null)
  sleep 0.2
  after=$(origin_count)
  ok=$(grep -c '^200 ' <<<"$times" || true)
  max=$(awk '{print $2}' <<<"$times" | sort -n | tail -1)
  med=$(awk '{print $2}' <<<"$times" | median_ms)
  printf '  page %d: %d/32 answered 200, origin fetches %d, waiter median %s ms, slowest %.1f ms\n' \
    "$page" "$ok" "$((after - before))" "$med" "$(awk -v m="$max" 'BEGIN {print m * 1000}')"
done

# What the 105 pages fetched above take in the store, once re-encoded (the server is quiet now):
# stored envelope bytes / raw JSON bytes of the payloads, from the server's own counters.
sleep 1
metric() { curl -s http://127.0.0.1:18095/metrics | awk -v m="$1" '$1 == m {print $2}'; }
stored=$(metric reelcache_stored_compressed_bytes_total)
raw=$(metric reelcache_stored_raw_bytes_total)
echo "stored bytes / raw JSON bytes of these pages: $(awk -v s="$stored" -v r="$raw" 'BEGIN {printf "%.3f (%d of %d)", s / r, s, r}')"
