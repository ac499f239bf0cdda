package redisstore

import "github.com/redis/go-redis/v9"

// Every script works on one source: ARGV[1] is the source's key base,
// Prefix + "{source}:", and every key it touches starts with it, so all
// of them hash to the slot of the source's tag. KEYS[1] is the first of
// them the script touches (the one the call is routed by); the event keys
// a script finds in an index are built in the script, in that same slot.
//
// Keys under the base:
//
//	e:<id>          hash: m (meta JSON), b (body), q (seq), r (received ms),
//	                D (destinations, one a line), o (deliveries open),
//	                x (deliveries dead), f (finished ms), d:<dest> (state JSON),
//	                P (1 once the headers and body were dropped: m keeps
//	                the type only, b is gone)
//	n               the seq counter
//	s               zset id → seq: every event
//	t:<status>      zset id → seq: events by status as a whole (1, 3, 4)
//	fd, fx          zset id → finished ms: delivered, dead events
//	q:<dest>:due    zset seq:id → due (or lease expiry) ms: open deliveries;
//	                the member starts with the seq (16 hex digits), so that
//	                deliveries due at the same millisecond go oldest first
//	q:<dest>:pend   zset id → since ms: open deliveries
//	c               hash dead:<dest> → dead deliveries
//
// A delivery's state is JSON, read and written by the scripts with
// cjson: {s: status, n: next ms, k: token, si: since ms, t: tries,
// c: attempts, f: finished ms, r: reason, a: [attempts]}.

// prelude defines what the scripts share.
const prelude = `
local base = ARGV[1]
local function num(v) return tonumber(v or '0') or 0 end
-- status of the event ek as a whole: 1 pending, 4 dead, 3 delivered
local function agg(ek)
	if num(redis.call('HGET', ek, 'o')) > 0 then return 1 end
	if num(redis.call('HGET', ek, 'x')) > 0 then return 4 end
	return 3
end
-- moves event id between the status and finish indexes after a change
-- from status old, at now
local function reindex(ek, id, old, now)
	local new = agg(ek)
	if new == old then return end
	local seq = redis.call('HGET', ek, 'q')
	redis.call('ZREM', base .. 't:' .. old, id)
	redis.call('ZADD', base .. 't:' .. new, seq, id)
	if old == 3 then redis.call('ZREM', base .. 'fd', id) elseif old == 4 then redis.call('ZREM', base .. 'fx', id) end
	if new == 1 then
		redis.call('HDEL', ek, 'f')
	else
		redis.call('HSET', ek, 'f', now)
		redis.call('ZADD', base .. (new == 3 and 'fd' or 'fx'), now, id)
	end
end
-- the due zset member of event id, whose hash is ek
local function member(ek, id)
	return string.format('%016x', num(redis.call('HGET', ek, 'q'))) .. ':' .. id
end
-- counts a delivery of dest whose status goes from s0 to s1
local function count(ek, dest, s0, s1)
	local open0 = (s0 == 1 or s0 == 2) and 1 or 0
	local open1 = (s1 == 1 or s1 == 2) and 1 or 0
	local dead0 = s0 == 4 and 1 or 0
	local dead1 = s1 == 4 and 1 or 0
	if open1 ~= open0 then redis.call('HINCRBY', ek, 'o', open1 - open0) end
	if dead1 ~= dead0 then
		redis.call('HINCRBY', ek, 'x', dead1 - dead0)
		redis.call('HINCRBY', base .. 'c', 'dead:' .. dest, dead1 - dead0)
	end
end
`

