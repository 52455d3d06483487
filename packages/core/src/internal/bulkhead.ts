/**
 * The bulkhead's permit accounting: a count of permits taken out of a limit
 * (`maxConcurrent`, changed by `resize`) and a FIFO queue of waiters, each
 * asking for some permits. Released permits go straight to the waiters at
 * the head of the queue, in order, as long as they fit: nobody overtakes the
 * queue, and no waiter is woken only to find its permits gone.
 *
 * The queue is a doubly linked list, so a cancelled waiter leaves it in
 * O(1). Waiters that came through `execute` with an acquire timeout are also
 * on a second list, in deadline order (every one has the same timeout and
 * they arrive in order), so only its head's deadline matters: one "reaper"
 * fiber per bulkhead, started when a timed waiter queues and gone when none
 * is left, sleeps on the Clock until that deadline and expires every timed
 * waiter that is due. No fiber or timer per waiting call.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import type * as Bulkhead from "../Bulkhead.js"
import type { InvalidOptionsError } from "../ResilienceError.js"
import { BulkheadRejectedError } from "../ResilienceError.js"
import * as options from "./options.js"
import * as T from "./telemetry.js"
import * as validate from "./validate.js"

const POLICY = "Bulkhead"

/** @internal */
export const defaultMaxConcurrent = 10

// Gauge keys are module-level; each bulkhead binds its own tagged hook once in
// `make`, so a hot-path update is a plain field write (no key hashing).
/** @internal */
export const rejections = Metric.fromMetricKey(T.bulkheadRejections)

const noTags: ReadonlyArray<MetricLabel.MetricLabel> = []

// A count of permits handed to the Semaphore surface. Its types have no error
// channel, so a bad count is a defect (a bug in the caller), never a throw.
const badCount = (option: string, n: number): InvalidOptionsError | undefined =>
  Number.isSafeInteger(n) && n >= 0 ? undefined : validate.invalid(POLICY, option, n, "must be an integer >= 0")

// ---------------------------------------------------------------------------
// waiters
// ---------------------------------------------------------------------------

const WAITING = 0
const GRANTED = 1
const DONE = 2 // cancelled, timed out, or its permits already its caller's

type Resume = (effect: Effect.Effect<void, BulkheadRejectedError>) => void

class Waiter {
  state: number = WAITING
  resume: Resume | undefined = undefined
  readonly inQueue: Link = new Link(this)
  inTimed: Link | undefined = undefined
  constructor(readonly permits: number, readonly deadline: number) {}
}

class Link {
  prev: Link | undefined = undefined
  next: Link | undefined = undefined
  constructor(readonly waiter: Waiter) {}
}

/** A doubly linked list of waiters: append at the tail, leave from anywhere. */
class WaiterList {
  head: Link | undefined = undefined
  tail: Link | undefined = undefined
  size = 0

  push(link: Link): void {
    link.prev = this.tail
    if (this.tail === undefined) this.head = link
    else this.tail.next = link
    this.tail = link
    this.size++
  }

  remove(link: Link): void {
    if (link.prev === undefined) this.head = link.next
    else link.prev.next = link.next
    if (link.next === undefined) this.tail = link.prev
    else link.next.prev = link.prev
    link.prev = undefined
    link.next = undefined
    this.size--
  }
}

type Restore = <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>

interface ReleaseOnExit {
  readonly onFailure: (cause: Cause.Cause<any>) => Effect.Effect<never, any>
  readonly onSuccess: (a: any) => Effect.Effect<any>
}

// ---------------------------------------------------------------------------
// the bulkhead
// ---------------------------------------------------------------------------

/** @internal */
export class BulkheadImpl implements Bulkhead.Bulkhead {
  /** The limit: `maxConcurrent` from `make`, then whatever `resize` set. */
  permits: number
  /** Permits held (by running calls, `take`rs, and waiters just granted theirs). */
  taken = 0
  /**
   * Permits `releaseAll` gave back on behalf of holders who still hold them:
   * their own releases, later, are absorbed here instead of freeing permits a
   * second time (Effect's Semaphore lets the count exceed its size instead).
   */
  debt = 0
  readonly queue = new WaiterList()
  readonly timed = new WaiterList()
  reaping = false
  rejectedFull = 0
  rejectedTimeout = 0

