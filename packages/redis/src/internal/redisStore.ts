/**
 * The Redis `RateLimiterStore`: key layout, reply decoding, and the degraded
 * mode (fail open / fail closed / local fallback / fail) with its recovery
 * probe.
 *
 * @internal
 */
import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as validate from "@effect-resilience/core/Validate"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Api from "../RedisRateLimiterStore.js"
import * as Connection from "./connection.js"

const POLICY = "RedisRateLimiterStore"

/** @internal */
export const DEFAULT_PREFIX = "effect-resilience:rl:"

/** The largest `maxBatchSize`. @internal */
export const MAX_BATCH_LIMIT = 1_000

/** Added to every key's expiry: a key never expires before its bucket is full. @internal */
export const TTL_MARGIN_MILLIS = 1_000

const PRINTABLE_WITHOUT_BRACES = /^[^{}\p{Cc}]*$/u

const FAILURE_MODES: ReadonlyArray<Api.FailureMode> = ["fail-open", "fail-closed", "fallback-memory", "fail"]

/**
 * A bucket key as it goes into a Redis key: core's one scheme
 * (`RateLimiterStore.storeKey`). Keys `RateLimiter` produces are kept as they
 * are; anything else (a store used directly with a hostile key: braces,
 * spaces, control bytes, megabytes) is hashed, so it can neither break the
 * hash tag nor bloat Redis.
 *
 * @internal
 */
export const safeKey = RateLimiterStore.storeKey

/**
 * Redis keys of one decision. Multi-key Lua on Redis Cluster needs every key
 * of a call in one hash slot, so a multi-bucket decision tags every key with
 * its LAST bucket (the global one: buckets come most specific first). Every
 * decision of such a limiter touches the global key's slot anyway, so putting
 * its client keys there adds no hot spot. A single-bucket decision is tagged by
 * its own key, so those spread over the cluster. The last bucket's key is the
 * same in both forms: `${prefix}{${key}}`.
 *
 * @internal
 */
export const redisKeys = (prefix: string, buckets: ReadonlyArray<RateLimiterStore.Bucket>): Array<string> => {
  const n = buckets.length
  const tag = `${prefix}{${safeKey(buckets[n - 1].key)}}`
  const keys = new Array<string>(n)
  for (let i = 0; i < n - 1; i++) keys[i] = tag + safeKey(buckets[i].key)
  keys[n - 1] = tag
  return keys
}

const invalidRequest = (request: RateLimiterStore.Request, op: "c" | "p"): string | undefined => {
  const buckets = request.buckets
  if (!Array.isArray(buckets) || buckets.length === 0) return "a request needs at least one bucket"
  const cost = request.cost
  if (!(Number.isFinite(cost) && (op === "p" ? cost >= 0 : cost > 0))) return `invalid cost ${cost}`
  if (!(Number.isFinite(request.maxWaitMillis) && request.maxWaitMillis >= 0)) {
    return `invalid maxWaitMillis ${request.maxWaitMillis}`
  }
  for (const b of buckets) {
    if (typeof b.key !== "string") return "a bucket key must be a string"
    if (!(Number.isFinite(b.tokensPerSecond) && b.tokensPerSecond > 0)) {
      return `invalid tokensPerSecond ${b.tokensPerSecond}`
    }
    if (!(Number.isFinite(b.burstSize) && b.burstSize >= 1)) return `invalid burstSize ${b.burstSize}`
  }
  const windows = request.windows
  if (windows !== undefined) {
    if (!Array.isArray(windows) || windows.length > MAX_WINDOWS) return `at most ${MAX_WINDOWS} windows`
    for (const w of windows) {
      if (typeof w.key !== "string") return "a window key must be a string"
      if (!(Number.isInteger(w.limit) && w.limit >= 1)) return `invalid window limit ${w.limit}`
      if (!(Number.isInteger(w.windowMillis) && w.windowMillis >= 1 && w.windowMillis <= MAX_WINDOW_MILLIS)) {
        return `invalid windowMillis ${w.windowMillis}`
      }
    }
  }
  return undefined
}

