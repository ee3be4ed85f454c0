-- POST the allauth login form, one user after another; count answers that are not the
-- 302 of a successful sign-in. wrk ... -s login.lua URL -- USERS PASSWORD CSRF
local users, password, csrf, n = 0, "", "", 0
failed = 0 -- global: done() reads it from each thread
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  users, password, csrf = tonumber(args[1]), args[2], args[3]
  n = math.random(users) - 1
end

local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  n = (n + 1) % users
  local body = "csrfmiddlewaretoken=" .. csrf .. "&login=" .. escape("reader" .. n .. "@bench.example")
    .. "&password=" .. escape(password)
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "csrftoken=" .. csrf,
  }
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status ~= 302 then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get("failed") or 0)
  end
  io.write(string.format("NOT_302 %d\n", total))
end
