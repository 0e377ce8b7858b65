-- Copied unchanged from ../shared/bench/lib/report.lua (the shared anchor harness).
-- wrk hook for run.sh: after the run, print one machine-readable line.
-- Latencies are in microseconds; they time request-sent to response-complete
-- (wrk does not include connect or TLS handshake time in them).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