  readonly acquireTimeout: Option.Option<Duration.Duration>
  readonly timeoutMillis: number | undefined
  readonly activeGauge: Metric.Metric.Gauge<number>
  readonly waitingGauge: Metric.Metric.Gauge<number>
  readonly rejectedFullCounter: Metric.Metric.Counter<number>
  readonly rejectedTimeoutCounter: Metric.Metric.Counter<number>
  readonly stats: Effect.Effect<Bulkhead.Stats>
  readonly releaseAll: Effect.Effect<number>

  /** Shared by every one-permit call: release the permit whatever the exit, then pass the exit on. */
  readonly releaseOnExit: ReleaseOnExit

  constructor(
    readonly name: string,
    maxConcurrent: number,
    readonly maxWaiting: number,
    acquireTimeout: Duration.Duration | undefined
  ) {
    this.permits = maxConcurrent
    this.acquireTimeout = Option.fromNullable(acquireTimeout)
    this.timeoutMillis = acquireTimeout === undefined ? undefined : Duration.toMillis(acquireTimeout)
    const labels = T.baseLabels("bulkhead", name, "")
    this.activeGauge = T.taggedGauge(T.bulkheadActive, labels)
    this.waitingGauge = T.taggedGauge(T.bulkheadWaiting, labels)
    this.rejectedFullCounter = T.taggedCounter(T.bulkheadRejections, [...labels, MetricLabel.make("reason", "full")])
    this.rejectedTimeoutCounter = T.taggedCounter(T.bulkheadRejections, [
      ...labels,
      MetricLabel.make("reason", "timeout")
    ])
    this.stats = Effect.sync(() => this.unsafeStats())
    this.releaseOnExit = this.releaseOnExitOf(1)
    this.releaseAll = Effect.sync(() => {
      this.debt += this.taken
      this.taken = 0
      this.serve()
      this.activeGauge.unsafeUpdate(this.taken, noTags)
      return this.permits - this.taken
    })
  }

  get maxConcurrent(): number {
    return this.permits
  }

  readonly unsafeStats = (): Bulkhead.Stats => ({
    name: this.name,
    active: this.taken,
    available: Math.max(0, this.permits - this.taken),
    waiting: this.queue.size,
    maxConcurrent: this.permits,
    maxWaiting: this.maxWaiting,
    rejected: { full: this.rejectedFull, timeout: this.rejectedTimeout }
  })

  // -------------------------------------------------------------------------
  // the bulkhead's own entry point: one permit, bounded queue, typed rejection
  // -------------------------------------------------------------------------

  readonly execute = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | BulkheadRejectedError, R> =>
    Effect.uninterruptibleMask((restore) => {
      // Hot path: a free permit and nobody queued. Taking it and installing
      // the handler that returns it happen inside the mask, so no interrupt
      // can fall between them; `self` runs with the caller's interruptibility.
      if (this.tryTake()) return Effect.matchCauseEffect(restore(self), this.releaseOnExit)
      return this.timeoutMillis === undefined
        ? this.enqueue(self, 1, restore, true, undefined)
        : Effect.clockWith((clock) => this.enqueue(self, 1, restore, true, clock))
    })

  // -------------------------------------------------------------------------
  // Effect.Semaphore: the same permits and queue, without the bounds (its
  // types have no error channel to reject with)
  // -------------------------------------------------------------------------

