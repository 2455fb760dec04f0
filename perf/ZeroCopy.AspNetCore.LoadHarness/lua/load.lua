-- Request generator and response checker for the ZeroCopy.AspNetCore load harness (wrk 4.x).
--
-- wrk <options> URL -s load.lua -- MODE VALUE
--   fixed N   every response must be 200 with a body of exactly N bytes (checked per response)
--   bytes N   no per-response check: copying big bodies into Lua would make the client the
--             bottleneck; the harness checks the total bytes read against
--             requests x (header bytes + N) instead, with the header size it measured itself
--   small N [PREFIX]
--             random paths among N self-describing files (PREFIX/small/DD/NNNN.bin); each body must
--             be 200 and exactly as long as the length written in its first line
--   warmup P PREFIX
--             a random mix of the hot files, the small files through PREFIX (a second mount of
--             the same root with a static-file middleware and cache of its own: the JIT tiers up
--             the miss, admission and hit paths while the measured mount's cache stays cold for
--             /small/) and /plaintext when P is 1; status checked
--
-- wrk says nothing when a server closes a connection in the middle of a response (it reconnects
-- and re-sends), so every request is counted here: the harness fails the run when more requests
-- were issued than completed plus the connections still in flight.
--
-- done() prints one line: "ZCPERF key=value ...", read by the harness.

local threads = {}

function setup(thread)
   threads[#threads + 1] = thread
end

-- Per-thread counters: globals, so done() can read them with thread:get().
issued = 0
checked = 0
bad_status = 0
bad_length = 0

local mode = "bytes"
local value = 0
local fixed_request = nil
local plaintext = false
local prefix = ""
local warm_paths = { "/hot/4k.bin", "/hot/64k.bin", "/big/1m.bin", "/hot/4k.bin", "/hot/64k.bin" }

local function small_path(i)
   return string.format("/small/%02d/%04d.bin", math.floor(i / 100), i)
end


local function check_fixed(status, headers, body)
   checked = checked + 1
   if status ~= 200 then
      bad_status = bad_status + 1
   elseif #body ~= value then
      bad_length = bad_length + 1
   end
end

-- A small file starts with "zcperf LLLLLLLL IIII\n": its own length and index.
local function check_small(status, headers, body)
   checked = checked + 1
   if status ~= 200 then
      bad_status = bad_status + 1
      return
   end
   local declared = nil
   if string.sub(body, 1, 7) == "zcperf " then
      declared = tonumber(string.sub(body, 8, 15))
   end
   if declared == nil or #body ~= declared then
      bad_length = bad_length + 1
   end
end

local function check_status(status, headers, body)
   checked = checked + 1
   if status ~= 200 then
      bad_status = bad_status + 1
   end
end

function init(args)
   mode = args[1] or "bytes"
   value = tonumber(args[2] or "0") or 0
   prefix = args[3] or ""
   -- Different random sequences per thread (the table address differs).
   math.randomseed(os.time() + (tonumber(string.match(tostring({}), "0x(%x+)") or "0", 16) % 100000))

   if mode == "fixed" then
      response = check_fixed
   elseif mode == "small" then
      response = check_small
   elseif mode == "warmup" then
      response = check_status
      plaintext = value == 1
   elseif mode ~= "bytes" then
      error("load.lua: unknown mode '" .. mode .. "'")
   end
   fixed_request = wrk.format("GET", wrk.path)
end

function request()
   issued = issued + 1
   if mode == "small" then
      return wrk.format("GET", prefix .. small_path(math.random(0, value - 1)))
   elseif mode == "warmup" then
      local pick = math.random(1, 10)
      if pick <= #warm_paths then
         return wrk.format("GET", warm_paths[pick])
      elseif pick <= 8 or not plaintext then
         return wrk.format("GET", prefix .. small_path(math.random(0, 9999)))
      end
      return wrk.format("GET", "/plaintext")
   end
   return fixed_request
end

function done(summary, latency, requests)
   local totals = { issued = 0, checked = 0, bad_status = 0, bad_length = 0 }
   for _, thread in ipairs(threads) do
      for key, _ in pairs(totals) do
         totals[key] = totals[key] + (tonumber(thread:get(key)) or 0)
      end
   end
   io.write(string.format(
      "ZCPERF requests=%.0f bytes=%.0f duration_us=%.0f issued=%.0f checked=%.0f bad_status=%.0f bad_length=%.0f " ..
      "err_connect=%.0f err_read=%.0f err_write=%.0f err_timeout=%.0f err_status=%.0f " ..
      "p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f\n",
      summary.requests, summary.bytes, summary.duration, totals.issued, totals.checked, totals.bad_status, totals.bad_length,
      summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
