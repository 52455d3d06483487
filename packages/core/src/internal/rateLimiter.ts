/**
 * `RateLimiter` over a `RateLimiterStore`: option validation, store keys,
 * modes, metrics and logs. The bucket arithmetic lives in the store.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as RateLimiter from "../RateLimiter.js"
import type * as RateLimiterStore from "../RateLimiterStore.js"
import type { InvalidOptionsError } from "../ResilienceError.js"
import { RateLimitedError } from "../ResilienceError.js"
import * as KeyHash from "./keyHash.js"
import * as schemas from "./options.js"
import * as StoreInternal from "./rateLimiterStore.js"
import * as T from "./telemetry.js"
import * as validate from "./validate.js"

const POLICY = "RateLimiter"

/** @internal */
export const decisionsKey = T.rateLimiterDecisions

/** @internal */
export const decisionsTotal = Metric.fromMetricKey(decisionsKey)

// Tags resolved into the key once per limiter: `Metric.tagged` would rebuild
// and look the key up on every increment (~4 µs).
const outcomeCounter = (limiter: string, outcome: string): Metric.Metric.Counter<number> =>
  T.taggedCounter(decisionsKey, [...T.baseLabels("rate_limiter", limiter, ""), MetricLabel.make("outcome", outcome)])

const decodeOptions = schemas.decoder(POLICY, schemas.RateLimiterOptions)

/** @internal */
export const resolveOptions = (
  options: RateLimiter.Options
): Effect.Effect<RateLimiter.ResolvedOptions, InvalidOptionsError> =>
  Effect.gen(function*() {
    const decoded = yield* decodeOptions(options)
    const { name, tokensPerSecond } = decoded
    const burstSize = decoded.burstSize ?? Math.max(1, Math.ceil(tokensPerSecond))
    const global: RateLimiter.ResolvedOptions["global"] = decoded.global === undefined
      ? Option.none()
      : Option.some({
        tokensPerSecond: decoded.global.tokensPerSecond,
        burstSize: decoded.global.burstSize ?? Math.max(1, Math.ceil(decoded.global.tokensPerSecond))
      })
    const maxCost = schemas.maxCostOf(decoded)
    const cost = decoded.cost ?? 1
    const mode = decoded.mode ?? "fail"
    const maxWait = decoded.maxWait ?? Duration.seconds(10)
    const windows = (decoded.windows ?? [])
      .map((w) => ({ limit: w.limit, windowMillis: Duration.toMillis(w.per) }))
      .sort((a, b) => a.windowMillis - b.windowMillis)
    return { name, tokensPerSecond, burstSize, cost, maxCost, global, mode, maxWait, windows }
  })

// The global bucket's key within the limiter's namespace. `safeKey` never
// yields a `*` (not in its verbatim set, not in its hash form), so no client
// key can name the global bucket.
// A runtime carrying a fiber's refs (loggers, annotations, log level) and
// context, to emit a log on its behalf from inside one of its sync steps.
const runtimeOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Runtime.Runtime<never> =>
  Runtime.make({
    context: fiber.currentContext,
    fiberRefs: fiber.getFiberRefs(),
    runtimeFlags: Runtime.defaultRuntimeFlags
  })

const globalKeySuffix = "*"
// A client key "" would be the keyless bucket's key (the bare prefix): it is
// stored under the hash form instead, like any key that is not kept verbatim.
const emptyClientKey = KeyHash.hashKey("")

// `KeyHash.isVerbatim`'s characters, as a table for the store's one-pass hash.
const SAFE = KeyHash.SAFE

/** The store key of a client key, within the limiter's namespace. @internal */
export const clientKey = (key: string): string => key.length === 0 ? emptyClientKey : KeyHash.safeKey(key)

/**
 * A limiter's synchronous decision, present when its store has one (the
 * memory store): for a caller already inside a fiber-runtime step, such as
 * an HTTP middleware, one decision without an Effect of its own (no run-loop
 * step). It counts the decision in the metrics like `consume`, but logs
 * nothing: a rejection's debug log is the caller's. Returns `undefined` when
 * the cost is not in (0, maxCost] (use `consume`).
 *
 * @internal
 */
export const UnsafeConsume: unique symbol = Symbol.for("@effect-resilience/core/RateLimiter/unsafeConsume")

/** @internal */
export type UnsafeConsume = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  key: string | undefined,
  cost: number
) => RateLimiterStore.Decision | undefined

