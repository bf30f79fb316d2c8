package redis

import goredis "github.com/redis/go-redis/v9"

// Each script reads and writes only KEYS[1]. Times are unix milliseconds
// and come from the caller, never from Redis TIME, so the gateway's clock
// (injectable in tests) is the only one that decides idle and absolute
// expiry.

// getTouch is Get with a Touch: it returns false when the record is missing
// or expired at ARGV[1], else {d, u, c, t, x, m, ext}. When the rule on
// session.Touch says so it first writes t and x and PEXPIREATs the key.
// ext > 0 asks the caller to extend the user index to ext: the index must
// outlive every session it lists, and this script cannot touch it. The
// index is extended with one idle period of headroom (capped at the
// absolute deadline), so this happens at most about once per idle period.
var getTouch = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'd', 'u', 'c', 't', 'x', 'm', 'i')
local x = tonumber(v[5])
if not x then return false end
local now = tonumber(ARGV[1])
if now >= x then return false end
local idle = tonumber(ARGV[3])
local since = now - tonumber(v[4])
if since < tonumber(ARGV[2]) or since >= idle then
  return {v[1], v[2], v[3], v[4], v[5], v[6], 0}
end
local grace = tonumber(ARGV[5]) or 0
local cap = tonumber(v[3]) + tonumber(ARGV[4]) + grace
x = math.min(cap, now + idle + grace)
if x <= now then
  redis.call('DEL', KEYS[1])
  return false
end
local ext = 0
if x > (tonumber(v[7]) or 0) then
  ext = math.min(x + idle, cap)
  redis.call('HSET', KEYS[1], 't', ARGV[1], 'x', x, 'i', ext)
else
  redis.call('HSET', KEYS[1], 't', ARGV[1], 'x', x)
end
redis.call('PEXPIREAT', KEYS[1], x)
return {v[1], v[2], v[3], ARGV[1], x, v[6], ext}
`)

// indexAdd records session ARGV[1] in user index KEYS[1] with value ARGV[2]
// (an expiry) and makes the index live at least until then.
var indexAdd = goredis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local want = tonumber(ARGV[2])
if redis.call('PEXPIRETIME', KEYS[1]) < want then
  redis.call('PEXPIREAT', KEYS[1], want)
end
return 1
`)

// indexPrune removes (id, value) pairs from user index KEYS[1] only if the
// value is still the one the caller saw, so an id re-Put meanwhile stays.
var indexPrune = goredis.NewScript(`
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return n
`)

// deleteSession deletes session KEYS[1], publishes invalidation ARGV[2] on
// channel ARGV[1] in the same atomic step (so no replica can keep a
// deleted session cached because the publish failed after the delete),
// and returns the session's user id, or false. It publishes even when the
// key is gone: a replica may hold a copy read before a failover lost it.
var deleteSession = goredis.NewScript(`
local u = redis.call('HGET', KEYS[1], 'u')
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return u
`)

// deleteOwned deletes session KEYS[1] if it belongs to user ARGV[1] (the id
// may since have been re-Put for someone else), and then publishes
// invalidation ARGV[3] on channel ARGV[2], as deleteSession does.
var deleteOwned = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'u') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
`)

// incrWindow adds ARGV[2] to KEYS[1] and starts its window of ARGV[1] ms
// on the first addition (or if the key somehow lost its TTL), never
// extending it.
var incrWindow = goredis.NewScript(`
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if n == tonumber(ARGV[2]) or redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// reserve is incrWindow that stops at the limit ARGV[1]: a count already
// there is returned unchanged with 0, else the key is incremented (the
// first increment starting a window of ARGV[2] ms) and returned with 1.
// The key's PEXPIRETIME comes back too: the window's end, fixed by the
// first increment, names the window for release.
var reserve = goredis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  return {n, 0, redis.call('PEXPIRETIME', KEYS[1])}
end
n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {n, 1, redis.call('PEXPIRETIME', KEYS[1])}
`)

// release decrements KEYS[1] if it is still in the window that ends at
// ARGV[1] (its PEXPIRETIME) and above zero; DECR keeps the TTL.
var release = goredis.NewScript(`
if redis.call('PEXPIRETIME', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
local n = tonumber(redis.call('GET', KEYS[1]))
if n and n > 0 then
  redis.call('DECR', KEYS[1])
  return 1
end
return 0
`)

// setIfGreater stores ARGV[1] in KEYS[1] with a TTL of ARGV[2] ms unless
// the key holds a value at least as large; 1 when it stored.
var setIfGreater = goredis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]))
if cur and cur >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)
