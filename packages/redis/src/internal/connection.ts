/**
 * The ioredis connection of the Redis store: settings that make every call
 * fail fast instead of queueing, a bounded call (one deadline FIFO and one
 * timer for all calls), the requests of one tick decided by one batch script
 * run, the EVALSHA → EVAL fallback after NOSCRIPT, and a scoped lifetime.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ClusterOptions, RedisOptions } from "ioredis"
import { Cluster, Command, Redis } from "ioredis"
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
   * Decides one request (its arguments as the one-bucket script takes them;
   * `multi`: several buckets or a refund, which only the batch script runs)
   * within `budgetMillis`, alone or in a batch with the requests in flight.
   * The reply is the request's own. Never rejects, never hangs.
   */
  readonly call: (multi: boolean, args: ReadonlyArray<string | number>) => Effect.Effect<unknown, CallFailure>
  /**
   * `call` without an Effect: `done` is called once, with the reply or the
   * failure (for a caller that is itself inside `Effect.async`).
   */
  readonly send: (multi: boolean, args: ReadonlyArray<string | number>, done: Done) => void
  /**
   * `send` for a request with windows (`Script.sourceWindows`'s arguments):
   * the same budget and failures, always on its own (never batched).
   */
  readonly sendWindows: (args: ReadonlyArray<string | number>, done: Done) => void
  readonly isReady: () => boolean
  /** Drops the socket and reconnects: rejects every command stuck on a hung server. */
  readonly reset: () => void
}

/**
 * Requests per batch script run at most, by default. A batch is sent as soon
 * as it is full, so Redis starts on it while the client is still issuing the
 * next: with 64 callers, 16 (four batches in flight) beat 64 (one batch, the
 * client and Redis taking turns) by ~1.6× in decisions per second, measured.
 *
 * @internal
 */
export const DEFAULT_MAX_BATCH = 16

/** Called once per request: with the reply, or with why there is none. @internal */
export type Done = (reply: unknown, failure: CallFailure | undefined) => void

interface Pending {
  /** Moved later by the length of an event-loop stall (see `expire`). */
  deadline: number
  settled: boolean
  readonly multi: boolean
  readonly args: ReadonlyArray<string | number>
  readonly done: Done
  /** The call started after this one (the deadline FIFO). */
  next: Pending | undefined
}

/** @internal */
export const isNoScript = (error: unknown): boolean => error instanceof Error && error.message.startsWith("NOSCRIPT")

/** @internal */
export const classify = (error: unknown): FailureReason => {
  // Replies from Redis (a Lua error, WRONGTYPE, OOM…) are ReplyErrors; anything
  // else (stream not writable, connection closed, flushed queue) is the link.
  const name = error instanceof Error ? error.name : ""
  return name === "ReplyError" ? "script" : "connection"
}

// "c1", "p1", "c2"…: a request's token, built once per parameter set index.
const tokens = { c: [] as Array<string>, p: [] as Array<string> }
const tokenOf = (op: "c" | "p", set: number): string => tokens[op][set] ??= op + set

// Is the parameter set at `at` in `sets` the one of `args` (a request's own arguments)?
const sameSet = (sets: ReadonlyArray<string | number>, at: number, args: ReadonlyArray<string | number>): boolean => {
  const n = args[0] as number
  if (sets[at] !== n) return false
  // cost, maxWaitMillis, then n pairs: the request's arguments from n + 3 on
  for (let i = 1, j = n + 3; j < args.length; i++, j++) if (sets[at + i] !== args[j]) return false
  return true
}

/**
 * The EVALSHA arguments of the batch script for these requests, each given
 * as the arguments of its own script (n, its n keys, op, margin, the rest).
 * Requests with the same parameters (the requests of one limiter) share one
 * parameter set, and the requests' tokens travel in one string: a request
 * adds little more than its keys to the command.
 *
 * @internal
 */