// A store's raw decision (whole milliseconds) as the limiter's public one (Durations). Zero, the common case
// (nothing to wait, nothing to retry after), shares `Duration.zero`: an admitted decision builds one Duration.
const durationOf = (millis: number): Duration.Duration => millis === 0 ? Duration.zero : Duration.millis(millis)

/** @internal */
export const toDecision = (raw: RateLimiterStore.Decision): RateLimiter.Decision => ({
  allowed: raw.allowed,
  wait: durationOf(raw.waitMillis),
  limit: raw.limit,
  remaining: raw.remaining,
  resetAfter: durationOf(raw.resetAfterMillis),
  retryAfter: durationOf(raw.retryAfterMillis),
  rejectedBy: raw.rejectedBy,
  binding: raw.binding
})

/** A window's label in metrics and span events: its length, `Duration.format`ted ("1m", "1d"). @internal */
export const windowLabel = (windowMillis: number): string => Duration.format(Duration.millis(windowMillis))

/**
 * A client bucket's window key: the bucket key, `@`, the length in
 * milliseconds, `ms`. Read from the end (the last `@`) it names one bucket
 * key and one length, so no two (client, window) pairs share a key.
 *
 * @internal
 */
export const windowKey = (bucketKey: string, windowMillis: number): string => `${bucketKey}@${windowMillis}ms`

/** @internal */
export const unsafeConsumeOf = (limiter: RateLimiter.Service): UnsafeConsume | undefined =>
  (limiter as { readonly [UnsafeConsume]?: UnsafeConsume })[UnsafeConsume]