var (
	// appendScript records an event. ARGV: base, id, meta, body, received
	// ms, destinations (one a line), then per destination: name, status,
	// due ms, since ms, state. Replies its seq, or -3 if it exists.
	appendScript = redis.NewScript(prelude + `
local id = ARGV[2]
local ek = base .. 'e:' .. id
if redis.call('EXISTS', ek) == 1 then return -3 end
local seq = redis.call('INCR', base .. 'n')
local recv = ARGV[5]
redis.call('HSET', ek, 'm', ARGV[3], 'b', ARGV[4], 'q', seq, 'r', recv, 'D', ARGV[6], 'o', 0, 'x', 0)
local open = 0
local i = 7
while i <= #ARGV do
	local dest = ARGV[i]
	redis.call('HSET', ek, 'd:' .. dest, ARGV[i + 4])
	redis.call('ZADD', base .. 'q:' .. dest .. ':due', ARGV[i + 2], string.format('%016x', seq) .. ':' .. id)
	redis.call('ZADD', base .. 'q:' .. dest .. ':pend', ARGV[i + 3], id)
	open = open + 1
	i = i + 5
end
redis.call('HSET', ek, 'o', open)
redis.call('ZADD', base .. 's', seq, id)
if open > 0 then
	redis.call('ZADD', base .. 't:1', seq, id)
else
	redis.call('ZADD', base .. 't:3', seq, id)
	redis.call('HSET', ek, 'f', recv)
	redis.call('ZADD', base .. 'fd', recv, id)
end
return seq
`)

	// leaseScript leases due deliveries. KEYS: the due zset. ARGV: base,
	// dest, now ms, n, until ms, token. Replies {next due ms or '', then
	// per task: id, state, meta, body, seq, received ms}.
	leaseScript = redis.NewScript(prelude + `
local due = KEYS[1]
local dest = ARGV[2]
local members = redis.call('ZRANGEBYSCORE', due, '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {''}
for _, m in ipairs(members) do
	local id = string.sub(m, 18)
	local ek = base .. 'e:' .. id
	local raw = redis.call('HGET', ek, 'd:' .. dest)
	local d = raw and cjson.decode(raw)
	if not d or (d.s ~= 1 and d.s ~= 2) then
		redis.call('ZREM', due, m) -- an entry left without its delivery
	else
		d.s, d.n, d.k = 2, tonumber(ARGV[5]), ARGV[6]
		local enc = cjson.encode(d)
		redis.call('HSET', ek, 'd:' .. dest, enc)
		redis.call('ZADD', due, ARGV[5], m)
		local v = redis.call('HMGET', ek, 'm', 'b', 'q', 'r')
		table.insert(out, id)
		table.insert(out, enc)
		table.insert(out, v[1])
		table.insert(out, v[2])
		table.insert(out, v[3])
		table.insert(out, v[4])
	end
end
local first = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
if first[2] then out[1] = first[2] end
return out
`)

	// reportScript records the end of an attempt. KEYS: the event. ARGV:
	// base, id, dest, token, status, next ms, attempt JSON or '', reason,
	// now ms, history, drop ('1': drop the headers and body if every
	// delivery is now delivered). Replies 0, -1 (lease lost: nothing
	// changed), 1 (lease lost, delivered recorded) or -2 (not found).
	reportScript = redis.NewScript(prelude + `
local ek, id, dest = KEYS[1], ARGV[2], ARGV[3]
local raw = redis.call('HGET', ek, 'd:' .. dest)
if not raw then return -2 end
local d = cjson.decode(raw)
local st = tonumber(ARGV[5])
local reply = 0
if d.s ~= 2 or d.k ~= ARGV[4] then
	if st ~= 3 or d.s == 3 then return -1 end
	reply = 1
end
local old = agg(ek)
local s0 = d.s
if ARGV[7] ~= '' then
	local a = d.a
	if type(a) ~= 'table' then a = {} end
	table.insert(a, cjson.decode(ARGV[7]))
	while #a > tonumber(ARGV[10]) do table.remove(a, 1) end
	d.a = a
	d.t = num(d.t) + 1
	d.c = num(d.c) + 1
end
d.s, d.k, d.r = st, '', ''
local due, pend = base .. 'q:' .. dest .. ':due', base .. 'q:' .. dest .. ':pend'
if st == 1 then
	d.n, d.f = tonumber(ARGV[6]), 0
	redis.call('ZADD', due, ARGV[6], member(ek, id))
	if s0 ~= 1 and s0 ~= 2 then redis.call('ZADD', pend, d.si, id) end
else
	d.n, d.f = 0, tonumber(ARGV[9])
	if st == 4 then d.r = ARGV[8] end
	redis.call('ZREM', due, member(ek, id))
	redis.call('ZREM', pend, id)
end
redis.call('HSET', ek, 'd:' .. dest, cjson.encode(d))
count(ek, dest, s0, st)
reindex(ek, id, old, ARGV[9])
if ARGV[11] == '1' and agg(ek) == 3 and redis.call('HEXISTS', ek, 'P') == 0 then
	local m = cjson.decode(redis.call('HGET', ek, 'm') or '{}')
	m.h = nil
	local keep = '{}'
	if m.t then keep = cjson.encode({t = m.t}) end
	redis.call('HSET', ek, 'm', keep, 'P', 1)
	redis.call('HDEL', ek, 'b')
end
return reply
`)

	// extendScript moves a lease. KEYS: the event. ARGV: base, id, dest,
	// token, until ms. Replies 0, -1 (lease lost) or -2 (not found).
	extendScript = redis.NewScript(prelude + `
local ek, id, dest = KEYS[1], ARGV[2], ARGV[3]
local raw = redis.call('HGET', ek, 'd:' .. dest)
if not raw then return -2 end
local d = cjson.decode(raw)
if d.s ~= 2 or d.k ~= ARGV[4] then return -1 end
d.n = tonumber(ARGV[5])
redis.call('HSET', ek, 'd:' .. dest, cjson.encode(d))
redis.call('ZADD', base .. 'q:' .. dest .. ':due', ARGV[5], member(ek, id))
return 0
`)

	// replayScript makes deliveries pending again. KEYS: the event.
	// ARGV: base, id, dest ('' for all), now ms. Replies 0, -2 (not
	// found) or -4 (payload dropped).
	replayScript = redis.NewScript(prelude + `
local ek, id, now = KEYS[1], ARGV[2], ARGV[4]
if redis.call('EXISTS', ek) == 0 then return -2 end
local dests = {}
if ARGV[3] ~= '' then
	if redis.call('HEXISTS', ek, 'd:' .. ARGV[3]) == 0 then return -2 end
	dests = {ARGV[3]}
else
	for name in string.gmatch(redis.call('HGET', ek, 'D') or '', '[^\n]+') do table.insert(dests, name) end
end
if redis.call('HEXISTS', ek, 'P') == 1 then return -4 end
local old = agg(ek)
for _, dest in ipairs(dests) do
	local d = cjson.decode(redis.call('HGET', ek, 'd:' .. dest))
	local s0 = d.s
	d.s, d.n, d.k, d.si, d.t, d.f, d.r = 1, tonumber(now), '', tonumber(now), 0, 0, ''
	redis.call('HSET', ek, 'd:' .. dest, cjson.encode(d))
	redis.call('ZADD', base .. 'q:' .. dest .. ':due', now, member(ek, id))
	redis.call('ZADD', base .. 'q:' .. dest .. ':pend', now, id)
	count(ek, dest, s0, 1)
end
reindex(ek, id, old, now)
return 0
`)

	// purgeScript deletes events. KEYS: the s zset. ARGV: base, ids...
	// Replies how many it deleted.
	purgeScript = redis.NewScript(prelude + `
local n = 0
for i = 2, #ARGV do
	local id = ARGV[i]
	local ek = base .. 'e:' .. id
	if redis.call('EXISTS', ek) == 1 then
		for name in string.gmatch(redis.call('HGET', ek, 'D') or '', '[^\n]+') do
			local raw = redis.call('HGET', ek, 'd:' .. name)
			if raw then
				local d = cjson.decode(raw)
				if d.s == 1 or d.s == 2 then
					redis.call('ZREM', base .. 'q:' .. name .. ':due', member(ek, id))
					redis.call('ZREM', base .. 'q:' .. name .. ':pend', id)
				elseif d.s == 4 then
					redis.call('HINCRBY', base .. 'c', 'dead:' .. name, -1)
				end
			end
		end
		redis.call('ZREM', base .. 's', id)
		redis.call('ZREM', base .. 't:1', id)
		redis.call('ZREM', base .. 't:3', id)
		redis.call('ZREM', base .. 't:4', id)
		redis.call('ZREM', base .. 'fd', id)
		redis.call('ZREM', base .. 'fx', id)
		redis.call('DEL', ek)
		n = n + 1
	end
end
return n
`)

	// peekScript returns events without their bodies, for List. KEYS:
	// the s zset. ARGV: base, ids... Replies per id {id, meta, seq,
	// received, {dest, state, ...}, P or ''}, or {id} for an event gone.
	peekScript = redis.NewScript(prelude + `
local out = {}
for i = 2, #ARGV do
	local id = ARGV[i]
	local ek = base .. 'e:' .. id
	local v = redis.call('HMGET', ek, 'm', 'q', 'r', 'D', 'P')
	if not v[1] then
		table.insert(out, {id})
	else
		local ds = {}
		for name in string.gmatch(v[4] or '', '[^\n]+') do
			table.insert(ds, name)
			table.insert(ds, redis.call('HGET', ek, 'd:' .. name) or '')
		end
		table.insert(out, {id, v[1], v[2], v[3], ds, v[5] or ''})
	end
end
return out
`)
)

// scripts lists every script, for Preload.
var scripts = []*redis.Script{appendScript, leaseScript, reportScript, extendScript, replayScript, purgeScript, peekScript}
