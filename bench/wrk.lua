-- wrk script of the benchmark harness (bench/run).
--
-- BENCH_CONNECT (required): the address wrk connects to, e.g. 127.0.0.1.
--   The URL's host name stays what wrk sends as Host and as TLS SNI, so
--   that every proxy sees the same request whatever /etc/hosts says.
-- BENCH_RUN: a number that differs from run to run.
-- BENCH_PATHS (optional): a file of request paths, one a line; each request
--   takes the next one, cycling, from a place that BENCH_RUN picks (the
--   Zipf case).
-- BENCH_UNIQUE (optional): when set, each request gets a query string of
--   its own, unique across runs (the MISS case: no proxy can collapse the
--   requests into one).
-- Otherwise every request is the URL's. done() prints one line
-- "BENCH-RESULT {json}" that the harness parses.

local connect = os.getenv("BENCH_CONNECT")
local run = tonumber(os.getenv("BENCH_RUN") or "0")

function wrk.resolve(host, service)
   wrk.addrs = wrk.lookup(connect or host, service)
end

local paths = os.getenv("BENCH_PATHS")
if paths and paths ~= "" then
   local reqs, n, i = {}, 0, 0

   function init(args)
      for line in io.lines(paths) do
         n = n + 1
         reqs[n] = wrk.format(nil, line)
      end
      if n == 0 then
         error("BENCH_PATHS " .. paths .. " holds no path")
      end
      i = run % n
   end

   function request()
      i = i % n + 1
      return reqs[i]
   end
elseif os.getenv("BENCH_UNIQUE") then
   local n = 0
   local prefix

   function init(args)
      local sep = wrk.path:find("?", 1, true) and "&" or "?"
      prefix = wrk.path .. sep .. "u=" .. string.format("%d", run) .. "-"
   end

   function request()
      n = n + 1
      return wrk.format(nil, prefix .. n)
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH-RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
      '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max))
end
