/**
 * Token-bucket arithmetic in the GCRA ("virtual scheduling") form, pure: a
 * bucket is one number, `tat`, the time at which it is full again. Times are
 * milliseconds (fractional), an `interval` is the milliseconds one token takes
 * to refill (`1000 / tokensPerSecond`), `burst` is the capacity in tokens.
 *
 * A decision over several buckets is: `actAt` = the latest `allowAt` over
 * them (never before now); admitted when `admits(actAt - now, maxWait)`; then
 * every bucket's `tat` becomes `charge(tat, actAt, cost, interval)`. A bucket
 * never seen has `tat = now` (it is full). The memory store runs exactly
 * these steps; the Redis store's Lua script runs the same ones.
 *
 * @internal
 */

/** Comparisons of fractional milliseconds tolerate this much float error. @internal */
export const EPSILON = 1e-6

/** Whole milliseconds, rounded up, ignoring float error; never negative. @internal */
export const ceilMillis = (millis: number): number => millis <= EPSILON ? 0 : Math.ceil(millis - EPSILON)

/** A stored `tat` as of `now`: a bucket full since before now reads as full now. @internal */
export const current = (tat: number, now: number): number => tat < now ? now : tat

/**
 * The earliest time a bucket whose `tat` (as of now: see `current`) is given
 * holds `cost` tokens: `tat` is when it holds `burst`, and each token less
 * comes one `interval` sooner.
 *
 * @internal
 */
export const allowAt = (tat: number, cost: number, interval: number, burst: number): number =>
  tat + (cost - burst) * interval

/**
 * May a call that must wait `wait` ms act, given the caller waits at most
 * `maxWait` ms (0: fail mode)? A wait within float error of 0 is no wait.
 *
 * @internal
 */
export const admits = (wait: number, maxWait: number): boolean => wait <= EPSILON || wait <= maxWait + EPSILON

/**
 * A bucket's new `tat` once `cost` tokens are taken at `actAt`: tokens are
 * taken no earlier than the bucket's own `tat` (reservations queue up).
 *
 * @internal
 */
export const charge = (tat: number, actAt: number, cost: number, interval: number): number =>
  (tat > actAt ? tat : actAt) + cost * interval

/**
 * Whole tokens in a bucket whose `tat` is `debtMillis` ahead of now: burst
 * minus the tokens still refilling, rounded down, in [0, burst].
 *
 * @internal
 */
export const remaining = (debtMillis: number, interval: number, burstSize: number): number => {
  if (debtMillis <= 0) return burstSize
  const tokens = Math.floor(burstSize - debtMillis / interval + 1e-9)
  return tokens < 0 ? 0 : tokens
}