// The bounds core's RateLimiter validates (8 windows, 366 days), for a store used directly.
const MAX_WINDOWS = 8
const MAX_WINDOW_MILLIS = 366 * 86_400_000

const hasWindows = (request: RateLimiterStore.Request): boolean =>
  request.windows !== undefined && request.windows.length > 0

/**
 * The windows script's arguments (see `Script.sourceWindows`): the buckets'
 * keys as `redisKeys` makes them, then each window's key in the same hash
 * slot (the buckets' tag) with a `%` no bucket key has.
 *
 * @internal
 */
export const windowArgs = (
  prefix: string,
  op: "c" | "p" | "r",
  request: RateLimiterStore.Request,
  reservation?: ReadonlyArray<number> | undefined
): Array<string | number> => {
  const buckets = request.buckets
  const windows = request.windows ?? []
  const n = buckets.length
  const m = windows.length
  const keys = redisKeys(prefix, buckets)
  const tag = keys[n - 1]
  const args: Array<string | number> = [n + m, ...keys]
  for (const w of windows) args.push(`${tag}%${safeKey(w.key)}`)
  args.push(op, TTL_MARGIN_MILLIS, n, m, request.cost, request.maxWaitMillis)
  for (const b of buckets) args.push(b.tokensPerSecond, b.burstSize)
  for (const w of windows) args.push(w.limit, w.windowMillis)
  if (reservation !== undefined) { for (const x of reservation) args.push(x) }
  return args
}

/** The windows script's reply as a decision (`binding` ranges over buckets then windows). @internal */
export const decodeWindowsDecision = (
  request: RateLimiterStore.Request,
  raw: unknown
): RateLimiterStore.Decision | undefined => {
  if (!Array.isArray(raw) || raw.length < 6) return undefined
  const n = request.buckets.length
  const windows = request.windows ?? []
  const binding = Number(raw[2]) - 1
  const limited = binding < n ? request.buckets[binding] : windows[binding - n]
  if (limited === undefined) return undefined
  const allowed = raw[0] === 1
  const waitMillis = Number(raw[1])
  let reservation: Array<number> | undefined
  if (allowed && waitMillis > 0 && raw.length >= 6 + 2 * n + 4 * windows.length) {
    reservation = new Array<number>(raw.length - 6)
    for (let i = 6; i < raw.length; i++) reservation[i - 6] = Number(raw[i])
  }
  return {
    allowed,
    waitMillis,
    limit: binding < n ? (limited as RateLimiterStore.Bucket).burstSize : (limited as RateLimiterStore.Window).limit,
    remaining: Number(raw[3]),
    resetAfterMillis: Number(raw[4]),
    retryAfterMillis: Number(raw[5]),
    rejectedBy: allowed ? undefined : limited.key,
    binding,
    reservation
  }
}

const decisionArgs = (
  prefix: string,
  op: "c" | "p",
  request: RateLimiterStore.Request
): Array<string | number> => {
  const buckets = request.buckets
  const n = buckets.length
  if (n === 1) {
    // the common case, built in one literal
    const bucket = buckets[0]
    return [
      1,
      `${prefix}{${safeKey(bucket.key)}}`,
      op,
      TTL_MARGIN_MILLIS,
      request.cost,
      request.maxWaitMillis,
      bucket.tokensPerSecond,
      bucket.burstSize
    ]
  }
  const keys = redisKeys(prefix, buckets)
  const args: Array<string | number> = [n]
  for (let i = 0; i < n; i++) args.push(keys[i])
  args.push(op, TTL_MARGIN_MILLIS, request.cost, request.maxWaitMillis)
  for (let i = 0; i < n; i++) args.push(buckets[i].tokensPerSecond, buckets[i].burstSize)
  return args
}

const refundArgs = (
  prefix: string,
  request: RateLimiterStore.Request,
  reservation: ReadonlyArray<number>
): Array<string | number> => {
  const n = request.buckets.length
  const keys = redisKeys(prefix, request.buckets)
  const args: Array<string | number> = [n]
  for (let i = 0; i < n; i++) args.push(keys[i])
  args.push("r", TTL_MARGIN_MILLIS)
  for (let i = 0; i < 2 * n; i++) args.push(reservation[i])
  return args
}

