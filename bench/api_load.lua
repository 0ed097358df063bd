-- wrk script of bench/api.py --postgres: the load of one endpoint on two server processes.
--
--   ATENDO_BENCH_SECOND_PORT=PORT2 wrk -t2 -c8 -d20s --timeout 60s -s bench/api_load.lua \
--       http://127.0.0.1:PORT1 -- TOKEN COOKIE KIND DIALOGS BASE
--
-- Odd threads talk to PORT1, even ones to PORT2 (setup(), which sees no script arguments,
-- gives each thread its address) (setup() gives each thread its address), so the
-- connections are spread over both processes and wrk merges their latencies in one histogram.
-- KIND picks the endpoint; the random parts (a dialog id, a client's name) are drawn per
-- request with a seed of each thread's own. done() prints one line the bench parses.

local threads = 0
local second = nil

function setup(thread)
  threads = threads + 1
  if threads % 2 == 0 then
    if second == nil then
      second = wrk.lookup(wrk.host, os.getenv("ATENDO_BENCH_SECOND_PORT"))[1]
    end
    thread.addr = second
  end
  thread:set("seed", threads)
end

local token, cookie, kind, dialogs, base
local paths = {
  healthz = function() return "/healthz" end,
  dialogs = function() return "/v1/dialogs?limit=20" end,
  messages = function() return "/v1/messages?dialog_id=" .. math.random(1, dialogs) end,
  clients = function() return "/v1/clients?limit=20" end,
  clients_search = function()
    return string.format("/v1/clients?search=client%%20%06d", math.random(0, base - 1))
  end,
  dialogs_q = function()
    return string.format("/v1/dialogs?q=client%%20%06d", math.random(0, base - 1))
  end,
  chats = function() return "/chats/list" end,
  chats_htmx = function() return "/chats/list" end,
}
local headers

function init(args)
  token, cookie, kind = args[1], args[2], args[3]
  dialogs, base = tonumber(args[4]), tonumber(args[5])
  math.randomseed(seed)
  headers = { ["Authorization"] = token, ["Cookie"] = "atendo_session=" .. cookie }
  if kind == "chats_htmx" then
    headers["HX-Request"] = "true"
  end
  if paths[kind] == nil then
    error("unknown kind " .. kind)
  end
end

function request()
  return wrk.format("GET", paths[kind](), headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50=%d p99=%d max=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