  readonly withPermits = (permits: number) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const bad = badCount("permits", permits)
    if (bad !== undefined) return Effect.die(bad)
    return Effect.uninterruptibleMask((restore) =>
      this.tryTakeN(permits)
        ? Effect.matchCauseEffect(restore(self), this.releaseOnExitOf(permits))
        // unbounded, so never rejected: its only failures are `self`'s and interruption
        : this.enqueue(self, permits, restore, false, undefined) as Effect.Effect<A, E, R>
    )
  }

  readonly withPermitsIfAvailable =
    (permits: number) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<Option.Option<A>, E, R> => {
      const bad = badCount("permits", permits)
      if (bad !== undefined) return Effect.die(bad)
      return Effect.uninterruptibleMask((restore) =>
        this.tryTakeN(permits)
          ? Effect.matchCauseEffect(restore(Effect.asSome(self)), this.releaseOnExitOf(permits))
          : Effect.succeedNone
      )
    }

  readonly take = (permits: number): Effect.Effect<number> => {
    const bad = badCount("permits", permits)
    if (bad !== undefined) return Effect.die(bad)
    return Effect.uninterruptibleMask((restore) => {
      if (this.tryTakeN(permits)) return Effect.succeed(permits)
      const waiter = this.link(permits, Infinity)
      // An untimed waiter is never rejected: its only failure is an interruption.
      return Effect.matchCauseEffect(restore(this.await(waiter)), {
        onFailure: (cause) => {
          this.abandon(waiter)
          return Effect.failCause(cause)
        },
        onSuccess: () => {
          waiter.state = DONE
          return Effect.succeed(permits)
        }
      }) as Effect.Effect<number>
    })
  }

  readonly release = (permits: number): Effect.Effect<number> => {
    const bad = badCount("permits", permits)
    if (bad !== undefined) return Effect.die(bad)
    return Effect.sync(() => {
      this.unsafeRelease(permits)
      return this.permits - this.taken
    })
  }

  readonly resize = (permits: number): Effect.Effect<void> => {
    const bad = badCount("resize", permits)
    if (bad !== undefined) return Effect.die(bad)
    return Effect.sync(() => {
      this.permits = permits
      this.serve()
    })
  }

  // -------------------------------------------------------------------------
  // accounting
  // -------------------------------------------------------------------------

  /**
   * Takes a permit at once if one is free and nobody is queued. Only for a
   * caller that gives it back, or installs its release under a mask, before
   * the synchronous callback it runs in returns (`Policy`'s fused stack).
   */
  tryTake(): boolean {
    if (this.taken < this.permits && this.queue.head === undefined) {
      this.taken++
      this.activeGauge.unsafeUpdate(this.taken, noTags)
      return true
    }
    return false
  }

  tryTakeN(permits: number): boolean {
    if (this.taken + permits <= this.permits && this.queue.head === undefined) {
      this.taken += permits
      this.activeGauge.unsafeUpdate(this.taken, noTags)
      return true
    }
    return false
  }

  /** Gives `permits` back and hands what is free to the head of the queue. */
  unsafeRelease(permits: number): void {
    if (this.debt > 0) {
      const absorbed = Math.min(this.debt, permits)
      this.debt -= absorbed
      permits -= absorbed
    }
    // Never below zero: releasing more than was taken cannot raise the limit.
    this.taken = this.taken > permits ? this.taken - permits : 0
    if (this.queue.head !== undefined) this.serve()
    this.activeGauge.unsafeUpdate(this.taken, noTags)
  }

  /** Grants permits to the waiters at the head of the queue, in order, while they fit. */
  serve(): void {
    let head = this.queue.head
    while (head !== undefined && this.taken + head.waiter.permits <= this.permits) {
      const waiter = head.waiter
      this.unlink(waiter)
      this.taken += waiter.permits
      waiter.state = GRANTED
      if (waiter.resume !== undefined) waiter.resume(Effect.void)
      head = this.queue.head
    }
  }

  releaseOnExitOf(permits: number): ReleaseOnExit {
    return {
      onFailure: (cause) => {
        this.unsafeRelease(permits)
        return Effect.failCause(cause)
      },
      onSuccess: (a) => {
        this.unsafeRelease(permits)
        return Effect.succeed(a)
      }
    }
  }

  // -------------------------------------------------------------------------
  // waiting
  // -------------------------------------------------------------------------

  /** Queues `self` for `permits`: bounded (`execute`: maxWaiting, acquire timeout, typed rejection) or not. */
  enqueue<A, E, R>(
    self: Effect.Effect<A, E, R>,
    permits: number,
    restore: Restore,
    bounded: boolean,
    clock: Clock.Clock | undefined
  ): Effect.Effect<A, E | BulkheadRejectedError, R> {
    // Re-checked here: with a timeout we got here through `clockWith`.
    if (this.tryTakeN(permits)) return Effect.matchCauseEffect(restore(self), this.releaseOnExitOf(permits))
    if (bounded && this.queue.size >= this.maxWaiting) return this.reject("full")
    const timed = clock !== undefined
    const waiter = this.link(permits, timed ? clock.unsafeCurrentTimeMillis() + this.timeoutMillis! : Infinity)
    if (timed) {
      waiter.inTimed = new Link(waiter)
      this.timed.push(waiter.inTimed)
    }
    const run = Effect.matchCauseEffect(restore(this.await(waiter)), {
      // Interrupted, timed out, or (defensively) anything else: give back
      // whatever this waiter holds, even permits handed over in the same tick.
      onFailure: (cause: Cause.Cause<BulkheadRejectedError>) => {
        this.abandon(waiter)
        return Effect.failCause(cause)
      },
      onSuccess: () => {
        waiter.state = DONE
        const acquired = T.event(T.Event.bulkheadAcquired, (now) => ({ [T.Attr.bulkheadWaitMs]: now - queuedAt }))
        return Effect.zipRight(acquired, Effect.matchCauseEffect(restore(self), this.releaseOnExitOf(permits)))
      }
    })
    // the queued path only: a span event when the call starts waiting, and one with the wait when it is served
    let queuedAt = 0
    const queued = Effect.zipRight(
      T.event(T.Event.bulkheadQueued, (now) => {
        queuedAt = now
        return { [T.Attr.bulkheadName]: this.name, [T.Attr.bulkheadWaiting]: this.queue.size }
      }),
      run
    )
    if (!timed || this.reaping) return queued
    this.reaping = true
    // Forked inside the mask, so uninterruptible: nobody holds its handle, and
    // it ends by itself once no timed waiter is left.
    return Effect.zipRight(Effect.forkDaemon(this.reap(clock)), queued)
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
      let head = this.timed.head
      let expired = false
      while (head !== undefined && head.waiter.deadline <= now) {
        const waiter = head.waiter
        this.unlink(waiter)
        waiter.state = DONE
        expired = true
        if (waiter.resume !== undefined) waiter.resume(this.reject("timeout"))
        head = this.timed.head
      }
      // A waiter asking for more permits than are free may have been all that
      // held back the ones behind it.
      if (expired) this.serve()
      if (head === undefined) {
        this.reaping = false
        return Effect.void
      }
      return Effect.flatMap(clock.sleep(Duration.millis(head.waiter.deadline - now)), () => this.reap(clock))
    })
  }

  abandon(waiter: Waiter): void {
    if (waiter.state === WAITING) {
      this.unlink(waiter)
      this.serve()
    } else if (waiter.state === GRANTED) {
      this.unsafeRelease(waiter.permits)
    }
    waiter.state = DONE
  }

  link(permits: number, deadline: number): Waiter {
    const waiter = new Waiter(permits, deadline)
    this.queue.push(waiter.inQueue)
    this.waitingGauge.unsafeUpdate(this.queue.size, noTags)
    return waiter
  }

  unlink(waiter: Waiter): void {
    this.queue.remove(waiter.inQueue)
    if (waiter.inTimed !== undefined) {
      this.timed.remove(waiter.inTimed)
      waiter.inTimed = undefined
    }
    this.waitingGauge.unsafeUpdate(this.queue.size, noTags)
  }

  reject(reason: "full" | "timeout"): Effect.Effect<never, BulkheadRejectedError> {
    if (reason === "full") this.rejectedFull++
    else this.rejectedTimeout++
    const error = new BulkheadRejectedError({ bulkhead: this.name, reason })
    return Effect.zipRight(
      Effect.zipRight(
        Metric.increment(reason === "full" ? this.rejectedFullCounter : this.rejectedTimeoutCounter),
        T.event(T.Event.bulkheadRejected, { [T.Attr.bulkheadName]: this.name, [T.Attr.bulkheadReason]: reason })
      ),
      Effect.zipRight(
        Effect.annotateLogs(Effect.logDebug("bulkhead rejected a call"), {
          bulkhead: this.name,
          reason,
          active: this.taken,
          waiting: this.queue.size,
          maxConcurrent: this.permits,
          maxWaiting: this.maxWaiting
        }),
        Effect.fail(error)
      )
    )
  }
}

const decodeOptions = options.decoder(POLICY, options.BulkheadOptions)

/** @internal */
export const make = (input: Bulkhead.Options): Effect.Effect<Bulkhead.Bulkhead, InvalidOptionsError> =>
  Effect.map(decodeOptions(input), (decoded) => {
    const maxConcurrent = decoded.maxConcurrent ?? defaultMaxConcurrent
    // An infinite timeout is the same as none: wait as long as needed.
    const acquireTimeout = decoded.acquireTimeout !== undefined && Duration.isFinite(decoded.acquireTimeout)
      ? decoded.acquireTimeout
      : undefined
    return new BulkheadImpl(decoded.name, maxConcurrent, decoded.maxWaiting ?? maxConcurrent, acquireTimeout)
  })
