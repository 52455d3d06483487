/**
 * The Redis `CircuitBreakerStore`: key layout, the two scripts run with a
 * deadline each, and the subscriber connection that multiplexes every
 * `changes` stream of the store over one pub/sub connection.
 *
 * @internal
 */
import {
  CircuitBreakerStoreError,
  type Entry,
  type Read,
  type Service,
  type WriteResult
} from "@effect-resilience/core/CircuitBreakerStore"
import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as validate from "@effect-resilience/core/Validate"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Cluster, type Redis } from "ioredis"
import type * as Api from "../RedisCircuitBreakerStore.js"
import * as Script from "./breakerScript.js"
import * as Connection from "./connection.js"
import { resolvePrefix, resolveTarget } from "./redisStore.js"

const POLICY = "RedisCircuitBreakerStore"

/** @internal */
export const DEFAULT_PREFIX = "effect-resilience:"

/** @internal */
export const DEFAULT_COMMAND_TIMEOUT_MILLIS = 250

/**
 * The longest value a write takes, in UTF-16 code units: every write is
 * pushed to every instance, so a runaway encoder must not turn into megabytes
 * per write (rule 3). A breaker's state is a few hundred bytes.
 *
 * @internal
 */
export const MAX_VALUE_LENGTH = 64 * 1024

/**
 * Pushed changes a slow subscriber may have waiting; beyond, the oldest are
 * dropped (the contract allows skipping versions, never going back).
 */
const SUBSCRIBER_BUFFER = 16

/**
 * The Redis key (and pub/sub channel) of a breaker: the breaker's key, as
 * core's `RateLimiterStore.storeKey` keeps it (verbatim when it is a short
 * key of the safe alphabet, else its hash), inside a hash tag, so a Redis
 * Cluster keeps each breaker in one slot and a hostile key (braces, newlines,
 * megabytes) can neither break the tag nor bloat Redis.
 *
 * @internal
 */
export const redisKey = (prefix: string, key: string): string => `${prefix}breaker:{${RateLimiterStore.storeKey(key)}}`

/**
 * `<version>:<value>` as the scripts store and publish it, or none when it
 * does not start with a version >= 1 (then the key counts as absent).
 *
 * @internal
 */
export const decodeEntry = (raw: unknown): Option.Option<Entry> => {
  if (typeof raw !== "string") return Option.none()
  const colon = raw.indexOf(":")
  if (colon < 1 || colon > 16) return Option.none()
  const digits = raw.slice(0, colon)
  if (!/^\d+$/.test(digits)) return Option.none()
  const version = Number(digits)
  if (!Number.isSafeInteger(version) || version < 1) return Option.none()
  return Option.some({ version, value: raw.slice(colon + 1) })
}

/** @internal */
export const storeErrors = Metric.counter("resilience_circuit_breaker_store_redis_errors_total", {
  description:
    "Circuit breaker store calls that failed (tagged by store, prefix, operation and reason: timeout, connection, script, reply, input)",
  incremental: true
})

/** @internal */
export const writes = Metric.counter("resilience_circuit_breaker_store_writes_total", {
  description: "Circuit breaker store compare-and-sets, tagged by outcome: written or conflict",
  incremental: true
})

/** @internal */
export const pushes = Metric.counter("resilience_circuit_breaker_store_pushes_total", {
  description: "Changes pushed to the circuit breaker store's subscribers (one per subscriber and change)",
  incremental: true
})

/** Why a store call failed: the `reason` label. @internal */
export type Reason = Connection.FailureReason | "reply" | "input"

/** @internal */
export interface Resolved {
  readonly url: string | undefined
  readonly clusterNodes: ReadonlyArray<string> | undefined
  readonly prefix: string
  readonly commandTimeoutMillis: number
  readonly connectTimeoutMillis: number
}

