-- Refresh-token grant with a fresh refresh token per request: rotation spends each one.
-- wrk -t N ... -s refresh.lua URL -- <token file> '<Authorization header value>' <N>
-- Thread k of N sends the lines k, k+N, k+2N ... of the token file. When its share is
-- spent it sends an unknown token, which answers 400 and shows up as "Non-2xx" (run.py
-- then rejects the run), so running out never passes silently.
local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

local tokens, position, headers = {}, 0, nil

function init(args)
  local stride = tonumber(args[3])
  local line_number = 0
  for line in io.lines(args[1]) do
    if line ~= "" then
      if line_number % stride == thread_index then
        tokens[#tokens + 1] = line
      end
      line_number = line_number + 1
    end
  end
  headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = args[2]}
end

function request()
  position = position + 1
  local token = tokens[position] or "spent"
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. token)
end
