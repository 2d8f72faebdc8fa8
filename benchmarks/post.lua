-- wrk script: POST the request body in $BODY_FILE; print one JSON line of results at the end.
-- With VARY_ARTICLE=1 each request's article ends in a line of its own ("Ref. <id>-<n>.", the
-- form the fake LLM looks for: newsbrief_dev/fake_llm.py), so nothing
-- the service keeps per article text carries over from one request to the next, as with real
-- traffic, where articles differ.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = f:read("*a")
f:close()

if os.getenv("VARY_ARTICLE") == "1" then
  local head, tail = wrk.body:match('^(.*)("}}%s*)$')  -- the body is {"article": {"text": "…"}}
  assert(head, "VARY_ARTICLE needs a body that ends with the article text")
  local n = 0
  setup = function(thread) thread:set("first", math.random(1, 1000000000)) end
  request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, head .. "\\n\\nRef. " .. (first or 0) .. "-" .. n .. "." .. tail)
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"completed": %d, "errors": %d, "duration_s": %.3f, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f}\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
