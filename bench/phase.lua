-- bench/phase.lua - the wrk script of one phase of bench/bench.py.
--
-- bench.py writes a small file that sets the globals below and then runs
-- this one (dofile), so that wrk loads one script per phase:
--   phase      "create", "pay", "cancel",
--              "accept", "settle", "get", "healthz"
--   ids_in     for pay to settle, get and healthz: a file of lines
--              "ORDER_ID BUYER_ID SELLER_ID" (settle: "REFUND_ID - -"),
--              written by the phase before; each thread takes its own
--              slice (line i goes to thread i mod threads)
--   out        prefix of the files this phase writes: OUT.ids (the lines
--              for the next phase, from the answers), OUT.stats
--              (answers, refusals, p50 and p99 in microseconds) and
--              OUT.done.TID (thread TID has had all its answers)
--   threads    wrk's -t; ports: the daemons' ports (thread i talks to
--              ports[i mod #ports + 1]); key: the operator's API key;
--   tokens     user id -> session token; buyers, sellers: user ids
--
-- A phase with ids_in sends each line's command once and stops its thread
-- when every one is answered (bench.py then stops wrk and reads the
-- daemon's counters); create, get and healthz run for wrk's -d.
--
-- The reads cost wrk as little as it can: their requests are made once,
-- in init, one picked at random for each request (get: each order of
-- the slice as its buyer; healthz: /healthz with the same headers, the
-- same client work against the daemon's cheapest answer), and they have
-- no response(), which makes wrk hand every answer to Lua; their counts
-- are wrk's own (done).

local counter = 0
local all = {}

function setup(thread)
	thread:set("tid", counter)
	if #ports > 1 then
		thread.addr = wrk.lookup("127.0.0.1", tostring(ports[counter % #ports + 1]))[1]
	end
	all[#all + 1] = thread
	counter = counter + 1
end

local function as(token)
	return { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
end

local op = as(key)

-- Per thread; answered, refused and lines are globals for done's
-- thread:get.
local slice, pos, n, reads

local reading = phase == "get" or phase == "healthz"

function init(args)
	slice, pos, n, reads = {}, 0, 0, {}
	answered, refused, lines = 0, 0, {}
	math.randomseed(tid * 7919 + 17)
	if ids_in ~= "" then
		local i = 0
		for line in io.lines(ids_in) do
			if i % threads == tid then
				slice[#slice + 1] = line
			end
			i = i + 1
		end
	end
	if phase ~= "create" and not reading and #slice == 0 then
		io.open(out .. ".done." .. tid, "w"):close()
	end
	for i = 1, reading and #slice or 0 do
		local oid, buyer = slice[i]:match("(%S+) (%S+)")
		local path = phase == "get" and "/v1/orders/" .. oid or "/healthz"
		reads[i] = wrk.format("GET", path, as(tokens[buyer]))
	end
end

local verified = false

function request()
	-- wrk calls thread 0's request() once before it starts, to count the
	-- requests a call returns (script_verify_request), and never sends
	-- that one: give it a request that takes no id.
	if tid == 0 and not verified then
		verified = true
		return wrk.format("GET", "/healthz")
	end
	if phase == "create" then
		n = n + 1
		local b = buyers[(tid * 31 + n) % #buyers + 1]
		local s = sellers[(tid * 7 + n) % #sellers + 1]
		return wrk.format("POST", "/v1/orders", op,
			'{"buyer_id":"' .. b .. '","seller_id":"' .. s ..
			'","currency":"EUR","items":[{"title":"Bench item","quantity":1,"unit_price":2599}]}')
	end
	if reading then
		return reads[math.random(#reads)]
	end
	pos = pos + 1
	local line = slice[pos]
	if line == nil then
		return "" -- this connection has nothing more to send
	end
	local id, buyer, seller = line:match("(%S+) (%S+) (%S+)")
	if phase == "pay" then
		return wrk.format("POST", "/v1/orders/" .. id .. "/pay", op,
			'{"amount":2599,"payment_method":"card"}')
	elseif phase == "cancel" then
		return wrk.format("POST", "/v1/orders/" .. id .. "/cancel", as(tokens[buyer]),
			'{"reason":"no_longer_needed"}')
	elseif phase == "accept" then
		return wrk.format("POST", "/v1/orders/" .. id .. "/cancellation/accept",
			as(tokens[seller]), "{}")
	else
		return wrk.format("POST", "/v1/refunds/" .. id .. "/settle", op, "{}")
	end
end

local expect = { create = 201 }

local function response_of(status, headers, body)
	answered = answered + 1
	if status ~= (expect[phase] or 200) then
		refused = refused + 1
		if refused <= 3 then
			io.stderr:write(phase .. ": " .. status .. " " .. body:sub(1, 300) .. "\n")
		end
	elseif phase == "create" or phase == "pay" or phase == "cancel" then
		local id = body:match('^{"id":"([^"]+)"')
		local b, s = body:match('"buyer_id":"([^"]+)","seller_id":"([^"]+)"')
		if id and b then
			lines[#lines + 1] = id .. " " .. b .. " " .. s
		end
	elseif phase == "accept" then
		local rid = body:match('"refunds":%[{"id":"([^"]+)"')
		if rid then
			lines[#lines + 1] = rid .. " - -"
		end
	end
	if #slice > 0 and answered == #slice then
		io.open(out .. ".done." .. tid, "w"):close()
		wrk.thread:stop()
	end
end

if not reading then
	response = response_of
end

function done(summary, latency, requests)
	local ids = io.open(out .. ".ids", "w")
	local answers, refusals = 0, 0
	for _, t in ipairs(all) do
		for _, line in ipairs(t:get("lines") or {}) do
			ids:write(line, "\n")
		end
		answers = answers + (t:get("answered") or 0)
		refusals = refusals + (t:get("refused") or 0)
	end
	ids:close()
	if reading then
		answers = summary.requests
		refusals = summary.errors.status
	end
	local st = io.open(out .. ".stats", "w")
	st:write(string.format("%d %d %d %d %d\n", answers, refusals, latency:percentile(50),
		latency:percentile(99), summary.requests))
	st:close()
end
