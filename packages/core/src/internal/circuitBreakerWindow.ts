/**
 * The sliding windows of the circuit breaker's rate rules, as immutable
 * values: recording a call returns a new window (or the same one when nothing
 * changed), so the breaker's state machine stays a pure function.
 *
 * Both windows keep running totals, so recording a call and reading a rate
 * are O(1) amortized. They store only what can slide out and change a total:
 * a count window remembers the failed or slow calls (a healthy window is three
 * numbers, whatever its size), a time window one bucket per second that saw a
 * call.
 *
 * @internal
 */

import type { WindowView } from "../CircuitBreakerMachine.js"

// -- a persistent FIFO queue ----------------------------------------------------
// Two immutable linked lists (Okasaki's banker's queue): push conses onto `back`, pop takes from `front`, which is
// refilled by reversing `back` when it runs out. O(1) amortized when each version is used once, as a breaker does.

type List<A> = { readonly head: A; readonly tail: List<A> } | undefined

interface Queue<A> {
  // empty only when the whole queue is
  readonly front: List<A>
  readonly back: List<A>
}

const emptyQueue: Queue<never> = { front: undefined, back: undefined }

const reverse = <A>(list: List<A>): List<A> => {
  let out: List<A> = undefined
  for (let node = list; node !== undefined; node = node.tail) out = { head: node.head, tail: out }
  return out
}

const push = <A>(queue: Queue<A>, a: A): Queue<A> =>
  queue.front === undefined
    ? { front: { head: a, tail: undefined }, back: undefined }
    : { front: queue.front, back: { head: a, tail: queue.back } }

const pop = <A>(queue: Queue<A>): Queue<A> => {
  const rest = queue.front!.tail
  return rest !== undefined ? { front: rest, back: queue.back } : { front: reverse(queue.back), back: undefined }
}

// -- count window -----------------------------------------------------------

interface Mark {
  // the call's sequence number
  readonly seq: number
  readonly failed: boolean
  readonly slow: boolean
}

/**
 * The last `size` calls.
 *
 * @internal
 */
export interface CountWindow extends WindowView {
  readonly _tag: "CountWindow"
  readonly size: number
  // the next call's sequence number; it only advances while `marks` is not empty (with no mark, nothing refers to
  // it), which is what lets a full, healthy window return itself on a success
  readonly seq: number
  readonly marks: Queue<Mark>
}

/** @internal */
export const countWindow = (size: number): CountWindow => ({
  _tag: "CountWindow",
  size,
  calls: 0,
  failures: 0,
  slow: 0,
  seq: 0,
  marks: emptyQueue
})

const recordCount = (w: CountWindow, failed: boolean, slow: boolean): CountWindow => {
  let { calls, failures, marks, seq } = w
  let slowCalls = w.slow
  if (calls === w.size) {
    // full: the call `size` calls ago slides out, if it was marked
    const oldest = marks.front
    if (oldest !== undefined && oldest.head.seq === seq - w.size) {
      if (oldest.head.failed) failures--
      if (oldest.head.slow) slowCalls--
      marks = pop(marks)
    }
    if (!failed && !slow && marks === w.marks && marks.front === undefined) return w
  } else {
    calls++
  }
  if (failed || slow) {
    marks = push(marks, { seq, failed, slow })
    if (failed) failures++
    if (slow) slowCalls++
  }
  if (marks.front !== undefined) seq++
  return { _tag: "CountWindow", size: w.size, calls, failures, slow: slowCalls, seq, marks }
}

// -- time window --------------------------------------------------------------

interface Bucket extends WindowView {
  readonly second: number
}

/**
 * The calls of the current second and the `size - 1` seconds before it.
 *
 * @internal
 */
export interface TimeWindow extends WindowView {
  readonly _tag: "TimeWindow"
  readonly size: number
  // the newest bucket (undefined until the first call), then the older ones, oldest first
  readonly current: Bucket | undefined
  readonly older: Queue<Bucket>
}

/** @internal */
export const timeWindow = (size: number): TimeWindow => ({
  _tag: "TimeWindow",
  size,
  calls: 0,
  failures: 0,
  slow: 0,
  current: undefined,
  older: emptyQueue
})

const secondOf = (now: number) => Math.floor(now / 1000)

// The window as of `now`: buckets older than `size` seconds dropped.
const slideTime = (w: TimeWindow, now: number): TimeWindow => {
  const current = w.current
  if (current === undefined) return w
  const oldest = secondOf(now) - w.size + 1
  if (current.second < oldest) return timeWindow(w.size)
  let { calls, failures, older, slow } = w
  for (let node = older.front; node !== undefined && node.head.second < oldest; node = older.front) {
    calls -= node.head.calls
    failures -= node.head.failures
    slow -= node.head.slow
    older = pop(older)
  }
  return older === w.older ? w : { _tag: "TimeWindow", size: w.size, calls, failures, slow, current, older }
}

const recordTime = (window: TimeWindow, now: number, failed: boolean, slow: boolean): TimeWindow => {
  const w = slideTime(window, now)
  const f = failed ? 1 : 0
  const s = slow ? 1 : 0
  const second = secondOf(now)
  const current = w.current
  let older = w.older
  let bucket: Bucket
  // a clock that steps back keeps recording into the newest bucket
  if (current !== undefined && current.second >= second) {
    bucket = {
      second: current.second,
      calls: current.calls + 1,
      failures: current.failures + f,
      slow: current.slow + s
    }
  } else {
    if (current !== undefined) older = push(older, current)
    bucket = { second, calls: 1, failures: f, slow: s }
  }
  return {
    _tag: "TimeWindow",
    size: w.size,
    calls: w.calls + 1,
    failures: w.failures + f,
    slow: w.slow + s,
    current: bucket,
    older
  }
}

