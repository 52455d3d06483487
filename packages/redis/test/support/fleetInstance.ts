/**
 * One instance of a fleet for the fleet-wide breaker tests: a
 * `SharedCircuitBreaker` on its own `RedisCircuitBreakerStore` (its own
 * connections, as a separate process would have), driven by small commands.
 * The same commands run in this process (`makeInstance`) and in a child
 * process (`fleetProcess.ts`, spawned by `spawnInstance`), so a test treats
 * both alike.
 */
import * as SharedCircuitBreaker from "@effect-resilience/core/SharedCircuitBreaker"
import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
import { Deferred, Effect, Exit, Layer, Runtime, Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Readline from "node:readline"

export interface InstanceOptions {
  readonly redisUrl: string
  readonly instanceId: string
  /** The breaker's resource: unique per test, so tests never share a breaker. */
  readonly resource: string
  readonly quorum: number
  readonly resetTimeoutMillis: number
  readonly halfOpenMaxProbes: number
  readonly storeTimeoutMillis: number
}

export type Command =
  | { readonly op: "calls"; readonly outcome: "fail" | "succeed"; readonly n: number }
  | { readonly op: "state" }
  | { readonly op: "burst"; readonly callers: number }
  | { readonly op: "release" }

export interface CallsReply {
  readonly ran: number
  readonly rejected: number
  /** The slowest call, wall clock ms (only for the "no call waits on a dead Redis" bound). */
  readonly maxMillis: number
}

export interface StateReply {
  readonly state: string
  readonly fleetState: string | undefined
  readonly mode: string | undefined
  readonly failingInstances: ReadonlyArray<string>
}

export interface BurstReply {
  /** Calls whose body ran (each is now held until `release`). */
  readonly admitted: number
  /** Calls rejected, and how many of those with CircuitOpenError. */
  readonly rejected: number
  readonly circuitOpen: number
}

export type Handler = (command: Command) => Promise<unknown>

/** Builds the instance in `scope` and returns its command handler. */
export const makeInstance = (options: InstanceOptions, scope: Scope.Scope): Effect.Effect<Handler> =>
  Effect.gen(function*() {
    // the store lives as long as the instance: built into its scope (Effect.provide would close it after make)
    const store = yield* Layer.buildWithScope(
      RedisCircuitBreakerStore.layer({
        url: options.redisUrl,
        commandTimeout: options.storeTimeoutMillis,
        // reconnect quickly after a restart, so a test does not sit in backoff
        redisOptions: { retryStrategy: () => 50 }
      }),
      scope
    ).pipe(Effect.orDie)
    const breaker = yield* SharedCircuitBreaker.make({
      service: "fleet-test",
      resource: options.resource,
      instanceId: options.instanceId,
      failureThreshold: 3,
      resetTimeout: options.resetTimeoutMillis,
      halfOpenMaxProbes: options.halfOpenMaxProbes,
      successThreshold: options.halfOpenMaxProbes,
      quorum: { instances: options.quorum },
      report: { maxBatch: 100, interval: "50 millis" },
      storeTimeout: options.storeTimeoutMillis
    }).pipe(Effect.provide(store), Effect.orDie, Scope.extend(scope))
    const runtime = yield* Effect.runtime<never>()
    let gate = yield* Deferred.make<void>()
    let held: Array<Promise<unknown>> = []

    const calls = (outcome: "fail" | "succeed", n: number) =>
      Effect.gen(function*() {
        let ran = 0
        let rejected = 0
        let maxMillis = 0
        for (let i = 0; i < n; i++) {
          const start = performance.now()
          const body = Effect.suspend(() => {
            ran++
            return outcome === "fail" ? Effect.fail("broker down" as const) : Effect.void
          })
          const result = yield* Effect.either(breaker.execute(body))
          maxMillis = Math.max(maxMillis, performance.now() - start)
          if (result._tag === "Left" && result.left !== "broker down") rejected++
        }
        return { ran, rejected, maxMillis } satisfies CallsReply
      })

    const state = Effect.gen(function*() {
      const snapshot = yield* breaker.snapshot
      return {
        state: snapshot.state,
        fleetState: snapshot.fleet?.state,
        mode: snapshot.fleet?.mode,
        failingInstances: snapshot.fleet?.failingInstances.map((f) => f.instance) ?? []
      } satisfies StateReply
    })

    // `callers` calls at once; the admitted ones hold in their body until `release`.
    const burst = (callers: number) =>
      Effect.gen(function*() {
        const wait = gate
        let admitted = 0
        let rejected = 0
        let circuitOpen = 0
        const one = breaker.execute(Effect.suspend(() => {
          admitted++
          return Deferred.await(wait)
        })).pipe(
          Effect.catchAll((error) =>
            Effect.sync(() => {
              rejected++
              if (error._tag === "CircuitOpenError") circuitOpen++
            })
          )
        )
        for (let i = 0; i < callers; i++) held.push(Runtime.runPromise(runtime)(one))
        // every caller decided (admitted or rejected): seconds of margin for a busy machine
        for (let i = 0; i < 2_000 && admitted + rejected < callers; i++) yield* Effect.sleep("10 millis")
        return { admitted, rejected, circuitOpen } satisfies BurstReply
      })

    const release = Effect.gen(function*() {
      yield* Deferred.succeed(gate, undefined)
      const finished = held
      held = []
      gate = yield* Deferred.make<void>()
      yield* Effect.promise(() => Promise.all(finished))
      return { completed: finished.length }
    })

    return (command: Command): Promise<unknown> => {
      const effect: Effect.Effect<unknown> = command.op === "calls"
        ? calls(command.outcome, command.n)
        : command.op === "state"
        ? state
        : command.op === "burst"
        ? burst(command.callers)
        : release
      return Effect.runPromise(effect)
    }
  })

/** An in-process instance: its handler, and a close that ends its scope (its connections and fibers). */
export const startInProcess = async (
  options: InstanceOptions
): Promise<{ readonly send: Handler; readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const send = await Effect.runPromise(makeInstance(options, scope))
  return { send, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/**
 * An instance in a child process (`node --import tsx fleetProcess.ts`): resolves
 * once it printed `ready` (tsx compiles first: seconds on a busy machine, so a
 * minute of margin). `close` ends its stdin (it closes its scope and exits) and
 * kills it if it has not exited within seconds.
 */
export const spawnInstance = async (
  options: InstanceOptions
): Promise<{ readonly send: Handler; readonly close: () => Promise<void> }> => {
  const child = ChildProcess.spawn(process.execPath, [
    "--import",
    "tsx",
    Path.join(import.meta.dirname, "fleetProcess.ts")
  ], {
    cwd: Path.resolve(import.meta.dirname, "../.."),
    env: { ...process.env, FLEET_INSTANCE: JSON.stringify(options) },
    stdio: ["pipe", "pipe", "pipe"]
  })
  let stderr = ""
  child.stderr!.on("data", (chunk) => {
    if (stderr.length < 20_000) stderr += chunk
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const waiting = new Map<number, { resolve: (reply: unknown) => void; reject: (error: Error) => void }>()
  let ready: (() => void) | undefined
  let startTimer: ReturnType<typeof setTimeout> | undefined
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve
    startTimer = setTimeout(
      () => reject(new Error(`the fleet instance did not start within 60 s:\n${stderr}`)),
      60_000
    )
    child.once(
      "exit",
      (code) => reject(new Error(`the fleet instance exited (${code}) before it was ready:\n${stderr}`))
    )
  })
  const lines = Readline.createInterface({ input: child.stdout! })
  lines.on("line", (line) => {
    if (line === "ready") return ready?.()
    if (!line.startsWith("{")) return
    const message = JSON.parse(line) as { readonly id: number; readonly reply?: unknown; readonly error?: string }
    const pending = waiting.get(message.id)
    if (pending === undefined) return
    waiting.delete(message.id)
    if (message.error !== undefined) pending.reject(new Error(message.error))
    else pending.resolve(message.reply)
  })
  child.once("exit", () => {
    for (const pending of waiting.values()) pending.reject(new Error(`the fleet instance exited:\n${stderr}`))
    waiting.clear()
  })
  const close = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.stdin!.end()
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
    await exited
    clearTimeout(timer)
  }
  try {
    await started
  } catch (error) {
    child.kill("SIGKILL")
    throw error
  } finally {
    clearTimeout(startTimer)
  }
  let nextId = 0
  const send: Handler = (command) =>
    new Promise((resolve, reject) => {
      const id = nextId++
      waiting.set(id, { resolve, reject })
      child.stdin!.write(`${JSON.stringify({ id, command })}\n`)
    })
  return { send, close }
}