export const batchArgs = (
  requests: ReadonlyArray<{ readonly args: ReadonlyArray<string | number> }>
): Array<string | number> => {
  let keyCount = 0
  for (const pending of requests) keyCount += pending.args[0] as number
  const args: Array<string | number> = [keyCount]
  for (const pending of requests) {
    const n = pending.args[0] as number
    for (let i = 1; i <= n; i++) args.push(pending.args[i])
  }
  // ARGV[1]: the TTL margin, the same in every request
  const first = requests[0].args
  args.push(first[(first[0] as number) + 2])
  const sets: Array<string | number> = []
  const setStarts: Array<number> = []
  let requestTokens = ""
  const refunds: Array<string | number> = []
  let lastSet = -1
  for (const pending of requests) {
    const own = pending.args
    const n = own[0] as number
    const op = own[n + 1] as "c" | "p" | "r"
    if (op === "r") {
      requestTokens += "r"
      refunds.push(n)
      for (let i = n + 3; i < own.length; i++) refunds.push(own[i])
      continue
    }
    // the set of the request before, else any earlier one (few: one per limiter)
    let set = lastSet >= 0 && sameSet(sets, setStarts[lastSet], own) ? lastSet : -1
    for (let s = 0; set < 0 && s < setStarts.length; s++) if (sameSet(sets, setStarts[s], own)) set = s
    if (set < 0) {
      set = setStarts.length
      setStarts.push(sets.length)
      sets.push(n)
      for (let i = n + 3; i < own.length; i++) sets.push(own[i])
    }
    lastSet = set
    requestTokens += tokenOf(op, set + 1)
  }
  args.push(setStarts.length)
  for (const value of sets) args.push(value)
  args.push(requestTokens)
  for (const value of refunds) args.push(value)
  return args
}

/** The batch script's reply cut into each request's own reply, or undefined when it does not add up. @internal */
export const splitReplies = (raw: unknown, count: number): Array<unknown> | undefined => {
  if (!Array.isArray(raw)) return undefined
  const replies = new Array<unknown>(count)
  let at = 0
  for (let i = 0; i < count; i++) {
    const length = raw[at]
    if (typeof length !== "number" || !(length >= 0) || at + 1 + length > raw.length) return undefined
    replies[i] = raw.slice(at + 1, at + 1 + length)
    at += 1 + length
  }
  return at === raw.length ? replies : undefined
}

/**
 * A client (scoped: QUIT or dropped when the scope closes, never waiting
 * long) with the fail-fast settings forced, connected within
 * `connectTimeoutMillis` if Redis is there; otherwise it keeps trying in the
 * background (`retryStrategy`). Every store of the package opens its
 * connections here.
 *
 * @internal
 */
export const acquireClient = (options: {
  readonly url: string | undefined
  readonly redisOptions: RedisOptions | undefined
  readonly cluster?: {
    readonly nodes: ReadonlyArray<string>
    readonly options: ClusterOptions | undefined
  } | undefined
  readonly connectTimeoutMillis: number
}): Effect.Effect<Redis | Cluster, never, Scope.Scope> =>
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
      close
    )

    yield* awaitReady(client, options.connectTimeoutMillis)
    return client
  })

/** Closes a client: QUIT when connected (graceful), else drop the socket; never waits more than a second. @internal */
export const close = (client: Redis | Cluster): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (client.status === "end") return resume(Effect.void)
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

