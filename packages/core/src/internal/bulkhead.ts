/**
 * The bulkhead's permit accounting: a counter of active calls and a FIFO
 * queue of waiters (a doubly linked list, so a cancelled waiter leaves it in
 * O(1)). A released permit is handed straight to the head waiter, so the
 * count of active calls never drops while someone waits and no new arrival
 * can overtake the queue.
 *
 * Acquire timeouts: the timeout is the same for every waiter, so deadlines
 * grow along the FIFO queue and only the head's matters. One "reaper" fiber
 * per bulkhead, started when a timed waiter queues and gone when the queue
 * is empty, sleeps on the Clock until the head's deadline and expires every
 * waiter that is due: no fiber or timer per waiting call.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricKey from "effect/MetricKey"
import type * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import type * as Bulkhead from "../Bulkhead.js"
import type { InvalidOptionsError } from "../ResilienceError.js"
import { BulkheadRejectedError } from "../ResilienceError.js"
import * as validate from "./validate.js"

const POLICY = "Bulkhead"

/** @internal */
export const defaultMaxConcurrent = 10

// Gauge keys are module-level; each bulkhead binds its own tagged hook once in
// `make`, so a hot-path update is a plain field write (no key hashing).
const activeKey = MetricKey.gauge("effect_resilience_bulkhead_active", {
  description: "Calls holding a bulkhead permit"
})
const waitingKey = MetricKey.gauge("effect_resilience_bulkhead_waiting", {
  description: "Calls queued for a bulkhead permit"
})

/** @internal */
export const rejections = Metric.counter("effect_resilience_bulkhead_rejections_total", {
  description: "Calls rejected by a bulkhead, by reason (full, timeout)",
  incremental: true
})

const noTags: ReadonlyArray<MetricLabel.MetricLabel> = []

const WAITING = 0
const GRANTED = 1
const DONE = 2 // cancelled, timed out, or its permit already returned

type Resume = (effect: Effect.Effect<void, BulkheadRejectedError>) => void

class Waiter {
  state: number = WAITING
  resume: Resume | undefined = undefined
  prev: Waiter | undefined = undefined
  next: Waiter | undefined = undefined
  constructor(readonly deadline: number) {}
}

type Restore = <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>

/** @internal */
export class BulkheadImpl implements Bulkhead.Bulkhead {
  active = 0
  waiting = 0
  head: Waiter | undefined = undefined
  tail: Waiter | undefined = undefined
  reaping = false

  readonly acquireTimeout: Option.Option<Duration.Duration>
  readonly timeoutMillis: number | undefined
  readonly activeGauge: Metric.Metric.Gauge<number>
  readonly waitingGauge: Metric.Metric.Gauge<number>
  readonly rejectedFull: Metric.Metric.Counter<number>
  readonly rejectedTimeout: Metric.Metric.Counter<number>
  readonly stats: Effect.Effect<Bulkhead.Stats>

  // Shared by every call: release the permit whatever the exit, then pass the exit on.
  readonly releaseOnExit: {
    readonly onFailure: (cause: Cause.Cause<any>) => Effect.Effect<never, any>
    readonly onSuccess: (a: any) => Effect.Effect<any>
  }
  constructor(
    readonly name: string,
    readonly maxConcurrent: number,
    readonly maxWaiting: number,
    acquireTimeout: Duration.Duration | undefined
  ) {
    this.acquireTimeout = Option.fromNullable(acquireTimeout)
    this.timeoutMillis = acquireTimeout === undefined ? undefined : Duration.toMillis(acquireTimeout)
    this.activeGauge = Metric.fromMetricKey(MetricKey.tagged(activeKey, "bulkhead", name))
    this.waitingGauge = Metric.fromMetricKey(MetricKey.tagged(waitingKey, "bulkhead", name))
    const counter = Metric.tagged(rejections, "bulkhead", name)
    this.rejectedFull = Metric.tagged(counter, "reason", "full")
    this.rejectedTimeout = Metric.tagged(counter, "reason", "timeout")
    this.stats = Effect.sync(() => this.unsafeStats())
    this.releaseOnExit = {
      onFailure: (cause) => {
        this.release()
        return Effect.failCause(cause)
      },
      onSuccess: (a) => {
        this.release()
        return Effect.succeed(a)
      }
    }
  }

  readonly unsafeStats = (): Bulkhead.Stats => ({
    name: this.name,
    active: this.active,
    waiting: this.waiting,
    maxConcurrent: this.maxConcurrent,
    maxWaiting: this.maxWaiting
  })

  readonly execute = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadRejectedError, R> =>
    Effect.uninterruptibleMask((restore) => {
      // Hot path: a free permit and nobody queued. Taking it and installing
      // the handler that returns it happen inside the mask, so no interrupt
      // can fall between them; `self` runs with the caller's interruptibility.
      if (this.active < this.maxConcurrent && this.waiting === 0) {
        this.take()
        return Effect.matchCauseEffect(restore(self), this.releaseOnExit)
      }
      return this.timeoutMillis === undefined
        ? this.enqueue(self, restore, undefined)
        : Effect.clockWith((clock) => this.enqueue(self, restore, clock))
    })

  /**
   * Takes a permit at once if one is free and nobody is queued. Only for a
   * caller that gives it back, or installs its release under a mask, before
   * the synchronous callback it runs in returns (`Policy`'s fused stack).
   */
  tryTake(): boolean {
    if (this.active < this.maxConcurrent && this.waiting === 0) {
      this.take()
      return true
    }
    return false
  }

