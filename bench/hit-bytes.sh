#!/usr/bin/env bash
# Image hits, page hits and compressed page hits (gzip, zstd) against nginx's static files, in one
# run: server CPU per request and per KB sent. 100 poster-sized files (35 KB, JPEG magic then incompressible bytes, like TMDB's w342
# posters) and the shared harness's 100 TMDB-shaped pages, served by one nginx as the origin and as
# the static-file ceiling; reelcache fetches both through its caches once, then wrk (-t1 -c32,
# rotating over the 100 keys, interleaved passes) loads each of the four targets in turn.
# Loopback only; about 2 minutes.
# usage: bench/hit-bytes.sh [BINARY]    (needs nginx, wrk, python3; ../shared/bench/run.sh installs them)
#        PASSES=3 DURATION=5s bench/hit-bytes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/bench}
SHARED=$(cd "$SHARED" && pwd)
export PATH=$PATH:/usr/sbin:/sbin
for c in nginx wrk curl python3; do command -v $c >/dev/null || { echo "missing $c (run ../shared/bench/run.sh once, it installs it)" >&2; exit 1; }; done
PASSES=${PASSES:-3}
DURATION=${DURATION:-5s}

BIN=${1:-}
if [ -z "$BIN" ]; then cargo build --release -q; BIN=target/release/reelcache; fi
RUN=$(mktemp -d /tmp/rc-images.XXXXXX)
chmod 755 "$RUN"
mkdir -p "$RUN/logs" "$RUN/root/t/p/w342" "$RUN/root/3/trending/movie"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$RUN"' EXIT

python3 "$SHARED/gen_pages.py" "$RUN/pages" --pages 100 2>/dev/null
python3 - "$RUN/root/t/p/w342" <<'EOF'
import os, random, sys
rng = random.Random(7)
for n in range(1, 101):
    body = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(rng.getrandbits(8) for _ in range(35 * 1024 - 11))
    open(os.path.join(sys.argv[1], f"p{n}.jpg"), "wb").write(body)
EOF
cat > "$RUN/nginx.conf" <<EOF
worker_processes auto;
pid $RUN/nginx.pid;
error_log $RUN/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    types { image/jpeg jpg; }
    default_type application/json;
    sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_timeout 65; keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;
    access_log off;
    map \$arg_page \$page_file { "~^(?<n>[1-9][0-9]{0,2})\$" /day/\$n.json; default /nonexistent; }
    server {
        listen 127.0.0.1:18180 reuseport;
        location /t/p/ { root $RUN/root; }
        location = /3/trending/movie/day { root $RUN/pages; try_files \$page_file =404; }
        location / { return 404; }
    }
}
EOF
nginx -p "$RUN/" -c "$RUN/nginx.conf" -g 'daemon off;' >"$RUN/logs/nginx.out" 2>&1 & PIDS+=($!)
NGINX_MASTER=$!
RUST_LOG=warn TMDB_API_KEY=x TMDB_BASE_URL=http://127.0.0.1:18180/3 \
  REELCACHE_IMAGES_BASE_URL=http://127.0.0.1:18180/t/p/ \
  REELCACHE_CLIENT_RPS=0 REELCACHE_MAX_CONNECTIONS_PER_CLIENT=4096 REELCACHE_TMDB_RPS=100000 \
  REELCACHE_PREFETCH=false REELCACHE_CHANGES_EVERY=0 REELCACHE_WARM_EVERY=0 \
  "$BIN" serve --listen 127.0.0.1:18190 --data-dir "$RUN/data" >"$RUN/stdout" 2>"$RUN/stderr" & PIDS+=($!)
RC=$!
for _ in $(seq 100); do grep -q '^listening on' "$RUN/stdout" 2>/dev/null && [ -e "$RUN/nginx.pid" ] && break; sleep 0.1; done
sleep 0.3

# Fill reelcache's caches (and check the second read is a hit).
for n in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:18190/api/images/w342/p$n.jpg"
  curl -s -o /dev/null "http://127.0.0.1:18190/api/movies/trending/?time_window=day&page=$n"
  for coding in gzip zstd; do   # each coding made once, before the measurements
    curl -s -o /dev/null -H "Accept-Encoding: $coding" "http://127.0.0.1:18190/api/movies/trending/?time_window=day&page=$n"
  done
