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
import * as Metric from "effect/Metric"
import * as Runtime from "effect/Runtime"
import type * as RuntimeFlags from "effect/RuntimeFlags"
import type * as Scheduler from "effect/Scheduler"
import { TimeoutError } from "../ResilienceError.js"
import * as T from "./telemetry.js"
import * as TimerQueue from "./timerQueue.js"

/** The live Clock of Effect's default services: with it, a timer of our own (`TimerQueue`) is the same timer, cheaper. */
const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/** Node's `setTimeout` limit; Effect's live clock treats longer sleeps as infinite too. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/**
 * Starts `self` in a new fiber with `Runtime.runFork` on the parent's own
 * runtime (its context, FiberRefs and runtime flags, read through the public
 * `RuntimeFiber` interface), and runs it synchronously until it completes or
 * suspends. The child inherits what `Effect.fork` would give it (services,
 * log annotations, span, FiberRefs forked as `forkAs` forks them) and is a
 * fiber like any other: counted in Effect's runtime fiber metrics, seen by
 * the parent's supervisor.
 *
 * The child is not attached to the parent's scope: the caller of this
 * function owns its lifetime (it always awaits or interrupts it).
 *
 * @internal
 */
export const startChild = <A, E, R>(
  parent: Fiber.RuntimeFiber<unknown, unknown>,
  runtimeFlags: RuntimeFlags.RuntimeFlags,
  self: Effect.Effect<A, E, R>
): Fiber.RuntimeFiber<A, E> => {
  const runtime = Runtime.make({ context: parent.currentContext, runtimeFlags, fiberRefs: parent.getFiberRefs() })
  // data-first: no curried closure per call; the options object is made once per scheduler
  return Runtime.runFork(runtime, self as Effect.Effect<A, E, never>, forkOptionsOf(parent.currentScheduler))
}

/**
 * The caller's scheduler, minus the fiber argument of `scheduleTask`. Effect's
 * default scheduler (3.20+) keeps a task runner per fiber that passes itself
 * there, in a `WeakMap`: with a short-lived child per timed call, every call
 * that suspends allocated a runner and a WeakMap entry for a fiber about to
 * end (measured: ~2 µs of a ~10 µs suspended call on a loaded 2-core
 * machine). Without the fiber, the child's tasks go to the scheduler's shared
 * runner, in order, as a task scheduled from outside any fiber does. The
 * wrapper is made once per scheduler.
 */
const forkOptions = new WeakMap<Scheduler.Scheduler, Runtime.RunForkOptions>()
const forkOptionsOf = (scheduler: Scheduler.Scheduler): Runtime.RunForkOptions => {
  let options = forkOptions.get(scheduler)
  if (options === undefined) {
    const shared: Scheduler.Scheduler = {
      scheduleTask: (task, priority) => scheduler.scheduleTask(task, priority),
      shouldYield: (fiber) => scheduler.shouldYield(fiber)
    }
    options = { scheduler: shared }
    forkOptions.set(scheduler, options)
  }
  return options
}

/**
 * Arms a one-shot timer on the fiber's Clock (so `TestClock` drives it) and
 * returns its canceller. Shared with the hedge's delays.
 *
 * @internal
 */
export const armTimer = (
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

// The failure path only: count the timeout, record it on the caller's span, fail.
const timedOut = (
  duration: Duration.Duration,
  millis: number,
  operation: string | undefined
): Effect.Effect<never, TimeoutError> =>
  Effect.zipRight(
    Effect.zipRight(
      Metric.increment(T.taggedCounter(T.timeouts, T.baseLabels("timeout", "", operation ?? ""))),
      T.event(T.Event.timeout, { [T.Attr.operation]: operation ?? "", [T.Attr.timeoutMs]: millis })
    ),
    Effect.fail(new TimeoutError(operation === undefined ? { duration } : { duration, operation }))
  )

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
): Effect.Effect<A, E | TimeoutError> => {
  let settled = false
  let cancelTimer: () => void = constVoid
  let onChildExit: ((exit: Exit.Exit<A, E>) => void) | undefined = undefined
  // No canceller here: `Effect.async` wraps one in `onInterrupt` (measured:
  // ~6 µs a suspended call on a loaded 2-core machine, against ~1 µs for the
  // mask below, which does the same job).
  const wait = Effect.async<A, E | TimeoutError>((resume) => {
    onChildExit = (exit) => {
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
      child.removeObserver(onChildExit!)
      // Disconnect: interrupt in the background and answer now, so the caller
      // is never held hostage by work that is slow to stop.
      child.unsafeInterruptAsFork(parent.id())
      resume(timedOut(duration, millis, operation))
    })
  })
  return Effect.uninterruptibleMask((restore) =>
    Effect.matchCauseEffect(restore(wait), {
      onFailure: (cause) => {
        if (settled) return Effect.failCause(cause)
        // Unsettled, so the caller itself was interrupted: interrupt the inner
        // and wait for it, like any child fiber, so its finalizers have run
        // when the caller's interruption completes.
        settled = true
        cancelTimer()
        if (onChildExit !== undefined) child.removeObserver(onChildExit)
        return Effect.zipRight(Fiber.interrupt(child), Effect.failCause(cause))
      },
      onSuccess: Effect.succeed
    })
  )
}

/** What `Policy`'s fused stack needs of a Timeout made by `Timeout.make`. @internal */
export interface TimeoutInternals {
  readonly duration: Duration.Duration
  readonly millis: number
  readonly operation: string | undefined
}

/** Timeouts made by `Timeout.make` (a user's own `Timeout` value is not in it). @internal */
export const internals = new WeakMap<object, TimeoutInternals>()
