-- The Lua (WSAPI) app of test_modes (uwsgi --plugin lua51 --lua app.lua,
-- with http-socket-modifier1 = 6): the same routes as modes_app.py. /raise
-- calls error(): the lua plugin answers 500 and does not count an exception
-- in uWSGI.
local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

return function(wsapi_env)
  local path = wsapi_env.PATH_INFO
  if path == "/raise" then error("the modes app raised on purpose") end
  local headers = { ["Content-Type"] = "text/plain" }
  if path == "/missing" then
    return 404, headers, coroutine.wrap(function() coroutine.yield("not found\n") end)
  end
  if path == "/hold" then
    local q = wsapi_env.QUERY_STRING
    if q == nil or q == "" then q = "release" end
    local release = os.getenv("MODES_DIR") .. "/" .. q
    local deadline = os.time() + 60
    while not exists(release) do
      if os.time() > deadline then
        return 504, headers, coroutine.wrap(function() coroutine.yield("never released\n") end)
      end
      os.execute("sleep 0.05") -- Lua 5.1 has no sleep of its own
    end
  end
  local len = tonumber(wsapi_env.CONTENT_LENGTH) or 0
  local body = ""
  if len > 0 then body = wsapi_env.input:read(len) end
  return 200, headers, coroutine.wrap(function()
    coroutine.yield("hello from lua, " .. #body .. " bytes received\n")
  end)
end
