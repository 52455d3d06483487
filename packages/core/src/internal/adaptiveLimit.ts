/**
 * The limit-update rules of Netflix's concurrency-limits, ported as pure
 * functions `(state, sample) → state`: no clock, no randomness from outside
 * (Vegas's probe jitter comes from a seeded generator held in the state), no
 * I/O. The adaptive bulkhead calls them once per finished call; tests call
 * them alone.
 *
 * Each rule is a faithful port of one file of
 * https://github.com/Netflix/concurrency-limits,
 * `concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/`:
 * `AIMDLimit.java`, `Gradient2Limit.java` (with `measurement/ExpAvgMeasurement.java`)
 * and `VegasLimit.java` (with `functions/Log10RootIntFunction.java`). Two
 * deliberate differences, both about bounds: every rule clamps to the
 * caller's `[minLimit, maxLimit]` (Vegas clamps to `[1, max]` there), and a
 * sample whose round trip is not > 0 (a call that finished within one tick of
 * a millisecond clock) carries no latency information and leaves Gradient2 and
 * Vegas unchanged (Vegas throws on it, Gradient2 would divide by zero).
 *
 * @internal
 */
import type * as AdaptiveLimit from "../AdaptiveLimit.js"

/** @internal */
export type State = AdaptiveLimit.State

/** @internal */
export type Sample = AdaptiveLimit.Sample

/** @internal */
export interface Bounds {
  readonly minLimit: number
  readonly maxLimit: number
}

const clamp = (n: number, bounds: Bounds): number => Math.min(bounds.maxLimit, Math.max(bounds.minLimit, n))

// ---------------------------------------------------------------------------
// defaults: Netflix's builders
// ---------------------------------------------------------------------------

/** AIMDLimit.Builder. @internal */
export const aimdDefaults = { backoffRatio: 0.9, timeoutMillis: 5_000 } as const

/** Gradient2Limit.Builder. @internal */
export const gradient2Defaults = { smoothing: 0.2, queueSize: 4, longWindow: 600, rttTolerance: 1.5 } as const

/** VegasLimit.Builder (its alpha/beta/threshold functions are 3·log10, 6·log10, log10 of the limit). @internal */
export const vegasDefaults = { smoothing: 1, probeMultiplier: 30 } as const

/** The bounds and initial limit each builder defaults to. @internal */
export const defaultLimits = (tag: AdaptiveLimit.Algorithm["_tag"]): {
  readonly minLimit: number
  readonly initialLimit: number
  readonly maxLimit: number
} =>
  tag === "Vegas"
    ? { minLimit: 1, initialLimit: 20, maxLimit: 1000 }
    : { minLimit: 20, initialLimit: 20, maxLimit: 200 }

// ---------------------------------------------------------------------------
// helpers ported from Netflix
// ---------------------------------------------------------------------------

/** Log10RootIntFunction: max(1, floor(log10(n))). @internal */
export const log10Root = (n: number): number => Math.max(1, Math.floor(Math.log10(Math.max(1, n))))

/** ExpAvgMeasurement: a plain average over the first `warmup` samples, then an EMA with factor 2/(window+1). */
const expAvgAdd = (
  avg: AdaptiveLimit.Gradient2State["longRtt"],
  window: number,
  sample: number
): AdaptiveLimit.Gradient2State["longRtt"] => {
  const WARMUP = 10
  if (avg.count < WARMUP) {
    const count = avg.count + 1
    const sum = avg.sum + sample
    return { value: sum / count, sum, count }
  }
  const factor = 2 / (window + 1)
  return { value: avg.value * (1 - factor) + sample * factor, sum: avg.sum, count: avg.count }
}

/** mulberry32: a small seeded generator, so Vegas's probe jitter is reproducible. Returns [0, 1) and the next seed. */
const nextRandom = (seed: number): readonly [number, number] => {
  const next = (seed + 0x6d2b79f5) | 0
  let t = next
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, next]
}

// ---------------------------------------------------------------------------
// initial states
// ---------------------------------------------------------------------------

