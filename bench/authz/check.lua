-- wrk script for bench/authz: POSTs OpenFGA check bodies read from the
-- file named by BODIES (one JSON body per line), round robin, with the
-- bearer token from TOKEN. Each thread starts at its own offset.
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
local path = os.getenv("CHECK_PATH")
local token = os.getenv("TOKEN")
local i = 0
local denied = 0
function setup(thread)
  thread:set("offset", math.random(#bodies))
end
function init(args)
  i = offset or 0
end
function request()
  i = i % #bodies + 1
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, bodies[i])
end
function response(status, headers, body)
  if status ~= 200 then denied = denied + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("WRK %d %d %.1f %.1f %.1f %d\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99),
    summary.requests / (summary.duration / 1e6), summary.errors.status))
end
