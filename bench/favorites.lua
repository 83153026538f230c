-- wrk script for bench/scale-out.sh: a signed-in user's favorites, as a front end uses them.
-- Each request is, in turn, an add (of a random movie, so most are new rows), the first page of
-- the list, and a check of one movie. TOKEN (an access token) comes from the environment.
local token = os.getenv("TOKEN")
local n = 0
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)

request = function()
  n = n + 1
  local headers = { ["Authorization"] = "Bearer " .. token }
  local kind = n % 3
  if kind == 0 then
    headers["Content-Type"] = "application/json"
    local id = math.random(1, 1000000)
    return wrk.format("POST", "/api/users/favorites/add/", headers,
      '{"tmdb_id": ' .. id .. ', "title": "Movie ' .. id .. '"}')
  elseif kind == 1 then
    return wrk.format("GET", "/api/users/favorites/", headers)
  else
    return wrk.format("GET", "/api/users/favorites/check/" .. math.random(1, 1000000) .. "/", headers)
  end
end

-- Non-2xx answers are counted by wrk ("Non-2xx or 3xx responses"); the script prints nothing.
