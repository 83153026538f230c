-- wrk script for bench/scale.sh: rotate over BENCH_N keys spread across a store of BENCH_SPAN
-- ids (id = 1 + (k * 7919) % BENCH_SPAN), so reads touch the whole store, not one corner of it.
-- Environment: BENCH_PATH_FMT (one %d for the id), BENCH_N, BENCH_SPAN. done() prints one
-- "SCALE" line with latencies in microseconds.
local fmt  = os.getenv("BENCH_PATH_FMT") or "/api/movies/%d/"
local n    = tonumber(os.getenv("BENCH_N") or "1000")
local span = tonumber(os.getenv("BENCH_SPAN") or "1000")

local reqs = {}
local i = 0

function init(args)
   for k = 0, n - 1 do
      reqs[k] = wrk.format("GET", string.format(fmt, 1 + (k * 7919) % span))
   end
end

function request()
   local r = reqs[i]
   i = i + 1
   if i == n then i = 0 end
   return r
end

function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   io.write(string.format("SCALE\trps=%.0f\tp50_us=%d\tp99_us=%d\tnon2xx=%d\terrors=%d\n",
      summary.requests / secs, latency:percentile(50), latency:percentile(99),
      summary.errors.status, summary.errors.connect + summary.errors.read
         + summary.errors.write + summary.errors.timeout))
end
