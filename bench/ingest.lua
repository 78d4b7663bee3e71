-- wrk script of bench/run-events: POST batches to /v1/events with the key
-- BENCH_KEY. BENCH_BODY holds one {"events": [...]} body per line, each
-- with events of its own: the store pays for repeated index keys (FerretDB
-- inserts the same 500 events again at half the speed), so every request
-- sends new values, as bench/raw_insert does. Answers other than 201 are
-- reported so the run can refuse them.
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODY")) do
  bodies[#bodies + 1] = line
end
assert(#bodies > 0, "no bodies in BENCH_BODY")
local next_body = 0
local headers = { ["Content-Type"] = "application/json", ["X-Api-Key"] = os.getenv("BENCH_KEY") }

local threads = 0
function setup(thread)
  thread:set("offset", threads)
  threads = threads + 1
end

function request()
  next_body = next_body + 1
  local b = bodies[(next_body * 2 + (offset or 0)) % #bodies + 1]
  return wrk.format("POST", nil, headers, b)
end

local bad = 0
function response(status, headers, body)
  if status ~= 201 then
    bad = bad + 1
    if bad < 4 then io.stderr:write("answer " .. status .. ": " .. body .. "\n") end
  end
end