  take(): void {
    this.active++
    this.activeGauge.unsafeUpdate(this.active, noTags)
  }

  release(): void {
    const next = this.head
    if (next === undefined) {
      this.active--
      this.activeGauge.unsafeUpdate(this.active, noTags)
      return
    }
    // Hand the permit over: `active` is unchanged, the waiter now owns it.
    this.unlink(next)
    next.state = GRANTED
    if (next.resume !== undefined) next.resume(Effect.void)
  }

  enqueue<A, E, R>(
    self: Effect.Effect<A, E, R>,
    restore: Restore,
    clock: Clock.Clock | undefined
  ): Effect.Effect<A, E | BulkheadRejectedError, R> {
    // Re-checked here: with a timeout we got here through `clockWith`.
    if (this.active < this.maxConcurrent && this.waiting === 0) {
      this.take()
      return Effect.matchCauseEffect(restore(self), this.releaseOnExit)
    }
    if (this.waiting >= this.maxWaiting) return this.reject("full")
    const waiter = new Waiter(clock === undefined ? Infinity : clock.unsafeCurrentTimeMillis() + this.timeoutMillis!)
    this.link(waiter)
    const run = Effect.matchCauseEffect(restore(this.await(waiter)), {
      // Interrupted, timed out, or (defensively) anything else: give back
      // whatever this waiter holds, even a permit handed over in the same tick.
      onFailure: (cause: Cause.Cause<BulkheadRejectedError>) => {
        this.abandon(waiter)
        return Effect.failCause(cause)
      },
      onSuccess: () => {
        waiter.state = DONE
        return Effect.matchCauseEffect(restore(self), this.releaseOnExit)
      }
    })
    if (clock === undefined || this.reaping) return run
    this.reaping = true
    // Forked inside the mask, so uninterruptible: nobody holds its handle, and
    // it ends by itself once the queue is empty.
    return Effect.zipRight(Effect.forkDaemon(this.reap(clock)), run)
  }

  await(waiter: Waiter): Effect.Effect<void, BulkheadRejectedError> {
    return Effect.async<void, BulkheadRejectedError>((resume) => {
      // The waiter may have been served (or timed out) between enqueue and here.
      if (waiter.state === GRANTED) return resume(Effect.void)
      if (waiter.state === DONE) return resume(this.reject("timeout"))
      waiter.resume = resume
    })
  }

  // Runs on the Clock of the fiber that started it (TestClock in tests).
  reap(clock: Clock.Clock): Effect.Effect<void> {
    return Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      let head = this.head
      while (head !== undefined && head.deadline <= now) {
        this.unlink(head)
        head.state = DONE
        if (head.resume !== undefined) head.resume(this.reject("timeout"))
        head = this.head
      }
      if (head === undefined) {
        this.reaping = false
        return Effect.void
      }
      return Effect.flatMap(clock.sleep(Duration.millis(head.deadline - now)), () => this.reap(clock))
    })
  }

  abandon(waiter: Waiter): void {
    if (waiter.state === WAITING) {
      this.unlink(waiter)
    } else if (waiter.state === GRANTED) {
      this.release()
    }
    waiter.state = DONE
  }

  link(waiter: Waiter): void {
    waiter.prev = this.tail
    if (this.tail === undefined) this.head = waiter
    else this.tail.next = waiter
    this.tail = waiter
    this.waiting++
    this.waitingGauge.unsafeUpdate(this.waiting, noTags)
  }

  unlink(waiter: Waiter): void {
    if (waiter.prev === undefined) this.head = waiter.next
    else waiter.prev.next = waiter.next
    if (waiter.next === undefined) this.tail = waiter.prev
    else waiter.next.prev = waiter.prev
    waiter.prev = undefined
    waiter.next = undefined
    this.waiting--
    this.waitingGauge.unsafeUpdate(this.waiting, noTags)
  }

  reject(reason: "full" | "timeout"): Effect.Effect<never, BulkheadRejectedError> {
    const error = new BulkheadRejectedError({ bulkhead: this.name, reason })
    return Effect.zipRight(
      Metric.increment(reason === "full" ? this.rejectedFull : this.rejectedTimeout),
      Effect.zipRight(
        Effect.annotateLogs(Effect.logDebug("bulkhead rejected a call"), {
          bulkhead: this.name,
          reason,
          active: this.active,
          waiting: this.waiting,
          maxConcurrent: this.maxConcurrent,
          maxWaiting: this.maxWaiting
        }),
        Effect.fail(error)
      )
    )
  }
}

/** @internal */
export const make = (options: Bulkhead.Options): Effect.Effect<Bulkhead.Bulkhead, InvalidOptionsError> =>
  Effect.gen(function*() {
    const name = yield* validate.name(POLICY, "name", options.name)
    const maxConcurrent = yield* validate.positiveInt(
      POLICY,
      "maxConcurrent",
      options.maxConcurrent,
      defaultMaxConcurrent
    )
    const maxWaiting = yield* validate.nonNegativeInt(POLICY, "maxWaiting", options.maxWaiting, maxConcurrent)
    let acquireTimeout: Duration.Duration | undefined = undefined
    if (options.acquireTimeout !== undefined) {
      // An infinite timeout is the same as none: wait as long as needed.
      const decoded = Duration.decodeUnknown(options.acquireTimeout)
      if (Option.isNone(decoded) || Duration.isFinite(decoded.value)) {
        acquireTimeout = yield* validate.duration(POLICY, "acquireTimeout", options.acquireTimeout, 0)
      }
    }
    return new BulkheadImpl(name, maxConcurrent, maxWaiting, acquireTimeout)
  })
