/**
 * Timeout implementation: run the inner effect in a child fiber started
 * synchronously, return its exit at once when it finished without
 * suspending (no timer at all), and arm a Clock-driven timer only when it
 * suspended. On time, the caller fails with `TimeoutError` at once and the
 * child is interrupted in the background (disconnect semantics).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Supervisor from "effect/Supervisor"
import { TimeoutError } from "../ResilienceError.js"
import * as TimerQueue from "./timerQueue.js"

/** The live Clock of Effect's default services: with it, a timer of our own (`TimerQueue`) is the same timer, cheaper. */
const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/** Node's `setTimeout` limit; Effect's live clock treats longer sleeps as infinite too. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/**
 * The shape of Effect 3's `FiberRuntime` we rely on: its constructor
 * `(id, fiberRefs, runtimeFlags)` and `start(effect)`, which runs the fiber
 * on the current stack until its first suspension. `Runtime.runFork` does the
 * same plus bookkeeping we do not need (global-scope registration, a context
 * update), at about twice the cost; it stays the fallback should a future
 * Effect 3 release change these internals.
 */
interface FiberRuntimeLike<A, E> extends Fiber.RuntimeFiber<A, E> {
  start(effect: Effect.Effect<A, E, never>): void
}
type FiberRuntimeCtor = new<A, E>(
  id: FiberId.Runtime,
  fiberRefs: FiberRefs.FiberRefs,
  runtimeFlags: RuntimeFlags.RuntimeFlags
) => FiberRuntimeLike<A, E>

let fiberCtor: FiberRuntimeCtor | null | undefined = undefined

const fiberRuntimeCtor = (parent: Fiber.RuntimeFiber<unknown, unknown>): FiberRuntimeCtor | null => {
  if (fiberCtor === undefined) {
    const ctor = parent.constructor as unknown
    fiberCtor = typeof ctor === "function" && typeof ctor.prototype?.start === "function" && ctor.length === 3
      ? ctor as FiberRuntimeCtor
      : null
  }
  return fiberCtor
}

// FiberRefs whose fork patch is, by construction in Effect 3, the identity
// (`fork: identity` on the update differ, or a differ's empty patch, which
// returns the value it is given). Checked once here against what each ref
// actually carries, so a future Effect release that changes one falls back
// to `FiberRefs.forkAs` for it.
const identityForkRefs: ReadonlySet<FiberRef.FiberRef<unknown>> = new Set(
  ([
    FiberRef.currentContext,
    FiberRef.currentConcurrency,
    FiberRef.currentRequestBatchingEnabled,
    FiberRef.currentRequestCache,
    FiberRef.currentRequestCacheEnabled,
    FiberRef.currentSchedulingPriority,
    FiberRef.currentMaxOpsBeforeYield,
    FiberRef.unhandledErrorLogLevel,
    FiberRef.currentLogAnnotations,
    FiberRef.currentLoggers,
    FiberRef.currentLogLevel,
    FiberRef.currentMinimumLogLevel,
    FiberRef.currentLogSpan,
    FiberRef.currentRuntimeFlags,
    FiberRef.currentScheduler,
    FiberRef.currentSupervisor,
    FiberRef.currentMetricLabels,
    FiberRef.currentTracerEnabled,
    FiberRef.currentTracerTimingEnabled,
    FiberRef.currentTracerSpanAnnotations,
    FiberRef.currentTracerSpanLinks,
    DefaultServices.currentServices
  ] as ReadonlyArray<FiberRef.FiberRef<unknown>>).filter((ref) => {
    const fork = (ref as unknown as { readonly fork: unknown }).fork
    if (fork === identity) return true
    // a differ's empty patch: `{ _tag: "Empty" }`, or 0 for the runtime flags differ
    return fork === 0 || (typeof fork === "object" && fork !== null && (fork as { _tag?: unknown })._tag === "Empty")
  })
)

/**
 * Whether forking these FiberRefs is the identity: every ref in them is one
 * of `identityForkRefs`. Then `FiberRefs.forkAs` would build a copy holding
 * the very same stacks, and since FiberRefs are immutable (a fiber replaces
 * its FiberRefs on every write) the child may share the parent's object.
 * Otherwise (an interrupted cause, a fork-scope override, any user FiberRef
 * with a fork function of its own) the child gets `FiberRefs.forkAs`, as
 * `Effect.fork` does. The verdict depends only on the (immutable) object, so
 * it is cached: the last one seen, and a WeakMap behind it.
 */
let lastShareable: FiberRefs.FiberRefs | undefined = undefined
const shareableVerdicts = new WeakMap<FiberRefs.FiberRefs, boolean>()

const isShareable = (refs: FiberRefs.FiberRefs): boolean => {
  if (refs === lastShareable) return true
  let verdict = shareableVerdicts.get(refs)
  if (verdict === undefined) {
    verdict = true
    for (const ref of refs.locals.keys()) {
      if (!identityForkRefs.has(ref)) {
        verdict = false
        break
      }
    }
    shareableVerdicts.set(refs, verdict)
  }
  if (verdict) lastShareable = refs
  return verdict
}

const disableMetrics = RuntimeFlagsPatch.disable(RuntimeFlags.RuntimeMetrics)

