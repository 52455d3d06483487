/**
 * Token-bucket arithmetic shared by the stores, in the GCRA form: a bucket is
 * one number, `tat`, the time at which it is full again. Times are
 * milliseconds (fractional), an `interval` is the milliseconds one token takes
 * to refill (`1000 / tokensPerSecond`).
 *
 * @internal
 */

/** Comparisons of fractional milliseconds tolerate this much float error. @internal */
export const EPSILON = 1e-6

/** Whole milliseconds, rounded up, ignoring float error; never negative. @internal */
export const ceilMillis = (millis: number): number => millis <= EPSILON ? 0 : Math.ceil(millis - EPSILON)

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
