-- POST one fixed form body with one Authorization header.
-- wrk ... -s post.lua URL -- '<form body>' '<Authorization header value>'
local req

function init(args)
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = args[2]}
  req = wrk.format("POST", nil, headers, args[1])
end

function request()
  return req
end