// -- either -------------------------------------------------------------------

/** @internal */
export type Window = CountWindow | TimeWindow

/** Record one call. @internal */
export const record = (w: Window, now: number, failed: boolean, slow: boolean): Window =>
  w._tag === "CountWindow" ? recordCount(w, failed, slow) : recordTime(w, now, failed, slow)

/** The window's totals as of `now` (a time window drops what has slid out). @internal */
export const view = (w: Window, now: number): WindowView => w._tag === "CountWindow" ? w : slideTime(w, now)

/** The same kind of window, empty. @internal */
export const clear = (w: Window): Window => w._tag === "CountWindow" ? countWindow(w.size) : timeWindow(w.size)

// -- JSON ---------------------------------------------------------------------
// A window as plain JSON data: the queues flattened to arrays (JSON.stringify of a long linked list would recurse once
// per node and overflow the stack), rebuilt as one front list on the way back.

const toArray = <A>(queue: Queue<A>): Array<A> => {
  const out: Array<A> = []
  for (let node = queue.front; node !== undefined; node = node.tail) out.push(node.head)
  const back: Array<A> = []
  for (let node = queue.back; node !== undefined; node = node.tail) back.push(node.head)
  for (let i = back.length - 1; i >= 0; i--) out.push(back[i])
  return out
}

const fromArray = <A>(items: ReadonlyArray<A>): Queue<A> => {
  let front: List<A> = undefined
  for (let i = items.length - 1; i >= 0; i--) front = { head: items[i], tail: front }
  return { front, back: undefined }
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0

/** A window as JSON-safe data (marks as `[seq, flags]`, buckets as `[second, calls, failures, slow]`). @internal */
export const toJson = (w: Window): unknown =>
  w._tag === "CountWindow"
    ? {
      _tag: w._tag,
      size: w.size,
      calls: w.calls,
      failures: w.failures,
      slow: w.slow,
      seq: w.seq,
      marks: toArray(w.marks).map((mark) => [mark.seq, (mark.failed ? 1 : 0) | (mark.slow ? 2 : 0)])
    }
    : {
      _tag: w._tag,
      size: w.size,
      calls: w.calls,
      failures: w.failures,
      slow: w.slow,
      current: w.current === undefined ? null : bucketToJson(w.current),
      older: toArray(w.older).map(bucketToJson)
    }

const bucketToJson = (b: Bucket) => [b.second, b.calls, b.failures, b.slow]

const bucketFromJson = (json: unknown): Bucket | undefined => {
  if (!Array.isArray(json) || json.length !== 4 || !json.every((n) => typeof n === "number" && Number.isInteger(n))) {
    return undefined
  }
  const [second, calls, failures, slow] = json as [number, number, number, number]
  return calls >= 0 && failures >= 0 && slow >= 0 ? { second, calls, failures, slow } : undefined
}

/**
 * The window `toJson` encoded, if `json` is one of the same kind and size as
 * `like` (a rule's initial window) and its totals are consistent; otherwise
 * `undefined`.
 *
 * @internal
 */
export const fromJson = (json: unknown, like: Window): Window | undefined => {
  if (typeof json !== "object" || json === null) return undefined
  const o = json as Record<string, unknown>
  if (o._tag !== like._tag || o.size !== like.size) return undefined
  if (!isCount(o.calls) || !isCount(o.failures) || !isCount(o.slow)) return undefined
  const { calls, failures, slow } = o
  if (calls > like.size && like._tag === "CountWindow") return undefined
  if (like._tag === "CountWindow") {
    if (!isCount(o.seq) || !Array.isArray(o.marks) || o.marks.length > like.size) return undefined
    const marks: Array<Mark> = []
    let f = 0
    let s = 0
    for (const item of o.marks as ReadonlyArray<unknown>) {
      if (!Array.isArray(item) || item.length !== 2 || !isCount(item[0]) || !isCount(item[1])) return undefined
      const failed = (item[1] & 1) !== 0
      const isSlow = (item[1] & 2) !== 0
      if (failed) f++
      if (isSlow) s++
      marks.push({ seq: item[0], failed, slow: isSlow })
    }
    if (f !== failures || s !== slow) return undefined
    return { _tag: "CountWindow", size: like.size, calls, failures, slow, seq: o.seq, marks: fromArray(marks) }
  }
  if (!Array.isArray(o.older) || o.older.length > like.size) return undefined
  const current = o.current === null ? undefined : bucketFromJson(o.current)
  if (o.current !== null && current === undefined) return undefined
  const older: Array<Bucket> = []
  let c = current?.calls ?? 0
  let f = current?.failures ?? 0
  let s = current?.slow ?? 0
  for (const item of o.older as ReadonlyArray<unknown>) {
    const bucket = bucketFromJson(item)
    if (bucket === undefined) return undefined
    c += bucket.calls
    f += bucket.failures
    s += bucket.slow
    older.push(bucket)
  }
  if (c !== calls || f !== failures || s !== slow) return undefined
  return { _tag: "TimeWindow", size: like.size, calls, failures, slow, current, older: fromArray(older) }
}

/** Whether a rule state is one of these windows. @internal */
export const isWindow = (u: unknown): u is Window =>
  typeof u === "object" && u !== null && ((u as Window)._tag === "CountWindow" || (u as Window)._tag === "TimeWindow")
