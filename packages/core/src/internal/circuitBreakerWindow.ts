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

const empty = new Float64Array(0)

const FAILED = 1
const SLOW = 2

/**
 * The last `size` calls: a ring of one byte per call, allocated at the first
 * failed or slow call (until then every entry would be 0, so the counters
 * alone describe the window: an idle or healthy breaker carries no ring).
 *
 * @internal
 */
export class CountWindow implements Window {
  calls = 0
  failures = 0
  slow = 0
  private ring: Uint8Array | undefined = undefined
  private head = 0

  constructor(private readonly size: number) {}

  record(_now: number, failure: boolean, slow: boolean): void {
    const head = this.head
    let ring = this.ring
    if (this.calls === this.size) {
      // full: the oldest call (at head) slides out
      if (ring !== undefined) {
        const old = ring[head]
        if (old & FAILED) this.failures--
        if (old & SLOW) this.slow--
      }
    } else {
      this.calls++
    }
    const flags = (failure ? FAILED : 0) | (slow ? SLOW : 0)
    if (ring === undefined && flags !== 0) ring = this.ring = new Uint8Array(this.size)
    if (ring !== undefined) ring[head] = flags
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
  // allocated at the first recorded call (an idle breaker carries none); empty buckets have nothing to slide out
  private bucketCalls: Float64Array | undefined = undefined
  private bucketFailures: Float64Array = empty
  private bucketSlow: Float64Array = empty
  // the newest second the buckets describe
  private second = Number.NEGATIVE_INFINITY

  constructor(private readonly size: number) {}

  refresh(now: number): void {
    const second = Math.floor(now / 1000)
    // a clock that steps back keeps recording into the newest bucket
    if (second <= this.second) return
    if (this.bucketCalls === undefined) {
      this.second = second
      return
    }
    if (second - this.second >= this.size) {
      this.clear()
    } else {
      const bucketCalls = this.bucketCalls
      for (let s = this.second + 1; s <= second; s++) {
        const i = this.index(s)
        this.calls -= bucketCalls[i]
        this.failures -= this.bucketFailures[i]
        this.slow -= this.bucketSlow[i]
        bucketCalls[i] = 0
        this.bucketFailures[i] = 0
        this.bucketSlow[i] = 0
      }
    }
    this.second = second
  }

  record(now: number, failure: boolean, slow: boolean): void {
    this.refresh(now)
    let bucketCalls = this.bucketCalls
    if (bucketCalls === undefined) {
      bucketCalls = this.bucketCalls = new Float64Array(this.size)
      this.bucketFailures = new Float64Array(this.size)
      this.bucketSlow = new Float64Array(this.size)
    }
    const i = this.index(this.second)
    bucketCalls[i]++
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
    if (this.bucketCalls !== undefined) this.bucketCalls.fill(0)
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
