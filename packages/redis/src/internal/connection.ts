/**
 * The ioredis connection of the Redis store: settings that make every call
 * fail fast instead of queueing, a bounded call (timer-based budget), the
 * EVALSHA → EVAL fallback after NOSCRIPT, and a scoped lifetime.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { RedisOptions } from "ioredis"
import { Redis } from "ioredis"
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

/** @internal */
export const defaultRetryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 5), 1_000)

/** @internal */
export interface Connection {
  readonly client: Redis
  /** Runs the script once, within `budgetMillis`. Never rejects, never hangs. */
  readonly call: (args: ReadonlyArray<string | number>) => Effect.Effect<unknown, CallFailure>
  readonly isReady: () => boolean
  /** Drops the socket and reconnects: rejects every command stuck on a hung server. */
  readonly reset: () => void
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
        const client = options.url === undefined ? new Redis(redisOptions) : new Redis(options.url, redisOptions)
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

    const run = (args: ReadonlyArray<string | number>): Promise<unknown> =>
      client.evalsha(Script.sha1, ...(args as [number, ...Array<string | number>])).catch((error) =>
        // The script cache was flushed (SCRIPT FLUSH, restart, failover): EVAL
        // runs it and caches it again, so the next call is an EVALSHA again.
        isNoScript(error)
          ? client.eval(Script.source, ...(args as [number, ...Array<string | number>]))
          : Promise.reject(error)
      )

    const call = (args: ReadonlyArray<string | number>): Effect.Effect<unknown, CallFailure> =>
      Effect.async<unknown, CallFailure>((resume) => {
        let settled = false
        // A timer per call (~0.5 µs) against a network round trip: no fibers,
        // no Effect.timeout. The command itself stays with ioredis until its
        // reply or the connection closes (then it is rejected and dropped).
        const timer = setTimeout(() => {
          settled = true
          resume(Effect.fail({ reason: "timeout", cause: new Error(`no reply within ${options.budgetMillis} ms`) }))
        }, options.budgetMillis)
        run(args).then(
          (reply) => {
            if (settled) return
            settled = true
            clearTimeout(timer)
            resume(Effect.succeed(reply))
          },
          (cause) => {
            if (settled) return
            settled = true
            clearTimeout(timer)
            resume(Effect.fail({ reason: classify(cause), cause }))
          }
        )
        return Effect.sync(() => {
          settled = true
          clearTimeout(timer)
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