/** @internal */
export const make = (
  store: RateLimiterStore.Service,
  options: RateLimiter.ResolvedOptions
): RateLimiter.Service => {
  const { maxCost, mode, name } = options
  const prefix = KeyHash.safeKey(name) + "|"
  const maxWaitMillis = mode === "wait" ? Duration.toMillis(options.maxWait) : 0
  const globalBucket: RateLimiterStore.Bucket | undefined = Option.isSome(options.global)
    ? { key: prefix + globalKeySuffix, ...options.global.value }
    : undefined
  const noKeyBucket: RateLimiterStore.Bucket = {
    key: prefix,
    tokensPerSecond: options.tokensPerSecond,
    burstSize: options.burstSize
  }
  const globalBurst = globalBucket === undefined ? -1 : globalBucket.burstSize
  // The multi-window quota: windows follow the buckets in every request (and in `binding`).
  const windowSpecs = options.windows
  const bucketCount = globalBucket === undefined ? 1 : 2
  // The last key's windows are kept: one busy client's decisions follow each other (no strings built).
  let lastWindowsKey: string | undefined = undefined
  let lastWindows: ReadonlyArray<RateLimiterStore.Window> = []
  const windowsFor = windowSpecs.length === 0 ?
    undefined :
    (bucketKey: string): ReadonlyArray<RateLimiterStore.Window> => {
      if (bucketKey !== lastWindowsKey) {
        lastWindows = windowSpecs.map((w) => ({
          key: windowKey(bucketKey, w.windowMillis),
          limit: w.limit,
          windowMillis: w.windowMillis
        }))
        lastWindowsKey = bucketKey
      }
      return lastWindows
    }
  // The window a decision is bound by, if a window (not a bucket) decided.
  const windowIndex = (decision: RateLimiterStore.Decision): number => {
    const binding = decision.binding
    return binding === undefined || binding < bucketCount || binding - bucketCount >= windowSpecs.length
      ? -1
      : binding - bucketCount
  }
  const windowDurations = windowSpecs.map((w) => Duration.millis(w.windowMillis))
  const publicDecision = windowsFor === undefined ? toDecision : (raw: RateLimiterStore.Decision) => {
    const j = windowIndex(raw)
    const decision = toDecision(raw)
    return j < 0 ? decision : { ...decision, window: windowDurations[j] }
  }

  // Which bucket a decision is reported for: the store says so (`binding`, the
  // memory store does), else the rejecting key, else the reported limit.
  const boundBy = (decision: RateLimiter.Decision | RateLimiterStore.Decision): "client" | "global" => {
    if (globalBucket === undefined) return "client"
    // windows (index 2 on) are the client's
    if (decision.binding !== undefined) return decision.binding === 1 ? "global" : "client"
    if (!decision.allowed) return decision.rejectedBy === globalBucket.key ? "global" : "client"
    return decision.limit === globalBurst && globalBurst !== options.burstSize ? "global" : "client"
  }

  const allowedCounter = outcomeCounter(name, "allowed")
  const waitedCounter = outcomeCounter(name, "waited")
  const rejectedCounter = outcomeCounter(name, "rejected")
  // A rejection by a window is labelled with it (`window`: "1m", "1d").
  const windowRejectedCounters = windowSpecs.map((w) =>
    T.taggedCounter(decisionsKey, [
      ...T.baseLabels("rate_limiter", name, ""),
      MetricLabel.make("outcome", "rejected"),
      MetricLabel.make("window", windowLabel(w.windowMillis))
    ])
  )
  const windowLabels = windowSpecs.map((w) => windowLabel(w.windowMillis))

  // Fast path over the memory store: one fiber-runtime step reads the Clock
  // and the metric labels, decides synchronously on a scratch request (the
  // store keeps no reference to it), and counts; no Effect per step. Its
  // buckets come split (namespace = prefix), so the client key is passed as
  // it is, no per-call concatenation. Windows ride along, kept for the last
  // client key (a busy client's decisions follow each other: no strings built).
  const unsafeConsume = StoreInternal.unsafeConsumeOf(store)
  const hashIfSafe = globalBucket === undefined ? StoreInternal.hashIfSafeOf(store) : undefined
  const scratchBucket = {
    namespace: prefix,
    key: "",
    tokensPerSecond: options.tokensPerSecond,
    burstSize: options.burstSize
  }
  const scratch = {
    buckets: globalBucket === undefined
      ? [scratchBucket]
      : [scratchBucket, { ...globalBucket, namespace: prefix, key: globalKeySuffix }],
    cost: options.cost,
    maxWaitMillis,
    windows: undefined as ReadonlyArray<RateLimiterStore.Window> | undefined
  }
  let lastClient: string | undefined = undefined
  let lastClientWindows: ReadonlyArray<RateLimiterStore.Window> | undefined = undefined
  const windowsOfClient = (key: string | undefined): ReadonlyArray<RateLimiterStore.Window> | undefined => {
    if (windowsFor === undefined) return undefined
    if (lastClientWindows === undefined || key !== lastClient) {
      lastClientWindows = windowsFor(key === undefined ? prefix : prefix + clientKey(key))
      lastClient = key
    }
    return lastClientWindows
  }
  const decideNow = (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    consume: StoreInternal.UnsafeConsume,
    key: string | undefined,
    cost: number
  ): RateLimiterStore.Decision => {
    // One bucket: a short key's verbatim check and its index hash in one
    // pass (NaN: not verbatim, or no hash to pass).
    let hash = Number.NaN
    if (key === undefined) scratchBucket.key = ""
    else if (
      hashIfSafe !== undefined && key.length > 0 && key.length <= KeyHash.MAX_VERBATIM &&
      (hash = hashIfSafe(prefix, key, SAFE)) === hash
    ) scratchBucket.key = key
    else scratchBucket.key = clientKey(key)
    scratch.cost = cost
    if (windowsFor !== undefined) scratch.windows = windowsOfClient(key)
    const decision = consume(scratch, fiber, hash)
    count(fiber, decision)
    return decision
  }

  const bucketFor = (key: string | undefined): RateLimiterStore.Bucket =>
    key === undefined ? noKeyBucket : {
      key: prefix + clientKey(key),
      tokensPerSecond: options.tokensPerSecond,
      burstSize: options.burstSize
    }

  const requestFor = (
    key: string | undefined,
    cost: number,
    maxWaitMillis: number
  ): RateLimiterStore.Request => {
    const bucket = bucketFor(key)
    const buckets = globalBucket === undefined ? [bucket] : [bucket, globalBucket]
    return windowsFor === undefined
      ? { buckets, cost, maxWaitMillis }
      : { buckets, cost, maxWaitMillis, windows: windowsFor(bucket.key) }
  }

  // A per-call cost is validated on the call; a bad one is a programming
  // error (a defect), since the limiter's own options were already checked.
  const costOf = (call: RateLimiter.CallOptions | undefined): number | InvalidOptionsError => {
    const cost = call?.cost
    if (cost === undefined) return options.cost
    return cost >= 0 && cost <= maxCost ? cost : validate.invalid(POLICY, "cost", cost, `must be in [0, ${maxCost}]`)
  }

  const errorKey = (key: string | undefined): string => key === undefined ? name : clientKey(key)

  const count = (fiber: Fiber.RuntimeFiber<unknown, unknown>, decision: RateLimiterStore.Decision): void => {
    const j = windowsFor === undefined ? -1 : windowIndex(decision)
    const counter = !decision.allowed
      ? (j < 0 ? rejectedCounter : windowRejectedCounters[j])
      : decision.waitMillis > 0
      ? waitedCounter
      : allowedCounter
    counter.unsafeUpdate(1, fiber.getFiberRef(FiberRef.currentMetricLabels))
    if (counter !== allowedCounter) {
      const attributes: Record<string, unknown> = {
        [T.Attr.rateLimiterName]: name,
        [T.Attr.rateLimiterAllowed]: decision.allowed,
        [T.Attr.rateLimiterRemaining]: decision.remaining,
        [T.Attr.retryAfterMs]: decision.allowed ? decision.waitMillis : decision.retryAfterMillis
      }
      if (j >= 0) attributes[T.Attr.rateLimiterWindow] = windowLabels[j]
      T.unsafeEvent(fiber, T.Event.rateLimited, attributes)
    }
  }

  // The rejection's debug log, or undefined when debug logs are off: under a
  // flood, building annotations nobody logs would cost more than the decision.
  const logRejection = (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    key: string | undefined,
    decision: RateLimiterStore.Decision
  ): Effect.Effect<void> | undefined =>
    LogLevel.greaterThan(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), LogLevel.Debug)
      ? undefined
      : Effect.annotateLogs(Effect.logDebug("rate limiter rejected a call"), {
        limiter: name,
        key: errorKey(key),
        retryAfterMillis: decision.retryAfterMillis,
        limit: decision.limit,
        remaining: decision.remaining,
        rejectedBy: decision.rejectedBy ?? ""
      })

  /** Count a decision (and log a rejection); the decision is the result. */
  const settle = (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    key: string | undefined,
    decision: RateLimiterStore.Decision
  ): Effect.Effect<RateLimiter.Decision> => {
    if (decision.allowed) return Effect.succeed(publicDecision(decision))
    const log = logRejection(fiber, key, decision)
    return log === undefined ? Effect.succeed(publicDecision(decision)) : Effect.as(log, publicDecision(decision))
  }

  /** A rejection as a failure, logged. */
  const reject = (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    key: string | undefined,
    decision: RateLimiterStore.Decision
  ): Effect.Effect<never, RateLimitedError> => {
    const log = logRejection(fiber, key, decision)
    const error = Effect.fail(rejection(key, decision))
    return log === undefined ? error : Effect.zipRight(log, error)
  }

  // The continuations of a store's decision. They run inside the fiber (the
  // callback of a flatMap over the store's call), so they read it directly
  // instead of taking a withFiberRuntime step of their own: one run-loop step
  // less per decision of a remote store.
  const record = (key: string | undefined, decision: RateLimiterStore.Decision) => {
    const fiber = Option.getOrThrow(Fiber.getCurrentFiber())
    count(fiber, decision)
    return settle(fiber, key, decision)
  }

  const recordOrReject = (
    key: string | undefined,
    decision: RateLimiterStore.Decision
  ): Effect.Effect<RateLimiter.Decision, RateLimitedError> => {
    const fiber = Option.getOrThrow(Fiber.getCurrentFiber())
    count(fiber, decision)
    return decision.allowed ? Effect.succeed(publicDecision(decision)) : reject(fiber, key, decision)
  }

  // Under a flood, rejections are the hot path: the fields are ours and
  // well-typed, so skip the constructor's Schema validation (~40 µs). The
  // JavaScript stack trace stays (a few µs per rejection): skipping it would
  // mean changing the process-wide stack trace limit (DESIGN.md rule 1).
  const rejection = (key: string | undefined, decision: RateLimiterStore.Decision): RateLimitedError =>
    new RateLimitedError({
      key: errorKey(key),
      policy: boundBy(decision),
      retryAfter: Duration.millis(decision.retryAfterMillis),
      limit: decision.limit,
      remaining: decision.remaining
    }, true)

  const check = (key?: string | undefined, call?: RateLimiter.CallOptions | undefined) => {
    const cost = costOf(call)
    if (typeof cost !== "number") return Effect.die(cost)
    return Effect.map(store.peek(requestFor(key, cost, maxWaitMillis)), publicDecision)
  }

  const consume = (key?: string | undefined, call?: RateLimiter.CallOptions | undefined) => {
    const cost = costOf(call)
    if (typeof cost !== "number") return Effect.die(cost)
    if (cost === 0) return Effect.map(store.peek(requestFor(key, 0, 0)), publicDecision)
    if (unsafeConsume !== undefined) {
      // One run-loop step (a sync op reading the fiber that runs it), not a
      // withFiberRuntime step plus the succeed it returns: ~35 ns of ~250.
      return Effect.sync(() => {
        const fiber = Option.getOrThrow(Fiber.getCurrentFiber())
        const decision = decideNow(fiber, unsafeConsume, key, cost)
        if (!decision.allowed) {
          const log = logRejection(fiber, key, decision)
          // only with debug logs on: emitted now, with this fiber's loggers, annotations and level
          if (log !== undefined) Runtime.runSync(runtimeOf(fiber), log)
        }
        return publicDecision(decision)
      })
    }
    return Effect.flatMap(store.consume(requestFor(key, cost, maxWaitMillis)), (decision) => record(key, decision))
  }

  const acquireFail = (
    key: string | undefined,
    cost: number
  ): Effect.Effect<RateLimiter.Decision, RateLimitedError | RateLimiterStore.RateLimiterStoreError> => {
    if (unsafeConsume !== undefined) {
      return Effect.withFiberRuntime((fiber) => {
        const decision = decideNow(fiber, unsafeConsume, key, cost)
        return decision.allowed ? Effect.succeed(publicDecision(decision)) : reject(fiber, key, decision)
      })
    }
    return Effect.flatMap(store.consume(requestFor(key, cost, 0)), (decision) => recordOrReject(key, decision))
  }

  // Wait mode: the reservation is made and its refund armed without a gap an
  // interruption could fall into; only the sleep is interruptible.
  const acquireWait = (key: string | undefined, cost: number) => {
    const request = requestFor(key, cost, maxWaitMillis)
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(store.consume(request), (decision) => {
        if (!decision.allowed || decision.waitMillis === 0) return recordOrReject(key, decision)
        return Effect.zipRight(
          record(key, decision),
          Effect.onInterrupt(
            Effect.as(restore(Effect.sleep(Duration.millis(decision.waitMillis))), publicDecision(decision)),
            () => Effect.ignore(store.refund(request, decision))
          )
        )
      })
    )
  }

  const acquire = (
    key?: string | undefined,
    call?: RateLimiter.CallOptions | undefined
  ): Effect.Effect<RateLimiter.Decision, RateLimitedError | RateLimiterStore.RateLimiterStoreError> => {
    const cost = costOf(call)
    if (typeof cost !== "number") return Effect.die(cost)
    if (cost === 0) return Effect.map(store.peek(requestFor(key, 0, 0)), publicDecision)
    return mode === "fail" ? acquireFail(key, cost) : acquireWait(key, cost)
  }

  const execute = <A, E, R>(
    self: Effect.Effect<A, E, R>,
    call?: RateLimiter.ExecuteOptions | undefined
  ): Effect.Effect<A, E | RateLimitedError | RateLimiterStore.RateLimiterStoreError, R> => {
    if (unsafeConsume !== undefined && mode === "fail") {
      const cost = costOf(call)
      if (typeof cost === "number" && cost > 0) {
        const key = call?.key
        return Effect.withFiberRuntime((fiber) => {
          const decision = decideNow(fiber, unsafeConsume, key, cost)
          return decision.allowed ? self : reject(fiber, key, decision)
        })
      }
    }
    return Effect.zipRight(acquire(call?.key, call), self)
  }

  const stats = Effect.gen(function*() {
    const storeStats = yield* store.stats
    let global: RateLimiter.Stats["global"] = Option.none()
    if (globalBucket !== undefined) {
      const decision = yield* store.peek({ buckets: [globalBucket], cost: 0, maxWaitMillis: 0 })
      global = Option.some({
        limit: decision.limit,
        remaining: decision.remaining,
        resetAfter: durationOf(decision.resetAfterMillis)
      })
    }
    return {
      name,
      mode,
      tokensPerSecond: options.tokensPerSecond,
      burstSize: options.burstSize,
      keys: storeStats.keys,
      maxKeys: storeStats.maxKeys,
      global
    } satisfies RateLimiter.Stats
  })

  const limiter: RateLimiter.Service = { name, options, check, consume, acquire, execute, stats, boundBy }
  if (unsafeConsume === undefined) return limiter
  const unsafe: UnsafeConsume = (fiber, key, cost) =>
    cost > 0 && cost <= maxCost ? decideNow(fiber, unsafeConsume, key, cost) : undefined
  return Object.assign(limiter, { [UnsafeConsume]: unsafe })
}
