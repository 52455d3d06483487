/**
 * Retry budget state: calls and retries counted in per-second buckets of a
 * sliding window (a ring indexed by the second), with running totals so a
 * call costs one bucket check and an increment.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** @internal */
export const TypeId: unique symbol = Symbol.for("@effect-resilience/core/RetryBudget")

/** @internal */
export type TypeId = typeof TypeId

/** @internal */
export interface Snapshot {
  readonly calls: number
  readonly retries: number
  readonly allowed: number
  readonly available: number
}

/** @internal */
export class RetryBudgetImpl {
  readonly [TypeId]: TypeId = TypeId
  private readonly seconds: number
  private readonly calls: Float64Array
  private readonly retries: Float64Array
  private readonly stamps: Float64Array
  private totalCalls = 0
  private totalRetries = 0
  private readonly floor: number

  readonly recordCall: Effect.Effect<void>
  readonly tryAcquire: Effect.Effect<boolean>
  readonly snapshot: Effect.Effect<Snapshot>

  constructor(
    readonly ratio: number,
    readonly minRetriesPerSecond: number,
    readonly window: Duration.Duration,
    windowMillis: number
  ) {
    this.seconds = Math.max(1, Math.ceil(windowMillis / 1000))
    this.calls = new Float64Array(this.seconds)
    this.retries = new Float64Array(this.seconds)
    this.stamps = new Float64Array(this.seconds).fill(-1)
    this.floor = minRetriesPerSecond * this.seconds
    this.recordCall = Effect.clockWith((clock) =>
      Effect.sync(() => this.unsafeRecordCall(clock.unsafeCurrentTimeMillis()))
    )
    this.tryAcquire = Effect.clockWith((clock) =>
      Effect.sync(() => this.unsafeTryAcquire(clock.unsafeCurrentTimeMillis()))
    )
    this.snapshot = Effect.clockWith((clock) => Effect.sync(() => this.unsafeSnapshot(clock.unsafeCurrentTimeMillis())))
  }

  /** Moves to the bucket of `second`, dropping the counts of any bucket that fell out of the window. */
  private bucket(nowMillis: number): number {
    const second = Math.floor(nowMillis / 1000)
    const index = second % this.seconds
    if (this.stamps[index] !== second) {
      // A new second: clear every bucket that fell out of the window (or lies
      // in the future, should the clock have gone back).
      for (let i = 0; i < this.seconds; i++) {
        const stamp = this.stamps[i]
        if (stamp !== -1 && (second - stamp >= this.seconds || stamp > second)) {
          this.totalCalls -= this.calls[i]
          this.totalRetries -= this.retries[i]
          this.calls[i] = 0
          this.retries[i] = 0
          this.stamps[i] = -1
        }
      }
      this.stamps[index] = second
    }
    return index
  }

  unsafeRecordCall(nowMillis: number): void {
    const index = this.bucket(nowMillis)
    this.calls[index]++
    this.totalCalls++
  }

  unsafeTryAcquire(nowMillis: number): boolean {
    const index = this.bucket(nowMillis)
    if (this.totalRetries + 1 > this.ratio * this.totalCalls + this.floor) return false
    this.retries[index]++
    this.totalRetries++
    return true
  }

  unsafeSnapshot(nowMillis: number): Snapshot {
    this.bucket(nowMillis)
    const allowed = this.ratio * this.totalCalls + this.floor
    return {
      calls: this.totalCalls,
      retries: this.totalRetries,
      allowed,
      available: Math.max(0, Math.floor(allowed - this.totalRetries))
    }
  }
}