/** @internal */
export const resolve = (options: Api.Options | undefined): Effect.Effect<Resolved, InvalidOptionsError> =>
  Effect.gen(function*() {
    const prefix = yield* resolvePrefix(POLICY, options?.prefix ?? DEFAULT_PREFIX)
    const { clusterNodes, url } = yield* resolveTarget(POLICY, options)
    const commandTimeout = yield* validate.duration(
      POLICY,
      "commandTimeout",
      options?.commandTimeout,
      Duration.millis(DEFAULT_COMMAND_TIMEOUT_MILLIS)
    )
    const connectTimeout = yield* validate.duration(POLICY, "connectTimeout", options?.connectTimeout, "1 second")
    return {
      url,
      clusterNodes,
      prefix,
      commandTimeoutMillis: Math.max(1, Math.ceil(Duration.toMillis(commandTimeout))),
      connectTimeoutMillis: Math.max(1, Math.ceil(Duration.toMillis(connectTimeout)))
    }
  })

/** @internal */
export const make = (options?: Api.Options | undefined): Effect.Effect<Service, InvalidOptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = yield* resolve(options)
    const client = yield* Connection.acquireClient({
      url: resolved.url,
      redisOptions: options?.redisOptions,
      cluster: resolved.clusterNodes === undefined
        ? undefined
        : { nodes: resolved.clusterNodes, options: options?.cluster?.options },
      connectTimeoutMillis: resolved.connectTimeoutMillis
    })
    // The pub/sub connection: a subscribed connection runs no other command,
    // so `changes` get their own, with the same (fail-fast) settings. It does
    // not resubscribe by itself after a reconnect: a lost connection fails the
    // streams, whose owners re-read and subscribe again (see `changes`).
    const subscriber = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const duplicate: Redis | Cluster = client instanceof Cluster
          ? client.duplicate([], { redisOptions: { ...client.options.redisOptions, autoResubscribe: false } })
          : client.duplicate({ autoResubscribe: false })
        duplicate.on("error", () => {})
        return duplicate
      }),
      Connection.close
    )
    // Loaded as soon as a connection is ready (and after every reconnect): commands on one connection run in
    // order, so the first EVALSHAs find the scripts instead of a NOSCRIPT → EVAL each. On a Cluster each master
    // gets them when it joins the client's pool; one that missed them is covered by the NOSCRIPT → EVAL fallback.
    const load = (node: Redis) => {
      node.script("LOAD", Script.compareAndSetSource).catch(() => {})
      node.script("LOAD", Script.readSource).catch(() => {})
    }
    if (client instanceof Cluster) {
      client.on("+node", load)
      for (const node of client.nodes("master")) load(node)
    } else {
      client.on("ready", () => load(client))
      if (client.status === "ready") load(client)
    }
    // The same server: when the first connection could not reach it, make does not wait a second time.
    if (client.status === "ready") yield* Connection.awaitReady(subscriber, resolved.connectTimeoutMillis)
    else subscriber.connect().catch(() => {})
    return makeService(resolved, client, subscriber)
  })

interface Channel {
  readonly queues: Set<Queue.Queue<Either.Either<Entry, CircuitBreakerStoreError>>>
  /** Settles when Redis confirmed the SUBSCRIBE. */
  readonly subscribed: Promise<unknown>
}