/** @internal */
export const decodeDecision = (
  request: RateLimiterStore.Request,
  raw: unknown
): RateLimiterStore.Decision | undefined => {
  if (!Array.isArray(raw)) return undefined
  if (raw.length === 2) {
    // the short form: allowed at once, bound by the first bucket
    const bucket = request.buckets[0]
    if (bucket === undefined) return undefined
    return {
      allowed: true,
      waitMillis: 0,
      limit: bucket.burstSize,
      remaining: Number(raw[0]),
      resetAfterMillis: Number(raw[1]),
      retryAfterMillis: 0,
      rejectedBy: undefined,
      reservation: undefined
    }
  }
  if (raw.length < 6) return undefined
  const allowed = raw[0] === 1
  const waitMillis = Number(raw[1])
  const bucket = request.buckets[Number(raw[2]) - 1]
  if (bucket === undefined) return undefined
  let reservation: Array<number> | undefined
  if (allowed && waitMillis > 0 && raw.length >= 6 + 2 * request.buckets.length) {
    reservation = new Array<number>(raw.length - 6)
    for (let i = 6; i < raw.length; i++) reservation[i - 6] = Number(raw[i])
  }
  return {
    allowed,
    waitMillis,
    limit: bucket.burstSize,
    remaining: Number(raw[3]),
    resetAfterMillis: Number(raw[4]),
    retryAfterMillis: Number(raw[5]),
    rejectedBy: allowed ? undefined : bucket.key,
    reservation
  }
}

/** @internal */
export const storeErrors = Metric.counter("resilience_rate_limiter_store_errors_total", {
  description: "Rate limiter store calls that failed (tagged by store, prefix and reason: timeout, connection, script)",
  incremental: true
})

/** @internal */
export const degradedGauge = Metric.gauge("resilience_rate_limiter_store_degraded", {
  description: "1 while the Redis rate limiter store answers with its failure mode instead of Redis, else 0"
})

/** @internal */
export const fallbackDecisions = Metric.counter("resilience_rate_limiter_store_fallback_decisions_total", {
  description: "Decisions made by the failure mode (fail-open, fail-closed, fallback-memory) instead of Redis",
  incremental: true
})

/** @internal */
export interface Resolved {
  readonly url: string | undefined
  readonly clusterNodes: ReadonlyArray<string> | undefined
  readonly prefix: string
  readonly timeoutMillis: number
  readonly connectTimeoutMillis: number
  readonly probeIntervalMillis: number
  readonly onError: Api.FailureMode
  readonly maxBatchSize: number
}

/**
 * Where a store connects, validated (one rule for every store of the
 * package): `url` a redis:// or rediss:// URL, or `cluster` with at least one
 * node and neither `url` nor `redisOptions` beside it. Never echoes a URL in
 * an error (it may hold a password).
 *
 * @internal
 */
export const resolveTarget = (
  policy: string,
  options: Pick<Api.Options, "url" | "redisOptions" | "cluster"> | undefined
): Effect.Effect<
  { readonly url: string | undefined; readonly clusterNodes: ReadonlyArray<string> | undefined },
  InvalidOptionsError