/** @internal */
export const initial = (algorithm: AdaptiveLimit.Algorithm, bounds: Bounds, initialLimit: number): State => {
  const limit = Math.floor(clamp(initialLimit, bounds))
  switch (algorithm._tag) {
    case "AIMD":
      return { _tag: "AIMD", limit }
    case "Gradient2":
      return { _tag: "Gradient2", limit, estimated: limit, longRtt: { value: 0, sum: 0, count: 0 } }
    case "Vegas": {
      // VegasLimit draws probeJitter in [0.5, 1) at construction
      const [r, seed] = nextRandom(algorithm.seed ?? 0x5eed)
      return { _tag: "Vegas", limit, estimated: limit, rttNoLoad: 0, probeCount: 0, probeJitter: 0.5 + r / 2, seed }
    }
  }
}

// ---------------------------------------------------------------------------
// updates
// ---------------------------------------------------------------------------

/** AIMDLimit._update. @internal */
export const updateAimd = (
  algorithm: AdaptiveLimit.AIMD,
  bounds: Bounds,
  state: AdaptiveLimit.AIMDState,
  sample: Sample
): AdaptiveLimit.AIMDState => {
  const backoffRatio = algorithm.backoffRatio ?? aimdDefaults.backoffRatio
  const timeout = algorithm.timeoutMillis ?? aimdDefaults.timeoutMillis
  let limit = state.limit
  if (sample.dropped || sample.rttMillis > timeout) {
    limit = Math.floor(limit * backoffRatio)
  } else if (sample.inflight * 2 >= limit) {
    limit = limit + 1
  }
  limit = clamp(limit, bounds)
  return limit === state.limit ? state : { _tag: "AIMD", limit }
}

/** Gradient2Limit._update (drops are not part of its rule: a timed-out call only shows as a long round trip). @internal */
export const updateGradient2 = (
  algorithm: AdaptiveLimit.Gradient2,
  bounds: Bounds,
  state: AdaptiveLimit.Gradient2State,
  sample: Sample
): AdaptiveLimit.Gradient2State => {
  const shortRtt = sample.rttMillis
  if (!(shortRtt > 0)) return state
  const smoothing = algorithm.smoothing ?? gradient2Defaults.smoothing
  const queueSize = algorithm.queueSize ?? gradient2Defaults.queueSize
  const tolerance = algorithm.rttTolerance ?? gradient2Defaults.rttTolerance
  const estimated = state.estimated
  let longRtt = expAvgAdd(state.longRtt, algorithm.longWindow ?? gradient2Defaults.longWindow, shortRtt)
  // latency back to normal after a long overload: pull the baseline down faster than the EMA would
  if (longRtt.value / shortRtt > 2) longRtt = { ...longRtt, value: longRtt.value * 0.95 }
  // don't grow the limit while the caller uses less than half of it ("app limited")
  if (sample.inflight < estimated / 2) return { ...state, longRtt }
  // no more than halve per sample: outliers must not shed everything
  const gradient = Math.max(0.5, Math.min(1, tolerance * longRtt.value / shortRtt))
  let next = estimated * gradient + queueSize
  next = estimated * (1 - smoothing) + next * smoothing
  next = clamp(next, bounds)
  return { _tag: "Gradient2", limit: Math.floor(next), estimated: next, longRtt }
}