const makeService = (resolved: Resolved, client: Redis | Cluster, subscriber: Redis | Cluster): Service => {
  const { commandTimeoutMillis, prefix } = resolved
  const labels = (operation: string) => [
    MetricLabel.make("policy", "circuit_breaker_store"),
    MetricLabel.make("service", prefix),
    MetricLabel.make("operation", operation),
    MetricLabel.make("store", "redis")
  ]
  const errorCounters = new Map<string, Metric.Metric.Counter<number>>()
  const countError = (operation: string, reason: Reason) => {
    const id = `${operation}/${reason}`
    let counter = errorCounters.get(id)
    if (counter === undefined) {
      counter = Metric.tagged(Metric.taggedWithLabels(storeErrors, labels(operation)), "reason", reason)
      errorCounters.set(id, counter)
    }
    return Metric.increment(counter)
  }
  const written = Metric.tagged(Metric.taggedWithLabels(writes, labels("compareAndSet")), "outcome", "written")
  const conflict = Metric.tagged(Metric.taggedWithLabels(writes, labels("compareAndSet")), "outcome", "conflict")
  const pushed = Metric.taggedWithLabels(pushes, labels("changes"))

  const failWith = (operation: string, reason: Reason, message: string, cause?: unknown) =>
    Effect.zipRight(
      countError(operation, reason),
      Effect.fail(
        new CircuitBreakerStoreError(
          cause === undefined ? { operation, message } : { operation, message, cause }
        )
      )
    )

  // When each connection last answered (performance.now()). A command that
  // waited a whole deadline with no reply at all on its connection since it
  // was sent means a hung server (or a dead peer the kernel has not noticed):
  // the socket is dropped, which rejects every command stuck on it and
  // reconnects, so commands cannot pile up behind it. A merely slow server
  // answers something meanwhile and keeps its connection. The subscriber goes
  // with the command connection (its pushes stopped with the server), so the
  // streams fail and are subscribed again on a fresh connection.
  let lastReplyAt = performance.now()
  let lastSubscriberReplyAt = performance.now()
  const hung = (sentAt: number) => {
    if (lastReplyAt >= sentAt) return
    if (client.status === "ready") client.disconnect(true)
    if (subscriber.status === "ready") subscriber.disconnect(true)
  }
  const subscriberHung = (sentAt: number) => {
    if (lastSubscriberReplyAt >= sentAt) return
    if (subscriber.status === "ready") subscriber.disconnect(true)
  }

  // The deadline of one command. It expires from the check phase
  // (setImmediate after the timer): a timer that fired late because the event
  // loop was stalled (a long task, a GC pause) must not beat a reply that
  // arrived meanwhile, which the poll phase in between reads first. A stall
  // says nothing about Redis. Returns the canceller.
  const deadline = (expire: () => void): () => void => {
    let immediate: ReturnType<typeof setImmediate> | undefined
    const timer = setTimeout(() => {
      immediate = setImmediate(expire)
    }, commandTimeoutMillis)
    return () => {
      clearTimeout(timer)
      if (immediate !== undefined) clearImmediate(immediate)
    }
  }

  /**
   * A script by EVALSHA (EVAL after a NOSCRIPT: a restart or SCRIPT FLUSH
   * emptied the cache), within the command timeout. Never hangs: a reply
   * later than the budget is dropped. The late reply of a compare-and-set
   * may still have been applied: the caller sees an error and re-reads.
   */
  const runScript = (
    operation: string,
    sha: string,
    source: string,
    args: ReadonlyArray<string | number>
  ): Effect.Effect<unknown, CircuitBreakerStoreError> =>
    Effect.flatten(
      Effect.async<Effect.Effect<unknown, CircuitBreakerStoreError>>((resume) => {
        let settled = false
        const sentAt = performance.now()
        const cancel = deadline(() => {
          if (settled) return
          settled = true
          hung(sentAt)
          resume(
            Effect.succeed(failWith(operation, "timeout", `no reply from Redis within ${commandTimeoutMillis} ms`))
          )
        })
        const reply = (value: unknown) => {
          if (settled) return
          settled = true
          cancel()
          lastReplyAt = performance.now()
          resume(Effect.succeed(Effect.succeed(value)))
        }
        const rejected = (error: unknown) => {
          if (settled) return
          settled = true
          cancel()
          const reason = Connection.classify(error)
          if (reason === "script") lastReplyAt = performance.now()
          const message = error instanceof Error ? error.message : String(error)
          resume(Effect.succeed(failWith(operation, reason, `Redis: ${message}`, error)))
        }
        client.evalsha(sha, 1, ...args).then(reply, (error) => {
          if (settled) return
          if (!Connection.isNoScript(error)) return rejected(error)
          client.eval(source, 1, ...args).then(reply, rejected)
        })
        return Effect.sync(() => {
          settled = true
          cancel()
        })
      })
    )

  const badReply = (operation: string, raw: unknown) =>
    failWith(operation, "reply", `unexpected reply from Redis: ${JSON.stringify(raw)?.slice(0, 200)}`)

  const checkKey = (operation: string, key: unknown) =>
    typeof key === "string" ? undefined : failWith(operation, "input", "the key must be a string")

  const read = (key: string): Effect.Effect<Read, CircuitBreakerStoreError> =>
    Effect.suspend(() => {
      const invalid = checkKey("read", key)
      if (invalid !== undefined) return invalid
      return Effect.flatMap(runScript("read", Script.readSha1, Script.readSource, [redisKey(prefix, key)]), (raw) => {
        if (!Array.isArray(raw) || typeof raw[0] !== "number") return badReply("read", raw)
        return Effect.succeed({ entry: decodeEntry(raw[1]), now: raw[0] })
      })
    })

  const compareAndSet = (
    key: string,
    expectedVersion: number,
    value: string,
    ttl: Duration.DurationInput
  ): Effect.Effect<WriteResult, CircuitBreakerStoreError> =>
    Effect.suspend(() => {
      const invalid = checkKey("compareAndSet", key)
      if (invalid !== undefined) return invalid
      if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
        return failWith("compareAndSet", "input", `expectedVersion must be an integer >= 0, got ${expectedVersion}`)
      }
      if (typeof value !== "string" || value.length > MAX_VALUE_LENGTH) {
        return failWith(
          "compareAndSet",
          "input",
          `the value must be a string of at most ${MAX_VALUE_LENGTH} characters`
        )
      }
      const duration = Duration.decodeUnknown(ttl)
      const ttlMillis = Option.isSome(duration) ? Math.ceil(Duration.toMillis(duration.value)) : Number.NaN
      if (!(Number.isSafeInteger(ttlMillis) && ttlMillis >= 1)) {
        return failWith("compareAndSet", "input", "ttl must be a finite duration of at least 1 ms")
      }
      const redisKeyOfKey = redisKey(prefix, key)
      return Effect.flatMap(
        runScript("compareAndSet", Script.compareAndSetSha1, Script.compareAndSetSource, [
          redisKeyOfKey,
          expectedVersion,
          value,
          ttlMillis,
          redisKeyOfKey
        ]),
        (raw): Effect.Effect<WriteResult, CircuitBreakerStoreError> => {
          if (!Array.isArray(raw) || typeof raw[1] !== "number") return badReply("compareAndSet", raw)
          const now = raw[1]
          if (raw[0] === 1 && typeof raw[2] === "number") {
            return Effect.as(Metric.increment(written), { _tag: "Written", version: raw[2], now })
          }
          if (raw[0] === 0) {
            return Effect.as(Metric.increment(conflict), { _tag: "Conflict", current: decodeEntry(raw[2]), now })
          }
          return badReply("compareAndSet", raw)
        }
      )
    })

  // ---------------------------------------------------------------------------
  // changes: one subscriber connection, one SUBSCRIBE per channel however many
  // streams watch it (a reference count: the set of their queues)
  // ---------------------------------------------------------------------------

  const channels = new Map<string, Channel>()

  subscriber.on("message", (channel: string, message: string) => {
    lastSubscriberReplyAt = performance.now()
    const watched = channels.get(channel)
    if (watched === undefined) return
    const entry = decodeEntry(message)
    if (Option.isNone(entry)) return
    const item = Either.right(entry.value)
    for (const queue of watched.queues) Queue.unsafeOffer(queue, item)
  })

  // The push channel is lost: every stream fails (the contract: its owner
  // re-reads and subscribes again, which works once the connection is back).
  // Pushes made while it was down are not replayed; the re-read covers them.
  const lost = (message: string) => {
    if (channels.size === 0) return
    const item = Either.left(new CircuitBreakerStoreError({ operation: "changes", message }))
    for (const watched of channels.values()) {
      for (const queue of watched.queues) Queue.unsafeOffer(queue, item)
    }
    channels.clear()
  }
  subscriber.on("close", () => lost("the Redis subscriber connection was lost"))

  const subscribe = (channel: string): Effect.Effect<Channel, CircuitBreakerStoreError> =>
    Effect.suspend(() => {
      const existing = channels.get(channel)
      if (existing !== undefined) return Effect.succeed(existing)
      if (subscriber.status !== "ready") {
        return failWith("changes", "connection", `the Redis subscriber connection is ${subscriber.status}`)
      }
      const created: Channel = { queues: new Set(), subscribed: subscriber.subscribe(channel) }
      // a rejection is handled by whoever awaits it; this keeps Node from reporting it as unhandled
      created.subscribed.catch(() => {})
      channels.set(channel, created)
      return Effect.succeed(created)
    })

  const awaitSubscribed = (channel: string, watched: Channel): Effect.Effect<void, CircuitBreakerStoreError> =>
    Effect.flatten(
      Effect.async<Effect.Effect<void, CircuitBreakerStoreError>>((resume) => {
        let settled = false
        const sentAt = performance.now()
        const cancel = deadline(() => {
          if (settled) return
          settled = true
          subscriberHung(sentAt)
          resume(Effect.succeed(failWith("changes", "timeout", `no SUBSCRIBE reply within ${commandTimeoutMillis} ms`)))
        })
        watched.subscribed.then(
          () => {
            lastSubscriberReplyAt = performance.now()
            if (settled) return
            settled = true
            cancel()
            resume(Effect.succeed(
              // the connection was lost while the SUBSCRIBE was in flight
              channels.get(channel) === watched
                ? Effect.void
                : failWith("changes", "connection", "the Redis subscriber connection was lost")
            ))
          },
          (error: unknown) => {
            if (settled) return
            settled = true
            cancel()
            const message = error instanceof Error ? error.message : String(error)
            resume(Effect.succeed(failWith("changes", Connection.classify(error), `Redis: ${message}`, error)))
          }
        )
        return Effect.sync(() => {
          settled = true
          cancel()
        })
      })
    )

  const release = (channel: string, watched: Channel, queue: Channel["queues"] extends Set<infer Q> ? Q : never) =>
    Effect.zipRight(
      Effect.sync(() => {
        watched.queues.delete(queue)
        if (watched.queues.size > 0 || channels.get(channel) !== watched) return
        channels.delete(channel)
        // fire and forget: a lost connection unsubscribes everything anyway
        if (subscriber.status === "ready") subscriber.unsubscribe(channel).catch(() => {})
      }),
      Queue.shutdown(queue)
    )

  const changes = (
    key: string
  ): Effect.Effect<Stream.Stream<Entry, CircuitBreakerStoreError>, CircuitBreakerStoreError, Scope.Scope> =>
    Effect.gen(function*() {
      const invalid = checkKey("changes", key)
      if (invalid !== undefined) return yield* invalid
      const channel = redisKey(prefix, key)
      const queue = yield* Queue.sliding<Either.Either<Entry, CircuitBreakerStoreError>>(SUBSCRIBER_BUFFER)
      const watched = yield* Effect.acquireRelease(
        Effect.tap(subscribe(channel), (watched) => Effect.sync(() => watched.queues.add(queue))),
        (watched) => release(channel, watched, queue)
      )
      // not subscribed: stop watching now, not when the caller's scope closes
      yield* Effect.tapError(awaitSubscribed(channel, watched), () => release(channel, watched, queue))
      return Stream.fromQueue(queue).pipe(
        Stream.mapEffect((item) =>
          Either.isRight(item) ? Effect.as(Metric.increment(pushed), item.right) : Effect.fail(item.left)
        )
      )
    })

  return { read, compareAndSet, changes }
}
