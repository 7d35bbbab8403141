-- POST a short two-message chat request; settings come from the environment:
--   BENCH_KEY (bearer key, may be empty), BENCH_MODEL (default gpt-4.1-nano),
--   BENCH_STREAM ("1" for stream=true), BENCH_PATH (default /v1/chat/completions),
--   BENCH_HEADERS ("name: value|name: value" extra headers, e.g. Portkey's routing headers).
-- done() prints one machine-readable line: BENCH_RESULT {json}.

local key = os.getenv("BENCH_KEY") or ""
local model = os.getenv("BENCH_MODEL") or "gpt-4.1-nano"
local stream = os.getenv("BENCH_STREAM") == "1"
local extra = os.getenv("BENCH_HEADERS") or ""

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "switchyard-bench/1"
if key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
for pair in string.gmatch(extra, "[^|]+") do
  local name, value = string.match(pair, "^%s*([^:]+):%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
end

wrk.body = '{"model":"' .. model .. '","messages":['
  .. '{"role":"system","content":"You are a concise assistant."},'
  .. '{"role":"user","content":"Say hello in French."}]'
  .. (stream and ',"stream":true' or '') .. '}'

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
    .. '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,'
    .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
