/**
 * Timers on the live clock for many calls at once: one Node timer per
 * duration instead of a `setTimeout` + `clearTimeout` per call (~450 ns a
 * pair here, ~70 ns an entry in a queue). Timers of one duration expire in
 * the order they were armed, so each duration keeps a FIFO of deadlines and
 * one Node timer for its earliest live one.
 *
 * Cancelling only marks an entry; marked entries are dropped as the head
 * passes them, and the queue is compacted when they outnumber the live ones,
 * so memory follows the calls in flight, not the calls made. When no entry
 * is live the Node timer is unref'd, not cleared: an idle queue never keeps
 * the process alive, and the next call re-refs it instead of clearing and
 * setting a timer (calls one at a time, each suspending: ~1.5 µs → ~0.6 µs a
 * call for the timer part, measured on a loaded 2-core machine). When it
 * fires with nothing live it is simply not re-armed. A runtime whose timers
 * cannot be unref'd gets them cleared as before.
 *
 * @internal
 */

interface Entry {
  readonly deadline: number
  done: boolean
  readonly onTime: () => void
}

// Past this many distinct durations, new ones get a plain timer each (a
// program inventing a duration per call must not grow a map without bound).
const MAX_QUEUES = 64
// Compact when this many more entries than twice the live ones are held.
const SLACK = 1024

class Queue {
  /** Entries held (live and marked), for tests. */
  get held(): number {
    return this.entries.length - this.head
  }
  /** Whether a Node timer that keeps the process alive is armed, for tests. */
  get armed(): boolean {
    return this.timer !== undefined && hasRef(this.timer)
  }

  private entries: Array<Entry> = []
  private head = 0
  private live = 0
  private timer: ReturnType<typeof setTimeout> | undefined = undefined

  constructor(private readonly millis: number) {}

  add(onTime: () => void): () => void {
    const entry: Entry = { deadline: performance.now() + this.millis, done: false, onTime }
    this.entries.push(entry)
    this.live++
    if (this.timer === undefined) this.arm(this.millis)
    else if (this.live === 1) ref(this.timer)
    return () => {
      if (entry.done) return
      entry.done = true
      this.settled()
    }
  }

  // One entry less to wait for: stop the Node timer when none is left, drop
  // the marked entries when they are most of the queue.
  private settled(): void {
    this.live--
    if (this.live === 0) {
      if (this.timer !== undefined && !unref(this.timer)) {
        clearTimeout(this.timer)
        this.timer = undefined
      }
      this.entries = []
      this.head = 0
    } else if (this.entries.length - this.head > 2 * this.live + SLACK) {
      this.entries = this.entries.slice(this.head).filter((entry) => !entry.done)
      this.head = 0
    }
  }

  private arm(millis: number): void {
    // an `onTime` may have armed it again meanwhile (a call that timed out starting another)
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = setTimeout(this.sweep, Math.max(1, Math.ceil(millis)))
  }

  private readonly sweep = (): void => {
    this.timer = undefined
    const now = performance.now()
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head]
      if (!entry.done) {
        // Node's timer clock may run a little behind `performance.now()`: wait for the rest
        if (entry.deadline > now) return this.arm(entry.deadline - now)
        entry.done = true
        this.head++
        this.settled()
        entry.onTime()
        // `settled` may have reset the queue (no live entry left)
        continue
      }
      this.head++
    }
  }
}

type Timer = ReturnType<typeof setTimeout>
interface Refable {
  readonly ref: () => unknown
  readonly unref: () => unknown
  readonly hasRef: () => boolean
}
const isRefable = (timer: unknown): timer is Refable =>
  typeof timer === "object" && timer !== null && typeof (timer as Partial<Refable>).unref === "function" &&
  typeof (timer as Partial<Refable>).hasRef === "function"
/** Unrefs the timer; false when this runtime's timers cannot be unref'd. */
const unref = (timer: Timer): boolean => {
  if (!isRefable(timer)) return false
  timer.unref()
  return true
}
const ref = (timer: Timer): void => {
  if (isRefable(timer)) timer.ref()
}
const hasRef = (timer: Timer): boolean => !isRefable(timer) || timer.hasRef()

const queues = new Map<number, Queue>()

/**
 * Calls `onTime` once `millis` have passed on the live clock, unless the
 * returned function is called first.
 *
 * @internal
 */
export const schedule = (millis: number, onTime: () => void): () => void => {
  let queue = queues.get(millis)
  if (queue === undefined) {
    if (queues.size >= MAX_QUEUES) {
      const handle = setTimeout(onTime, millis)
      return () => clearTimeout(handle)
    }
    queue = new Queue(millis)
    queues.set(millis, queue)
  }
  return queue.add(onTime)
}

/**
 * What the queue of one duration holds (entries, live or cancelled) and
 * whether its Node timer is armed; for tests.
 *
 * @internal
 */
export const unsafeInspect = (millis: number): { readonly held: number; readonly armed: boolean } => {
  const queue = queues.get(millis)
  return queue === undefined ? { held: 0, armed: false } : { held: queue.held, armed: queue.armed }
}