> =>
  Effect.gen(function*() {
    const url = options?.url === undefined ? undefined : Redacted.isRedacted(options.url)
      ? Redacted.value(options.url)
      : options.url
    if (url !== undefined && (typeof url !== "string" || !/^rediss?:\/\//.test(url))) {
      // Never echo the URL: it may hold a password.
      return yield* validate.fail(policy, "url", "<redacted>", "must be a redis:// or rediss:// URL")
    }
    let clusterNodes: Array<string> | undefined
    if (options?.cluster !== undefined) {
      if (options.url !== undefined || options.redisOptions !== undefined) {
        return yield* validate.fail(
          policy,
          "cluster",
          "<redacted>",
          "cannot be combined with url or redisOptions (use cluster.options.redisOptions)"
        )
      }
      const nodes: unknown = options.cluster.nodes
      if (!Array.isArray(nodes) || nodes.length === 0) {
        return yield* validate.fail(policy, "cluster.nodes", "<redacted>", "must list at least one node")
      }
      clusterNodes = []
      for (const node of nodes) {
        const value: unknown = Redacted.isRedacted(node) ? Redacted.value(node) : node
        if (typeof value !== "string" || !/^rediss?:\/\//.test(value)) {
          return yield* validate.fail(policy, "cluster.nodes", "<redacted>", "every node must be a redis:// URL")
        }
        clusterNodes.push(value)
      }
    }
    return { url, clusterNodes }
  })

/** The rule of a key prefix: printable, short, no hash tag braces. @internal */
export const resolvePrefix = (
  policy: string,
  prefix: string
): Effect.Effect<string, InvalidOptionsError> =>
  typeof prefix !== "string" || prefix.length > 256 || !PRINTABLE_WITHOUT_BRACES.test(prefix)
    ? validate.fail(
      policy,
      "prefix",
      prefix,
      "must be a string of at most 256 printable characters without { or } (they would break the hash tag)"
    )
    : Effect.succeed(prefix)

/** @internal */
export const resolve = (options: Api.Options | undefined): Effect.Effect<Resolved, InvalidOptionsError> =>
  Effect.gen(function*() {
    const prefix = yield* resolvePrefix(POLICY, options?.prefix ?? DEFAULT_PREFIX)
    const onError = options?.onError ?? "fallback-memory"
    if (!FAILURE_MODES.includes(onError)) {
      return yield* validate.fail(POLICY, "onError", onError, `must be one of ${FAILURE_MODES.join(", ")}`)
    }
    const { clusterNodes, url } = yield* resolveTarget(POLICY, options)
    const timeout = yield* validate.duration(POLICY, "timeout", options?.timeout, Duration.millis(500))
    const connectTimeout = yield* validate.duration(POLICY, "connectTimeout", options?.connectTimeout, "1 second")
    const probeInterval = yield* validate.duration(POLICY, "probeInterval", options?.probeInterval, "500 millis")
    const maxBatchSize = yield* validate.positiveInt(
      POLICY,
      "maxBatchSize",
      options?.maxBatchSize,
      Connection.DEFAULT_MAX_BATCH
    )
    if (maxBatchSize > MAX_BATCH_LIMIT) {
      // the batch script MGETs every key of a batch at once (Lua's unpack has a stack limit)
      return yield* validate.fail(POLICY, "maxBatchSize", maxBatchSize, `must be <= ${MAX_BATCH_LIMIT}`)
    }
    return {
      url,
      clusterNodes,
      prefix,
      timeoutMillis: Math.max(1, Math.ceil(Duration.toMillis(timeout))),
      connectTimeoutMillis: Math.max(1, Math.ceil(Duration.toMillis(connectTimeout))),
      probeIntervalMillis: Math.max(1, Math.ceil(Duration.toMillis(probeInterval))),
      onError,
      maxBatchSize
    }
  })

/** @internal */
export const make = (
  options?: Api.Options | undefined
): Effect.Effect<RateLimiterStore.Service, InvalidOptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = yield* resolve(options)
    const fallback = resolved.onError === "fallback-memory"
      ? yield* RateLimiterStore.makeMemory(options?.fallback)
      : undefined
    const connection = yield* Connection.open({
      url: resolved.url,
      redisOptions: options?.redisOptions,
      cluster: resolved.clusterNodes === undefined
        ? undefined
        : { nodes: resolved.clusterNodes, options: options?.cluster?.options },
      budgetMillis: resolved.timeoutMillis,
      connectTimeoutMillis: resolved.connectTimeoutMillis,
      maxBatch: resolved.maxBatchSize
    })
    return makeService(resolved, connection, fallback)
  })

