-- wrk script for bench/churn.sh: requests over ids spread across BENCH_SPAN (id = 1 + (k * 7919)
-- % BENCH_SPAN for the k-th request: every id of the span once before any twice when 7919 does
-- not divide it). churn.sh stops wrk (SIGINT) once the server has answered BENCH_N. One thread.
-- Environment: BENCH_PATH_FMT (one %d for the id), BENCH_N, BENCH_SPAN. done() prints one
-- "COUNT" line.
local fmt  = os.getenv("BENCH_PATH_FMT") or "/api/movies/%d/recommendations/"
local n    = tonumber(os.getenv("BENCH_N") or "100000")
local span = tonumber(os.getenv("BENCH_SPAN") or "30000")
local sent = 0

function request()
   local id = 1 + (sent * 7919) % span
   sent = sent + 1
   return wrk.format("GET", string.format(fmt, id))
end

function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   io.write(string.format("COUNT\trequests=%d\tseconds=%.1f\trps=%.0f\tp50_us=%d\tp99_us=%d\tnon2xx=%d\terrors=%d\n",
      summary.requests, secs, summary.requests / secs, latency:percentile(50), latency:percentile(99),
      summary.errors.status, summary.errors.connect + summary.errors.read
         + summary.errors.write + summary.errors.timeout))
end