done
curl -s -o /dev/null -D - "http://127.0.0.1:18190/api/images/w342/p1.jpg" | grep -qi '^x-cache: HIT' || { echo "image not a hit" >&2; exit 1; }

ticks() { # CPU ticks of the given pids (all threads), summed
  local t=0; for p in "$@"; do [ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t
}
nginx_pids() { echo "$NGINX_MASTER $(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')"; }
HZ=$(getconf CLK_TCK)

# name port accept-encoding fmt
TARGETS=(
  "ceiling-images 18180 - /t/p/w342/p%d.jpg"
  "reelcache-images 18190 - /api/images/w342/p%d.jpg"
  "ceiling-pages 18180 - /3/trending/movie/day?page=%d"
  "reelcache-pages 18190 - /api/movies/trending/?time_window=day&page=%d"
  "reelcache-pages-gzip 18190 gzip /api/movies/trending/?time_window=day&page=%d"
  "reelcache-pages-zstd 18190 zstd /api/movies/trending/?time_window=day&page=%d"
)
measure() { # name port accept-encoding fmt -> one result line
  local name=$1 port=$2 coding=$3 fmt=$4 pids before after out header=()
  [ "$coding" = - ] || header=(-H "Accept-Encoding: $coding")
  if [ "$port" = 18190 ]; then pids=$RC; else pids=$(nginx_pids); fi
  before=$(ticks $pids)
  out=$(BENCH_PATH_FMT="$fmt" BENCH_N=100 BENCH_TAG=$name wrk -t1 -c32 -d"$DURATION" "${header[@]}" -s "$SHARED/pages.lua" "http://127.0.0.1:$port" | grep '^BENCH')
  after=$(ticks $pids)
  echo "$out	cpu_s=$(echo "scale=3; ($after - $before) / $HZ" | bc)"
}
for t in "${TARGETS[@]}"; do measure $t >/dev/null; done   # warm-up
: > "$RUN/results.tsv"
for pass in $(seq "$PASSES"); do
  for t in "${TARGETS[@]}"; do measure $t | tee -a "$RUN/results.tsv"; done
done
grep -c . "$RUN/results.tsv" >/dev/null

python3 - "$RUN/results.tsv" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.strip().split("\t")[1:])
    rows.setdefault(f["tag"], []).append(f)
def med(tag, fn):
    return statistics.median(fn(r) for r in rows[tag])
per_req = lambda r: float(r["cpu_s"]) / int(r["requests"]) * 1e6
per_kb = lambda r: float(r["cpu_s"]) / (int(r["requests"]) * float(r["bytes_per_req"]) / 1024) * 1e6
print("\n| target | req/s | KB/request | p99 ms | server CPU µs/request | server CPU µs/KB |")
print("|---|---|---|---|---|---|")
for tag in ["ceiling-images", "reelcache-images", "ceiling-pages", "reelcache-pages", "reelcache-pages-gzip", "reelcache-pages-zstd"]:
    print(f"| {tag} | {med(tag, lambda r: float(r['rps'])):,.0f} | {med(tag, lambda r: float(r['bytes_per_req']))/1024:.1f} | "
          f"{med(tag, lambda r: int(r['p99_us']))/1000:.2f} | {med(tag, per_req):.1f} | {med(tag, per_kb):.2f} |")
img, page = med("reelcache-images", per_kb), med("reelcache-pages", per_kb)
ci, cp = med("ceiling-images", per_kb), med("ceiling-pages", per_kb)
print(f"\nreelcache CPU per KB: image hit {img:.2f} µs, page hit {page:.2f} µs: image ÷ page = {img/page:.2f}")
print(f"as a multiple of the ceiling's CPU per KB for the same bytes: images {img/ci:.2f}×, pages {page/cp:.2f}×")
for tag in ["reelcache-pages-gzip", "reelcache-pages-zstd"]:
    print(f"{tag}: CPU per hit {med(tag, per_req):.1f} µs against {med('reelcache-pages', per_req):.1f} µs uncompressed "
          f"(× {med(tag, per_req)/med('reelcache-pages', per_req):.2f}), "
          f"{med(tag, lambda r: float(r['bytes_per_req']))/1024:.1f} KB on the wire against {med('reelcache-pages', lambda r: float(r['bytes_per_req']))/1024:.1f}")
print(f"(medians of {len(rows['reelcache-images'])} interleaved passes)")
EOF