const makeService = (
  resolved: Resolved,
  connection: Connection.Connection,
  fallback: RateLimiterStore.Service | undefined
): RateLimiterStore.Service => {
  const { onError, prefix, probeIntervalMillis } = resolved
  // the label scheme of core's Observability: policy, service (the key prefix), operation, then the store's own
  const labelled = <T, I, O>(metric: Metric.Metric<T, I, O>) =>
    Metric.taggedWithLabels(metric, [
      MetricLabel.make("policy", "rate_limiter_store"),
      MetricLabel.make("service", prefix),
      MetricLabel.make("operation", ""),
      MetricLabel.make("store", "redis")
    ])
  const tags = (metric: typeof storeErrors) => labelled(metric)
  const errorsByReason: Record<Connection.FailureReason, typeof storeErrors> = {
    timeout: Metric.tagged(tags(storeErrors), "reason", "timeout"),
    connection: Metric.tagged(tags(storeErrors), "reason", "connection"),
    script: Metric.tagged(tags(storeErrors), "reason", "script")
  }
  const degradedMetric = labelled(degradedGauge)
  const fallbackMetric = Metric.tagged(tags(fallbackDecisions), "mode", onError)

  // Reservations made by Redis (a refund goes back to where its tokens came from).
  const fromRedis = new WeakSet<ReadonlyArray<number>>()

  // Degraded: the last call failed; decisions come from the failure mode, and
  // Redis is only probed (at most once per probeInterval, and only while the
  // connection is up) until a probe succeeds. Plain fields: JS is single-threaded.
  let degraded = false
  let degradedSince = 0
  let lastProbeAt = 0
  // Decisions the failure mode answered in this episode: logged once, on recovery.
  let affected = 0

  const reasonText = (failure: Connection.CallFailure): string =>
    failure.reason === "timeout"
      ? `no reply within ${resolved.timeoutMillis} ms`
      : failure.cause instanceof Error
      ? failure.cause.message
      : String(failure.cause)

  const recordFailure = (failure: Connection.CallFailure, probe: boolean): Effect.Effect<void> =>
    Effect.suspend(() => {
      // A probe that timed out on a connection that looks healthy: the server
      // is hung or far too slow. Drop the socket, which rejects every command
      // still waiting on it (none is left to pile up) and reconnects.
      if (probe && failure.reason === "timeout") connection.reset()
      const count = Metric.increment(errorsByReason[failure.reason])
      if (degraded) return count
      degraded = true
      affected = 0
      degradedSince = Date.now()
      lastProbeAt = degradedSince
      return Effect.zipRight(
        count,
        Effect.zipRight(
          Metric.set(degradedMetric, 1),
          Effect.logWarning(`Redis rate limiter store degraded: answering with ${onError} until Redis recovers`).pipe(
            Effect.annotateLogs({ prefix, reason: failure.reason, error: reasonText(failure) })
          )
        )
      )
    })

  const recovered: Effect.Effect<void> = Effect.suspend(() => {
    if (!degraded) return Effect.void
    degraded = false
    const millis = Date.now() - degradedSince
    return Effect.zipRight(
      Metric.set(degradedMetric, 0),
      Effect.logInfo("Redis rate limiter store recovered: decisions come from Redis again").pipe(
        Effect.annotateLogs({ prefix, degradedMillis: millis, decisionsAnsweredBy: onError, decisions: affected })
      )
    )
  })

  const storeError = (failure: Connection.CallFailure) =>
    new RateLimiterStore.RateLimiterStoreError({ store: "redis", reason: reasonText(failure), cause: failure.cause })

  const answer = (
    op: "c" | "p",
    request: RateLimiterStore.Request,
    failure: Connection.CallFailure
  ): Effect.Effect<RateLimiterStore.Decision, RateLimiterStore.RateLimiterStoreError> => {
    affected++
    switch (onError) {
      case "fail":
        return Effect.fail(storeError(failure))
      case "fallback-memory":
        return Effect.zipRight(
          Metric.increment(fallbackMetric),
          op === "c" ? fallback!.consume(request) : fallback!.peek(request)
        )
      case "fail-open": {
        // As if every bucket were full: nothing is known about them.
        const bucket = request.buckets[0]
        return Effect.as(Metric.increment(fallbackMetric), {
          allowed: true,
          waitMillis: 0,
          limit: bucket.burstSize,
          remaining: Math.max(0, Math.floor(bucket.burstSize - request.cost)),
          resetAfterMillis: 0,
          retryAfterMillis: 0,
          rejectedBy: undefined,
          reservation: undefined
        })
      }
      case "fail-closed": {
        // Retry when the store will next try Redis.
        const bucket = request.buckets[0]
        return Effect.as(Metric.increment(fallbackMetric), {
          allowed: false,
          waitMillis: 0,
          limit: bucket.burstSize,
          remaining: 0,
          resetAfterMillis: 0,
          retryAfterMillis: probeIntervalMillis,
          rejectedBy: bucket.key,
          reservation: undefined
        })
      }
    }
  }

  const badReply: Connection.CallFailure = { reason: "script", cause: new Error("unexpected reply from the script") }
  const skipped: Connection.CallFailure = {
    reason: "connection",
    cause: new Error("Redis is unavailable (degraded; waiting for a probe to succeed)")
  }

  // One `Effect.async` per decision, the reply decoded in its callback: no
  // suspend, no match continuation (each a run-loop step and garbage, on the
  // path every decision takes). It registers when the decision runs, so the
  // degraded state is read then, not when the Effect was built.
  const decide = (
    op: "c" | "p",
    request: RateLimiterStore.Request
  ): Effect.Effect<RateLimiterStore.Decision, RateLimiterStore.RateLimiterStoreError> =>
    Effect.async((resume) => {
      const invalid = invalidRequest(request, op)
      if (invalid !== undefined) {
        return resume(Effect.fail(new RateLimiterStore.RateLimiterStoreError({ store: "redis", reason: invalid })))
      }
      let probe = false
      if (degraded) {
        const now = Date.now()
        if (!connection.isReady() || now - lastProbeAt < probeIntervalMillis) {
          return resume(answer(op, request, skipped))
        }
        lastProbeAt = now
        probe = true
      }
      const windowed = hasWindows(request)
      const done = (raw: unknown, failure: Connection.CallFailure | undefined) => {
        if (failure !== undefined) {
          return resume(Effect.zipRight(recordFailure(failure, probe), answer(op, request, failure)))
        }
        const decision = windowed ? decodeWindowsDecision(request, raw) : decodeDecision(request, raw)
        if (decision === undefined) {
          return resume(Effect.zipRight(recordFailure(badReply, probe), answer(op, request, badReply)))
        }
        if (decision.reservation !== undefined) fromRedis.add(decision.reservation)
        // Only a probe ends degraded mode: a call that started before the
        // failure and happened to finish must not flap the state.
        resume(probe ? Effect.as(recovered, decision) : Effect.succeed(decision))
      }
      if (windowed) connection.sendWindows(windowArgs(prefix, op, request), done)
      else connection.send(request.buckets.length > 1, decisionArgs(prefix, op, request), done)
    })

  const refund = (
    request: RateLimiterStore.Request,
    decision: RateLimiterStore.Decision
  ): Effect.Effect<void, RateLimiterStore.RateLimiterStoreError> =>
    Effect.suspend(() => {
      const reservation = decision.reservation
      if (reservation === undefined) return Effect.void
      if (!fromRedis.has(reservation)) {
        // Made by the local fallback while Redis was away: give it back there.
        return fallback === undefined ? Effect.void : fallback.refund(request, decision)
      }
      const windowed = hasWindows(request)
      const size = 2 * request.buckets.length + (windowed ? 4 * request.windows!.length : 0)
      if (invalidRequest(request, "p") !== undefined || reservation.length < size) {
        return Effect.void
      }
      // While degraded the tokens stay spent: a lost refund only under-admits.
      if (degraded) return Effect.void
      const sent: Effect.Effect<unknown, Connection.CallFailure> = windowed
        ? Effect.async((resume) =>
          connection.sendWindows(windowArgs(prefix, "r", request, reservation), (reply, failure) =>
            resume(failure === undefined ? Effect.succeed(reply) : Effect.fail(failure)))
        )
        : connection.call(true, refundArgs(prefix, request, reservation))
      return Effect.catchAll(sent, (failure) =>
        Effect.zipRight(
          recordFailure(failure, false),
          onError === "fail" ? Effect.fail(storeError(failure)) : Effect.void
        ))
    })

  return {
    consume: (request) => decide("c", request),
    peek: (request) => decide("p", request),
    refund,
    // Counting keys under a prefix means a SCAN of the whole keyspace: not cheap.
    stats: Effect.succeed({ keys: Option.none(), maxKeys: Option.none() })
  }
}
