package ratelimit

import "github.com/redis/go-redis/v9"

// The cluster limiter's state lives in Redis, under keys that share the
// API key's hash tag (one cluster slot per API key):
//
//	<prefix>{<key id>}:r        requests: GCRA theoretical arrival time, ms
//	<prefix>{<key id>}:t        tokens:   GCRA theoretical arrival time, ms
//	<prefix>{<key id>}:q:<day>  tokens charged (used or reserved) that UTC day
//
// GCRA keeps a bucket in one number, tat: the time at which the bucket
// is full again. A charge of n moves tat n emission intervals later; a
// charge passes while tat stays within one burst of now. Keys expire when
// their bucket is full, which is the state a missing key stands for.
//
// The day's quota key is named inside the script, since the day comes
// from Redis's clock. It shares the declared keys' hash tag, hence their
// cluster slot, should the limiter ever run on Redis Cluster (today it
// uses a single-node client).
//
// Every number is in milliseconds of Redis's clock (TIME), so that the
// instances' clocks do not matter. ARGV[7] overrides it in tests.

// admitScript decides one request and, if it passes, charges it to the
// three budgets at once, or to none.
//
// ARGV: 1 requests per minute (0: none), 2 burst, 3 tokens per minute
// (0: none), 4 the request's token estimate, 5 the daily quota (0:
// none), 6 the quota seed (the tokens the durable ledger knows of
// today), 7 now in ms or "".
//
// Returns {allowed, refused-by, requests remaining, requests reset ms,
// retry after ms, tokens remaining, tokens reset ms, quota used, day,
// now ms}.
var admitScript = redis.NewScript(`
local now
if ARGV[7] ~= '' then
	now = tonumber(ARGV[7])
else
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local rpm, burst, tpm = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local est, quota, seed = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local day = math.floor(now / 86400000)
local refused, retry = '', 0

local rtat, rnext, rlimit, rT = now, now, 0, 0
if rpm > 0 then
	rT = 60000 / rpm
	rlimit = burst * rT
	rtat = math.max(tonumber(redis.call('GET', KEYS[1])) or 0, now)
	rnext = rtat + rT
	if rnext - now > rlimit then
		refused, retry = 'requests', rnext - now - rlimit
	end
end

local ttat, tnext, tT = now, now, 0
if tpm > 0 then
	tT = 60000 / tpm
	ttat = math.max(tonumber(redis.call('GET', KEYS[2])) or 0, now)
	tnext = ttat + math.min(est, tpm) * tT
	if refused == '' and tnext - now > 60000 then
		refused, retry = 'tokens', tnext - now - 60000
	end
end

local qkey = KEYS[3] .. day
local used = 0
if quota > 0 then
	used = math.max(tonumber(redis.call('GET', qkey)) or 0, seed)
	if refused == '' and used + est > quota then
		refused, retry = 'quota', (day + 1) * 86400000 - now
	end
end

if refused ~= '' then
	rnext, tnext = rtat, ttat
else
	if rpm > 0 then redis.call('SET', KEYS[1], tostring(rnext), 'PX', math.ceil(rnext - now) + 1) end
	if tpm > 0 then redis.call('SET', KEYS[2], tostring(tnext), 'PX', math.ceil(tnext - now) + 1) end
	if quota > 0 then
		used = used + est
		-- kept 48 h: past the day's end, for the settlements of
		-- requests that straddle midnight
		redis.call('SET', qkey, used, 'PX', 172800000)
	end
end

local rleft, tleft = 0, 0
if rpm > 0 then rleft = math.floor((rlimit - (rnext - now)) / rT + 1e-9) end
if tpm > 0 then tleft = math.floor((60000 - (tnext - now)) / tT + 1e-9) end
local allowed = 1
if refused ~= '' then allowed = 0 end
return {allowed, refused, math.max(rleft, 0), math.ceil(rnext - now), math.ceil(retry),
	math.max(tleft, 0), math.ceil(tnext - now), used, day, now}`)

// settleScript corrects the token budget and the day's quota counter by
// the difference between a request's real use and its reservation.
// A quota counter that no longer exists (Redis lost it) is left alone:
// the next admission seeds it from the durable ledger.
//
// KEYS: 1 tokens bucket, 2 the quota counter of the reservation's day.
// ARGV: 1 tokens per minute (0: none), 2 delta, 3 now in ms or "", 4 "1"
// when the reservation was charged to a quota.
var settleScript = redis.NewScript(`
local delta = tonumber(ARGV[2])
local tpm = tonumber(ARGV[1])
if tpm > 0 then
	local now
	if ARGV[3] ~= '' then
		now = tonumber(ARGV[3])
	else
		local t = redis.call('TIME')
		now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
	end
	local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or 0, now) + delta * 60000 / tpm
	if tat > now then
		redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil(tat - now) + 1)
	else
		redis.call('DEL', KEYS[1])
	end
end
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
	local left = redis.call('INCRBY', KEYS[2], delta)
	if left < 0 then redis.call('SET', KEYS[2], 0, 'KEEPTTL') end
end
return 1`)
