-- wrk script for tests.bench.pages: POST a new post with a fresh idempotency key each time.
-- Arguments (after --): path, cookie header value, csrf token, url-encoded body text.
local threads = {}
local counter = 0
local prefix = ""

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

function init(args)
  path, cookie, csrf, body = args[1], args[2], args[3], args[4]
  math.randomseed(os.time() * 1000 + (thread_no or 0))
  prefix = string.format("wrk%d-%d-%d", thread_no or 0, os.time(), math.random(1, 1000000000))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = cookie
end

function request()
  counter = counter + 1
  -- Unique per thread (thread number, start time, random) and per request (counter).
  local key = prefix .. "-" .. counter
  local form = "csrf_token=" .. csrf .. "&idempotency_key=" .. key .. "&body=" .. body .. "+" .. counter
  return wrk.format("POST", path, nil, form)
end
