/**
 * The sliding windows of the circuit breaker's rate rules. Both keep running
 * totals, so recording a call and reading a rate are O(1) (a time window's
 * refresh is O(seconds elapsed), at most O(windowSize)).
 *
 * @internal
 */

/** @internal */
export interface Window {
  /** Calls in the window (after the last `refresh` or `record`). */
  readonly calls: number
  readonly failures: number
  readonly slow: number
  record(now: number, failure: boolean, slow: boolean): void
  /** Drop what has slid out of the window by `now`. */
  refresh(now: number): void
  clear(): void
}

const FAILED = 1
const SLOW = 2

/**
 * The last `size` calls: a ring of one byte per call.
 *
 * @internal
 */
export class CountWindow implements Window {
  calls = 0
  failures = 0
  slow = 0
  private readonly ring: Uint8Array
  private head = 0

  constructor(private readonly size: number) {
    this.ring = new Uint8Array(size)
  }

  record(_now: number, failure: boolean, slow: boolean): void {
    const head = this.head
    if (this.calls === this.size) {
      // full: the oldest call (at head) slides out
      const old = this.ring[head]
      if (old & FAILED) this.failures--
      if (old & SLOW) this.slow--
    } else {
      this.calls++
    }
    this.ring[head] = (failure ? FAILED : 0) | (slow ? SLOW : 0)
    if (failure) this.failures++
    if (slow) this.slow++
    this.head = head + 1 === this.size ? 0 : head + 1
  }

  refresh(_now: number): void {}

  clear(): void {
    // entries past `calls` are never read before being overwritten
    this.calls = 0
    this.failures = 0
    this.slow = 0
    this.head = 0
  }
}

/**
 * The calls of the current second and the `size - 1` seconds before it: one
 * bucket per second, indexed by epoch second modulo `size`.
 *
 * @internal
 */
export class TimeWindow implements Window {
  calls = 0
  failures = 0
  slow = 0
  private readonly bucketCalls: Float64Array
  private readonly bucketFailures: Float64Array
  private readonly bucketSlow: Float64Array
  // the newest second the buckets describe
  private second = Number.NEGATIVE_INFINITY

  constructor(private readonly size: number) {
    this.bucketCalls = new Float64Array(size)
    this.bucketFailures = new Float64Array(size)
    this.bucketSlow = new Float64Array(size)
  }

  refresh(now: number): void {
    const second = Math.floor(now / 1000)
    // a clock that steps back keeps recording into the newest bucket
    if (second <= this.second) return
    if (second - this.second >= this.size) {
      this.clear()
    } else {
      for (let s = this.second + 1; s <= second; s++) {
        const i = this.index(s)
        this.calls -= this.bucketCalls[i]
        this.failures -= this.bucketFailures[i]
        this.slow -= this.bucketSlow[i]
        this.bucketCalls[i] = 0
        this.bucketFailures[i] = 0
        this.bucketSlow[i] = 0
      }
    }
    this.second = second
  }

  record(now: number, failure: boolean, slow: boolean): void {
    this.refresh(now)
    const i = this.index(this.second)
    this.bucketCalls[i]++
    this.calls++
    if (failure) {
      this.bucketFailures[i]++
      this.failures++
    }
    if (slow) {
      this.bucketSlow[i]++
      this.slow++
    }
  }

  clear(): void {
    this.bucketCalls.fill(0)
    this.bucketFailures.fill(0)
    this.bucketSlow.fill(0)
    this.calls = 0
    this.failures = 0
    this.slow = 0
  }

  private index(second: number): number {
    const i = second % this.size
    return i < 0 ? i + this.size : i
  }
}
