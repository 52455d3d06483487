/**
 * The ioredis connection of the Redis store: settings that make every call
 * fail fast instead of queueing, a bounded call (one deadline FIFO and one
 * timer for all calls), commands of one tick sent in one socket write, the
 * EVALSHA → EVAL fallback after NOSCRIPT, and a scoped lifetime.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ClusterOptions, RedisOptions } from "ioredis"
import { Cluster, Redis } from "ioredis"
import * as Script from "./script.js"

/** Why one call to Redis failed. @internal */
export type FailureReason = "timeout" | "connection" | "script"

/** @internal */
export interface CallFailure {
  readonly reason: FailureReason
  readonly cause: unknown
}

/**
 * The options forced on every connection the store opens, whatever the user
 * passes: a decision must fail within its budget, never wait in a queue.
 *
 * - `enableOfflineQueue: false`: while disconnected a call is rejected at once.
 * - `maxRetriesPerRequest: 0` + `autoResendUnfulfilledCommands: false`: calls
 *   in flight when the connection drops are rejected, not replayed later (a
 *   replayed EVALSHA would consume tokens for a call that was already decided
 *   by the failure mode).
 * - `retryStrategy`: reconnect forever, backing off to 1 s, so the store
 *   recovers by itself when Redis returns.
 *
 * @internal
 */
export const forcedOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  lazyConnect: true
} as const satisfies RedisOptions

/**
 * The options forced on a Cluster client, for the same reason: no offline
 * queue, and no delayed replay of a command whose node went away (a replay
 * after the call was decided by the failure mode would consume tokens twice).
 * MOVED/ASK redirections still follow, so resharding works.
 *
 * @internal
 */
export const forcedClusterOptions = {
  enableOfflineQueue: false,
  lazyConnect: true,
  retryDelayOnFailover: 0,
  retryDelayOnClusterDown: 0
} as const satisfies ClusterOptions

/** @internal */
export const defaultRetryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 5), 1_000)

/** @internal */
export interface Connection {
  readonly client: Redis | Cluster
  /**
   * Runs a script once (the one-bucket script, or the general one when
   * `multi`), within `budgetMillis`. Never rejects, never hangs.
   */
  readonly call: (multi: boolean, args: ReadonlyArray<string | number>) => Effect.Effect<unknown, CallFailure>
  readonly isReady: () => boolean
  /** Drops the socket and reconnects: rejects every command stuck on a hung server. */
  readonly reset: () => void
}

/** Commands per socket write at most, when many are issued in one tick (measured: 4–8 best at 64 callers). */
const CORK_BATCH = 8

interface CorkableStream {
  readonly writable: boolean
  cork(): void
  uncork(): void
}

interface Pending {
  readonly deadline: number
  done: boolean
  readonly resume: (effect: Effect.Effect<unknown, CallFailure>) => void
}

const isNoScript = (error: unknown): boolean => error instanceof Error && error.message.startsWith("NOSCRIPT")

const classify = (error: unknown): FailureReason => {
  // Replies from Redis (a Lua error, WRONGTYPE, OOM…) are ReplyErrors; anything
  // else (stream not writable, connection closed, flushed queue) is the link.
  const name = error instanceof Error ? error.name : ""
  return name === "ReplyError" ? "script" : "connection"
}

/**
 * Opens a connection (scoped: closed with the scope) and waits up to
 * `connectTimeoutMillis` for it to be ready. A Redis that is down at start is
 * not an error: the connection keeps trying in the background and the store's
 * failure mode answers meanwhile.
 *
 * @internal
 */