/** VegasLimit._update and updateEstimatedLimit. @internal */
export const updateVegas = (
  algorithm: AdaptiveLimit.Vegas,
  bounds: Bounds,
  state: AdaptiveLimit.VegasState,
  sample: Sample
): AdaptiveLimit.VegasState => {
  const rtt = sample.rttMillis
  if (!(rtt > 0)) return state
  const probeMultiplier = algorithm.probeMultiplier ?? vegasDefaults.probeMultiplier
  const smoothing = algorithm.smoothing ?? vegasDefaults.smoothing
  const probeCount = state.probeCount + 1
  // every ~probeMultiplier·limit samples, forget the no-load round trip and take this one
  if (state.probeJitter * probeMultiplier * state.estimated <= probeCount) {
    const [r, seed] = nextRandom(state.seed)
    return { ...state, rttNoLoad: rtt, probeCount: 0, probeJitter: 0.5 + r / 2, seed }
  }
  if (state.rttNoLoad === 0 || rtt < state.rttNoLoad) return { ...state, rttNoLoad: rtt, probeCount }
  const estimated = state.estimated
  const queueSize = Math.ceil(estimated * (1 - state.rttNoLoad / rtt))
  const log10 = log10Root(Math.floor(estimated))
  let next: number
  if (sample.dropped) {
    next = estimated - log10
  } else if (sample.inflight * 2 < estimated) {
    // not close to the limit: don't drift upwards
    return { ...state, probeCount }
  } else {
    const alpha = 3 * log10
    const beta = 6 * log10
    const threshold = log10
    if (queueSize <= threshold) next = estimated + beta // no queueing: grow fast
    else if (queueSize < alpha) next = estimated + log10 // little queueing: grow
    else if (queueSize > beta) next = estimated - log10 // queueing: shrink
    else return { ...state, probeCount } // the sweet spot
  }
  // clamped after smoothing too: (1 - s)·48 + s·48 is 47.99999999999999 in floating point, whose floor is below a
  // minLimit of 48 (found by the bounds property)
  next = clamp((1 - smoothing) * estimated + smoothing * clamp(next, bounds), bounds)
  return { ...state, limit: Math.floor(next), estimated: next, probeCount }
}

/** One sample through the algorithm's rule. @internal */
export const update = (algorithm: AdaptiveLimit.Algorithm, bounds: Bounds, state: State, sample: Sample): State => {
  switch (algorithm._tag) {
    case "AIMD":
      return state._tag === "AIMD" ? updateAimd(algorithm, bounds, state, sample) : state
    case "Gradient2":
      return state._tag === "Gradient2" ? updateGradient2(algorithm, bounds, state, sample) : state
    case "Vegas":
      return state._tag === "Vegas" ? updateVegas(algorithm, bounds, state, sample) : state
  }
}

// ---------------------------------------------------------------------------
// sample windows: WindowedLimit.java + window/ImmutableAverageSampleWindow.java
// ---------------------------------------------------------------------------

/** WindowedLimit.Builder: windows of 1 s, at least 10 samples. @internal */
export const windowDefaults = { minMillis: 1_000, maxMillis: 1_000, minSamples: 10 } as const

/** @internal */
export interface WindowOptions {
  readonly minMillis: number
  readonly maxMillis: number
  readonly minSamples: number
}

/** @internal */
export const emptyWindow = (nextUpdateAt: number): AdaptiveLimit.Window => ({
  nextUpdateAt,
  minRtt: Number.POSITIVE_INFINITY,
  sum: 0,
  maxInflight: 0,
  count: 0,
  dropped: false
})

/**
 * WindowedLimit.onSample: accumulates samples (average round trip, largest
 * inflight, any drop) and, once a window of max(2·its minimum round trip,
 * minMillis) capped at maxMillis has passed, hands the algorithm one sample
 * for the whole window if it holds `minSamples`. One update per window, not
 * per call: per-call updates grow the limit many times within one round
 * trip, before any latency the growth causes can be seen.
 *
 * @internal
 */
export const addToWindow = (
  options: WindowOptions,
  window: AdaptiveLimit.Window,
  sample: Sample,
  endMillis: number
): readonly [AdaptiveLimit.Window, Sample | undefined] => {
  // a round trip within one clock tick says nothing about latency; a drop still counts
  if (!(sample.rttMillis > 0) && !sample.dropped) return [window, undefined]
  const added: AdaptiveLimit.Window = {
    nextUpdateAt: window.nextUpdateAt,
    minRtt: sample.rttMillis > 0 ? Math.min(window.minRtt, sample.rttMillis) : window.minRtt,
    sum: window.sum + sample.rttMillis,
    maxInflight: Math.max(window.maxInflight, sample.inflight),
    count: window.count + 1,
    dropped: window.dropped || sample.dropped
  }
  if (!(endMillis > added.nextUpdateAt)) return [added, undefined]
  const candidate = Number.isFinite(added.minRtt) ? added.minRtt * 2 : options.minMillis
  const next = endMillis + Math.min(Math.max(candidate, options.minMillis), options.maxMillis)
  const ready = added.count >= options.minSamples
    ? { rttMillis: added.sum / added.count, inflight: added.maxInflight, dropped: added.dropped }
    : undefined
  return [emptyWindow(next), ready]
}
