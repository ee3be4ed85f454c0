-- GET with one Authorization header.
-- wrk ... -s get.lua URL -- '<Authorization header value>'
local req

function init(args)
  req = wrk.format("GET", nil, {["Authorization"] = args[1], ["Accept"] = "application/json"})
end

function request()
  return req
end
