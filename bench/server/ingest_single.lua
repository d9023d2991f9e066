-- One prediction event per request, each with a unique id (thread id + counter).
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("tid", math.random(1, 1000000000))
end
function init(args)
  thread_id = tid
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"id": "w%d-%d", "model": "ext", "version": "v1", "label": %d, "score": 0.%d}',
    thread_id, counter, counter % 2, counter % 10)
  return wrk.format("POST", "/v1/predictions", {["Content-Type"] = "application/json"}, body)
end
