/**
 * The Lua scripts of the Redis `CircuitBreakerStore`: a versioned register
 * per key, read and compare-and-set in one round trip each, on the Redis
 * server's clock.
 *
 * A key holds one string, `<version>:<value>` (the version in decimal, the
 * value as the breaker gave it), written with `SET … PX ttl` so the value and
 * its time to live change together. The same string is what `PUBLISH` sends,
 * so a reply and a pushed change decode alike. A key whose string does not
 * start with a version (written by something else) reads as absent, and a
 * compare-and-set against version 0 replaces it: a stray value can never
 * wedge a breaker.
 *
 * `now` is `TIME` in epoch milliseconds (an integer: Redis truncates Lua
 * numbers in replies, and a millisecond is the contract's unit).
 *
 * @internal
 */
import { createHash } from "node:crypto"

/**
 * KEYS[1] the breaker's key. ARGV[1] the expected version (0: absent),
 * ARGV[2] the value, ARGV[3] the time to live in ms (>= 1), ARGV[4] the
 * channel to publish on.
 *
 * Reply: `{ 1, now, version }` written; `{ 0, now }` conflict with the key
 * absent; `{ 0, now, entry }` conflict, `entry` the stored `<version>:<value>`.
 */
export const compareAndSetSource = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local stored = redis.call('GET', KEYS[1])
local version = 0
if stored then
  local digits = string.match(stored, '^(%d+):')
  if digits then version = tonumber(digits) else stored = false end
end
if version ~= tonumber(ARGV[1]) then
  if stored then return { 0, now, stored } end
  return { 0, now }
end
local entry = string.format('%d', version + 1) .. ':' .. ARGV[2]
redis.call('SET', KEYS[1], entry, 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], entry)
return { 1, now, version + 1 }
`

/**
 * KEYS[1] the breaker's key. Reply: `{ now }` absent, `{ now, entry }`
 * present (`entry` as stored: the decoder drops one without a version).
 */
export const readSource = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local stored = redis.call('GET', KEYS[1])
if stored then return { now, stored } end
return { now }
`

/** SHA1 of the compare-and-set script. @internal */
export const compareAndSetSha1: string = createHash("sha1").update(compareAndSetSource).digest("hex")

/** SHA1 of the read script. @internal */
export const readSha1: string = createHash("sha1").update(readSource).digest("hex")
