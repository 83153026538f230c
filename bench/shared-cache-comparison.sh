#!/usr/bin/env bash
# Hit-path benchmark of reelcache against nginx proxy_cache, Varnish and nginx static files, in
# one run on this machine, with the shared harness (../shared/bench/run.sh: installs nginx,
# varnish and wrk with apt-get when missing; loopback only; about 5 minutes), at wrk -t1 -c32,
# -t2 -c64 and -t2 -c256, with reelcache's misses and hits one request at a time beside theirs.
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
# The shared harness, as it is, plus two things issue 21 asks of the same run (patched into a
# private copy, so every row still comes from one run): a round at `wrk -t2 -c256` after the
# `-t2 -c64` one, and reelcache in the one-request-at-a-time miss/hit table (cold pages 401..500
# of the harness's origin would be the slow ones: reelcache takes 211..310, which nothing else
# reads). The copy lives in the run's temporary directory.
# (Readable by the servers' own users: varnishd reads its VCL as vcache.)
COPY=$(mktemp -d /tmp/rc-harness.XXXXXX)
chmod 755 "$COPY"
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA" "$COPY"' EXIT
cp -r "$(dirname "$HARNESS")"/. "$COPY"
chmod -R a+rX "$COPY"
python3 - "$COPY" <<'PATCH'
import sys, re
d = sys.argv[1]
run = open(f"{d}/run.sh").read()
old = 'for i in $(seq 0 $((NT - 1))); do measure R1 "$i" 2 64; sleep 1; done\n'
assert old in run, "run.sh changed: the -t2 -c64 round is not where it was"
run = run.replace(old, old + 'for i in $(seq 0 $((NT - 1))); do measure R1 "$i" 2 256; sleep 1; done\n')
old = 'curl_pass "$O_BASE" "$TMDB_FMT" 201 300 "$OUT/raw/lat_origin_direct2.txt"\n'
assert old in run, "run.sh changed: the miss table's last pass is not where it was"
extra = ('for i in $(seq 3 $((NT - 1))); do\n'
         '  curl_pass "${T_BASE[$i]}" "${T_FMT[$i]}" 211 310 "$OUT/raw/lat_${T_NAME[$i]}_miss.txt"\n'
         '  curl_pass "${T_BASE[$i]}" "${T_FMT[$i]}" 211 310 "$OUT/raw/lat_${T_NAME[$i]}_hit.txt"\n'
         'done\n')
run = run.replace(old, extra + old)
open(f"{d}/run.sh", "w").write(run)
summ = open(f"{d}/summarize.py").read()
old = '(("t1c32", tuple(["R1"] + r2)), ("t2c64", ("R1",)))'
assert old in summ, "summarize.py changed: the shapes are not where they were"
summ = summ.replace(old, '(("t1c32", tuple(["R1"] + r2)), ("t2c64", ("R1",)), ("t2c256", ("R1",)))')
old = '                 ("origin direct again, after the above", "lat_origin_direct2.txt")]'
assert old in summ, "summarize.py changed: the latency table is not where it was"
summ = summ.replace(old, '                 ("reelcache MISS", "lat_reelcache_miss.txt"),\n'
                         '                 ("reelcache HIT", "lat_reelcache_hit.txt"),\n' + old)
old = 'for name in ("nginx proxy_cache", "varnish"):'
assert old in summ, "summarize.py changed: the miss-cost lines are not where they were"
summ = summ.replace(old, 'for name in ("nginx proxy_cache", "varnish", "reelcache"):')
open(f"{d}/summarize.py", "w").write(summ)
PATCH
bash "$COPY/run.sh" --passes 6 --duration 5s --extra reelcache=http://127.0.0.1:18090 "$@"