export const open = (options: {
  readonly url: string | undefined
  readonly redisOptions: RedisOptions | undefined
  /** Connect to a Redis Cluster through these startup nodes instead of `url`. */
  readonly cluster?: {
    readonly nodes: ReadonlyArray<string>
    readonly options: ClusterOptions | undefined
  } | undefined
  readonly budgetMillis: number
  readonly connectTimeoutMillis: number
}): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const redisOptions: RedisOptions = {
      retryStrategy: defaultRetryStrategy,
      connectTimeout: options.connectTimeoutMillis,
      ...options.redisOptions,
      ...forcedOptions
    }
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const cluster = options.cluster
        const client: Redis | Cluster = cluster !== undefined
          ? new Cluster([...cluster.nodes], {
            clusterRetryStrategy: defaultRetryStrategy,
            ...cluster.options,
            // Per node: the same fail-fast settings as the single-node client
            // (ioredis itself forces the nodes' offline queue and reconnects).
            redisOptions: {
              connectTimeout: options.connectTimeoutMillis,
              ...cluster.options?.redisOptions,
              maxRetriesPerRequest: 0,
              autoResendUnfulfilledCommands: false
            },
            ...forcedClusterOptions
          })
          : options.url === undefined
          ? new Redis(redisOptions)
          : new Redis(options.url, redisOptions)
        // Without a listener ioredis prints every connection error to stderr;
        // the store reports failures itself (logs + metrics) on transitions.
        client.on("error", () => {})
        return client
      }),
      (client) =>
        Effect.async<void>((resume) => {
          if (client.status === "end") return resume(Effect.void)
          // QUIT when connected (graceful), else drop the socket; never wait long.
          const timer = setTimeout(() => {
            client.disconnect()
            resume(Effect.void)
          }, 1_000)
          const done = () => {
            clearTimeout(timer)
            client.disconnect()
            resume(Effect.void)
          }
          if (client.status === "ready") client.quit().then(done, done)
          else done()
        })
    )

    yield* Effect.async<void>((resume) => {
      const timer = setTimeout(() => resume(Effect.void), options.connectTimeoutMillis)
      const ready = () => {
        clearTimeout(timer)
        resume(Effect.void)
      }
      client.once("ready", ready)
      client.connect().catch(() => {})
      return Effect.sync(() => {
        clearTimeout(timer)
        client.off("ready", ready)
      })
    })

    // Loaded as soon as the connection is ready (and again after every
    // reconnect): commands on one connection run in order, so the first
    // EVALSHAs find the scripts instead of a stampede of NOSCRIPT → EVAL.
    // On a Cluster every master needs them (a script cache is per node): each
    // node gets them when it joins the client's pool, and a node that missed
    // them (failover, restart) is covered by the NOSCRIPT → EVAL fallback.
    const load = (node: Redis) => {
      node.script("LOAD", Script.source).catch(() => {})
      node.script("LOAD", Script.sourceMulti).catch(() => {})
    }
    if (client instanceof Cluster) {
      client.on("+node", load)
      for (const node of client.nodes("master")) load(node)
    } else {
      client.on("ready", () => load(client))
      if (client.status === "ready") load(client)
    }

    // Calls share one budget, so their deadlines come in the order the calls
    // start: one FIFO swept by one timer replaces a setTimeout/clearTimeout per
    // call. Replies on one connection come back in order too, so settled calls
    // leave from the head and the queue holds only the calls in flight.
    const budgetMillis = options.budgetMillis
    let queue: Array<Pending> = []
    let head = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    const advance = () => {
      while (head < queue.length && queue[head].done) head++
      if (head === queue.length) {
        queue = []
        head = 0
      } else if (head > 1024 && head * 2 > queue.length) {
        queue = queue.slice(head)
        head = 0
      }
    }
    const sweep = () => {
      timer = undefined
      const now = performance.now()
      while (head < queue.length) {
        const pending = queue[head]
        if (!pending.done) {
          if (pending.deadline > now) break
          pending.done = true
          pending.resume(Effect.fail({ reason: "timeout", cause: new Error(`no reply within ${budgetMillis} ms`) }))
        }
        head++
      }
      advance()
      if (head < queue.length) timer = setTimeout(sweep, Math.max(1, queue[head].deadline - now))
    }

    yield* Effect.addFinalizer(() => Effect.sync(() => clearTimeout(timer)))

    // Commands issued in the same tick (the fibers a batch of replies woke up)
    // leave in few socket writes: the stream is corked at the first and
    // uncorked once the tick's microtasks have run (process.nextTick queued
    // from a microtask runs after the microtask queue drains), flushing every
    // CORK_BATCH commands on the way so Redis starts on the first ones while
    // the rest are being written (client and server run on different cores).
    let corked: CorkableStream | undefined
    let batched = 0
    const uncork = () => {
      const stream = corked
      corked = undefined
      stream?.uncork()
    }
    const cork = () => {
      if (corked !== undefined) {
        if (++batched >= CORK_BATCH) {
          batched = 0
          corked.uncork()
          corked.cork()
        }
        return
      }
      // A Cluster client has no single stream (one per node): no corking there.
      const stream = (client as { readonly stream?: Partial<CorkableStream> }).stream
      if (stream === undefined || typeof stream.cork !== "function" || stream.writable !== true) return
      stream.cork()
      corked = stream as CorkableStream
      batched = 0
      process.nextTick(uncork)
    }

    const call = (multi: boolean, args: ReadonlyArray<string | number>): Effect.Effect<unknown, CallFailure> =>
      Effect.async<unknown, CallFailure>((resume) => {
        const pending: Pending = { deadline: performance.now() + budgetMillis, done: false, resume }
        queue.push(pending)
        if (timer === undefined) timer = setTimeout(sweep, budgetMillis)
        const settle = (effect: Effect.Effect<unknown, CallFailure>) => {
          if (pending.done) return
          pending.done = true
          if (queue[head] === pending) advance()
          resume(effect)
        }
        const rejected = (cause: unknown) => settle(Effect.fail({ reason: classify(cause), cause }))
        if (client.status === "ready") cork()
        const sha = multi ? Script.sha1Multi : Script.sha1
        client.evalsha(sha, ...(args as [number, ...Array<string | number>])).then(
          (reply) => settle(Effect.succeed(reply)),
          (error) => {
            if (pending.done) return
            // The script cache was flushed (SCRIPT FLUSH, restart, failover):
            // EVAL runs it and caches it again, so the next call is an EVALSHA.
            if (!isNoScript(error)) return rejected(error)
            const source = multi ? Script.sourceMulti : Script.source
            client.eval(source, ...(args as [number, ...Array<string | number>])).then(
              (reply) => settle(Effect.succeed(reply)),
              rejected
            )
          }
        )
        return Effect.sync(() => {
          pending.done = true
        })
      })

    return {
      client,
      call,
      isReady: () => client.status === "ready",
      reset: () => {
        if (client.status === "ready") client.disconnect(true)
      }
    } satisfies Connection
  })