/** Waits until `client` is ready or `timeoutMillis` passed, whichever is first; never fails. @internal */
export const awaitReady = (client: Redis | Cluster, timeoutMillis: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), timeoutMillis)
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
  /** Requests per batch script run at most; 1 sends every request on its own. Ignored on a Cluster. */
  readonly maxBatch?: number | undefined
}): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* acquireClient(options)

    // Loaded as soon as the connection is ready (and again after every
    // reconnect): commands on one connection run in order, so the first
    // EVALSHAs find the scripts instead of a stampede of NOSCRIPT → EVAL.
    // On a Cluster every master needs them (a script cache is per node): each
    // node gets them when it joins the client's pool, and a node that missed
    // them (failover, restart) is covered by the NOSCRIPT → EVAL fallback.
    const load = (node: Redis) => {
      node.script("LOAD", Script.source).catch(() => {})
      node.script("LOAD", Script.sourceBatch).catch(() => {})
      node.script("LOAD", Script.sourceWindows).catch(() => {})
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
    // leave from the head at once. A linked list, not an array with a moving
    // head: an array would keep settled calls (and their arguments) reachable
    // until its next compaction, long enough to be copied out of the young
    // generation by the garbage collector (measured: ~2 KB promoted per call).
    const budgetMillis = options.budgetMillis
    // A timer later than this was held up by the event loop, not by Redis.
    const stallMillis = Math.max(10, budgetMillis / 2)
    let first: Pending | undefined
    let last: Pending | undefined
    let timer: ReturnType<typeof setTimeout> | undefined
    const enqueue = (pending: Pending) => {
      if (last === undefined) first = pending
      else last.next = pending
      last = pending
    }
    const dropFirst = (head: Pending) => {
      first = head.next
      head.next = undefined
      if (first === undefined) last = undefined
    }
    const advance = () => {
      while (first !== undefined && first.settled) dropFirst(first)
    }
    // A stall of the event loop (a long synchronous task, a GC pause, a busy machine) says nothing about Redis,
    // yet a budget measured on the wall clock would blame it: the timer fires in the timers phase, before the poll
    // phase reads the replies that arrived meanwhile, and a call queued just before the stall may only leave after
    // it. So the budget counts time the process could run: when the timer fires late (by more than half a budget),
    // every pending call gets a whole budget again from then, and calls are expired from the check phase
    // (setImmediate), after the poll phase has read what arrived. `timer` stays set until then, so `send` arms no
    // second timer.
    let timerDue = 0
    let immediate: ReturnType<typeof setImmediate> | undefined
    let immediateAt = 0
    const arm = (delay: number) => {
      timerDue = performance.now() + delay
      timer = setTimeout(sweep, delay)
    }
    // How much of each call's budget a stall ate is unknown: each gets a whole budget again, from now.
    const forgiveStall = (now: number, expectedAt: number) => {
      if (now - expectedAt <= stallMillis) return
      const deadline = now + budgetMillis
      for (let pending = first; pending !== undefined; pending = pending.next) {
        if (pending.deadline < deadline) pending.deadline = deadline
      }
    }
    const sweep = () => {
      const now = performance.now()
      forgiveStall(now, timerDue)
      immediateAt = now
      immediate = setImmediate(expire)
    }
    const expire = () => {
      immediate = undefined
      timer = undefined
      const now = performance.now()
      // the poll phase in between may have run long synchronous work too
      forgiveStall(now, immediateAt)
      while (first !== undefined) {
        const pending = first
        if (!pending.settled) {
          if (pending.deadline > now) break
          pending.settled = true
          pending.done(undefined, { reason: "timeout", cause: new Error(`no reply within ${budgetMillis} ms`) })
        }
        dropFirst(pending)
      }
      if (first !== undefined) arm(Math.max(1, first.deadline - now))
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        clearTimeout(timer)
        if (immediate !== undefined) clearImmediate(immediate)
      })
    )

    // Requests issued while others are in flight (the fibers a batch of
    // replies woke up) are decided by one run of the batch script: one
    // command, one reply to parse, one script invocation on the server,
    // instead of one each. A batch leaves when it is full or once the tick's
    // microtasks have run (process.nextTick queued from a microtask runs after
    // the microtask queue drains); a request that finds nothing in flight
    // leaves at once. A Cluster spreads keys over slots, and one script may
    // only touch one slot: there, one call each.
    // Scripts run as ioredis Commands built here with flat arguments, which
    // is what `client.evalsha(sha, ...args)` builds too, minus its rest
    // arguments, callback sniffing and a nested array to flatten: ~0.7 µs of
    // client CPU per call, measured. With `enableAutoPipelining` the
    // generated command methods are kept, since they implement it.
    const keyPrefix = (client.options as { readonly keyPrefix?: string | undefined }).keyPrefix
    const commandOptions = keyPrefix === undefined
      ? { replyEncoding: "utf8" as const }
      : { replyEncoding: "utf8" as const, keyPrefix }
    const autoPipelining = (client.options as { readonly enableAutoPipelining?: boolean | undefined })
      .enableAutoPipelining === true
    type Run = (script: string, args: ReadonlyArray<string | number>) => Promise<unknown>
    const runAs = (name: "evalsha" | "eval"): Run => {
      if (autoPipelining) {
        const method = (name === "evalsha" ? client.evalsha : client.eval).bind(client) as (
          ...args: Array<string | number>
        ) => Promise<unknown>
        return (script, args) => method(script, ...args)
      }
      return (script, args) => {
        // a packed array (no holes): Command copies it with `flat()`, which is slow on a holey one
        const command = new Command(name, [script, ...args], commandOptions)
        client.sendCommand(command)
        return command.promise
      }
    }
    const evalsha = runAs("evalsha")
    const evalScript = runAs("eval")
    const maxBatch = client instanceof Cluster ? 1 : Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH)
    let batch: Array<Pending> = []
    let flushScheduled = false

    const settle = (pending: Pending, reply: unknown, failure: CallFailure | undefined) => {
      if (pending.settled) return
      pending.settled = true
      if (first === pending) advance()
      pending.done(reply, failure)
    }
    const rejected = (pending: Pending, cause: unknown) =>
      settle(pending, undefined, { reason: classify(cause), cause })

    // A one-bucket request on its own: the lean one-bucket script.
    const sendOne = (pending: Pending) => {
      evalsha(Script.sha1, pending.args).then(
        (reply) => settle(pending, reply, undefined),
        (error) => {
          if (pending.settled) return
          // The script cache was flushed (SCRIPT FLUSH, restart, failover):
          // EVAL runs it and caches it again, so the next call is an EVALSHA.
          if (!isNoScript(error)) return rejected(pending, error)
          evalScript(Script.source, pending.args).then(
            (reply) => settle(pending, reply, undefined),
            (error) => rejected(pending, error)
          )
        }
      )
    }

    const sendBatch = (requests: ReadonlyArray<Pending>) => {
      const args = batchArgs(requests)
      const answer = (raw: unknown) => {
        const replies = splitReplies(raw, requests.length)
        for (let i = 0; i < requests.length; i++) {
          // A reply that cannot be split: each request decodes nothing (a script failure).
          settle(requests[i], replies === undefined ? undefined : replies[i], undefined)
        }
      }
      const fail = (error: unknown) => {
        for (const pending of requests) rejected(pending, error)
      }
      evalsha(Script.sha1Batch, args).then(answer, (error) => {
        if (!isNoScript(error)) return fail(error)
        evalScript(Script.sourceBatch, args).then(answer, fail)
      })
    }

    // Anything else (several buckets, a refund) is a batch of one.
    const sendAlone = (pending: Pending) => pending.multi ? sendBatch([pending]) : sendOne(pending)

    const flush = () => {
      flushScheduled = false
      const requests = batch
      batch = []
      if (requests.length === 1) sendAlone(requests[0])
      else if (requests.length > 1) sendBatch(requests)
    }

    const send = (multi: boolean, args: ReadonlyArray<string | number>, done: Done): void => {
      const pending: Pending = {
        deadline: performance.now() + budgetMillis,
        settled: false,
        multi,
        args,
        done,
        next: undefined
      }
      const idle = first === undefined
      enqueue(pending)
      if (timer === undefined) arm(budgetMillis)
      // Nothing in flight and nothing gathering: a lone caller's request
      // leaves at once; while requests are in flight, the next ones gather.
      if (idle && batch.length === 0) return sendAlone(pending)
      batch.push(pending)
      if (batch.length >= maxBatch) flush()
      else if (!flushScheduled) {
        flushScheduled = true
        process.nextTick(flush)
      }
    }

    const sendWindows = (args: ReadonlyArray<string | number>, done: Done): void => {
      const pending: Pending = {
        deadline: performance.now() + budgetMillis,
        settled: false,
        multi: true,
        args,
        done,
        next: undefined
      }
      enqueue(pending)
      if (timer === undefined) arm(budgetMillis)
      evalsha(Script.sha1Windows, args).then(
        (reply) => settle(pending, reply, undefined),
        (error) => {
          if (pending.settled) return
          if (!isNoScript(error)) return rejected(pending, error)
          evalScript(Script.sourceWindows, args).then(
            (reply) => settle(pending, reply, undefined),
            (error) => rejected(pending, error)
          )
        }
      )
    }

    // No canceler is returned: with one, `Effect.async` wraps the call in an
    // interruption handler (an uninterruptible mask and an exit match: ~10
    // more run-loop steps and ~2 KB of garbage per call, measured). An
    // interrupted caller is released at once anyway; its request still runs,
    // and its late reply is ignored (it can only have been stricter).
    const call = (multi: boolean, args: ReadonlyArray<string | number>): Effect.Effect<unknown, CallFailure> =>
      Effect.async<unknown, CallFailure>((resume) => {
        send(multi, args, (reply, failure) =>
          resume(failure === undefined ? Effect.succeed(reply) : Effect.fail(failure)))
      })

    return {
      client,
      send,
      sendWindows,
      call,
      isReady: () =>
        client.status === "ready",
      reset: () => {
        if (client.status === "ready") client.disconnect(true)
      }
    } satisfies Connection
  })