/**
 * Starts `self` in a new fiber that inherits the parent's FiberRefs (context,
 * services, log annotations, span) forked as `Effect.fork` forks them, and
 * runs it synchronously until it completes or suspends.
 *
 * The child is not attached to the parent's scope: the caller of this
 * function owns its lifetime (it always awaits or interrupts it).
 *
 * The child itself is an implementation detail, so it runs without the
 * `RuntimeMetrics` flag: it is not counted in Effect's runtime fiber metrics
 * (`effect_fiber_started` / `_active` / `_lifetimes` / `_successes`), whose
 * updates cost about a third of a short call (~180 ns of ~550). Fibers the
 * timed effect forks inherit the flag, so they are not counted either;
 * restoring it for them (`withRuntimeFlagsPatch` around the inner) costs more
 * than the metrics themselves.
 */
/** @internal */
export const startChild = <A, E, R>(
  parent: Fiber.RuntimeFiber<unknown, unknown>,
  runtimeFlags: RuntimeFlags.RuntimeFlags,
  self: Effect.Effect<A, E, R>
): Fiber.RuntimeFiber<A, E> => {
  const Ctor = fiberRuntimeCtor(parent)
  if (Ctor === null) {
    const runtime = Runtime.make({ context: parent.currentContext, runtimeFlags, fiberRefs: parent.getFiberRefs() })
    return Runtime.runFork(runtime)(self as Effect.Effect<A, E, never>)
  }
  // `getFiberRefs()` first copies the whole map to store the runtime flags in
  // a FiberRef (~250 ns); the child receives the flags directly, so read the
  // fiber's current refs when they are there to read.
  const parentRefs: FiberRefs.FiberRefs = (parent as unknown as { _fiberRefs?: FiberRefs.FiberRefs })._fiberRefs ??
    parent.getFiberRefs()
  const id = FiberId.unsafeMake()
  const child = new Ctor<A, E>(
    id,
    isShareable(parentRefs) ? parentRefs : FiberRefs.forkAs(parentRefs, id),
    RuntimeFlags.runtimeMetrics(runtimeFlags) ? RuntimeFlags.patch(runtimeFlags, disableMetrics) : runtimeFlags
  )
  const supervisor = child.currentSupervisor
  if (supervisor !== Supervisor.none) {
    supervisor.onStart(child.currentContext, self as Effect.Effect<A, E, never>, Option.some(parent), child)
    child.addObserver((exit) => supervisor.onEnd(exit, child))
  }
  child.start(self as Effect.Effect<A, E, never>)
  return child
}

/**
 * Arms a one-shot timer on the fiber's Clock (so `TestClock` drives it) and
 * returns its canceller.
 */
const armTimer = (
  parent: Fiber.RuntimeFiber<unknown, unknown>,
  runtimeFlags: RuntimeFlags.RuntimeFlags,
  duration: Duration.Duration,
  millis: number,
  onTime: () => void
): () => void => {
  const clock = Context.get(parent.currentDefaultServices, Clock.Clock)
  if (clock === liveClock) {
    if (millis > MAX_TIMER_MILLIS) return constVoid
    return TimerQueue.schedule(millis, onTime)
  }
  // Any other Clock (TestClock, a custom one): sleep on it in a fiber of its own.
  const timer = startChild(parent, runtimeFlags, clock.sleep(duration))
  timer.addObserver((exit) => {
    if (exit._tag === "Success") onTime()
  })
  return () => timer.unsafeInterruptAsFork(parent.id())
}

const constVoid = (): void => {}

/** @internal */
export const timeout = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  millis: number,
  operation: string | undefined
): Effect.Effect<A, E | TimeoutError, R> =>
  Effect.withFiberRuntime<A, E | TimeoutError, R>((parent, status) => {
    const child = startChild(parent, status.runtimeFlags, self)
    const exit = child.unsafePoll()
    // Finished without suspending: nothing to preempt, no timer armed.
    if (exit !== null) return exit
    return awaitWithTimer(parent, status.runtimeFlags, child, duration, millis, operation)
  })

/** @internal */
export const awaitWithTimer = <A, E>(
  parent: Fiber.RuntimeFiber<unknown, unknown>,
  runtimeFlags: RuntimeFlags.RuntimeFlags,
  child: Fiber.RuntimeFiber<A, E>,
  duration: Duration.Duration,
  millis: number,
  operation: string | undefined
): Effect.Effect<A, E | TimeoutError> =>
  Effect.async<A, E | TimeoutError>((resume) => {
    let settled = false
    let cancelTimer: () => void = constVoid
    const onChildExit = (exit: Exit.Exit<A, E>) => {
      if (settled) return
      settled = true
      cancelTimer()
      resume(exit)
    }
    child.addObserver(onChildExit)
    if (settled) return
    cancelTimer = armTimer(parent, runtimeFlags, duration, millis, () => {
      if (settled) return
      settled = true
      child.removeObserver(onChildExit)
      // Disconnect: interrupt in the background and answer now, so the caller
      // is never held hostage by work that is slow to stop.
      child.unsafeInterruptAsFork(parent.id())
      resume(Effect.fail(new TimeoutError(operation === undefined ? { duration } : { duration, operation })))
    })
    // The caller itself was interrupted: interrupt the inner and wait for it,
    // like any child fiber, so its finalizers have run when the caller's
    // interruption completes.
    return Effect.suspend(() => {
      if (settled) return Effect.void
      settled = true
      cancelTimer()
      child.removeObserver(onChildExit)
      return Fiber.interrupt(child)
    })
  })

/** What `Policy`'s fused stack needs of a Timeout made by `Timeout.make`. @internal */
export interface TimeoutInternals {
  readonly duration: Duration.Duration
  readonly millis: number
  readonly operation: string | undefined
}

/** Timeouts made by `Timeout.make` (a user's own `Timeout` value is not in it). @internal */
export const internals = new WeakMap<object, TimeoutInternals>()
