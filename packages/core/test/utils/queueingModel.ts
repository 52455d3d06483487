/**
 * A simulated upstream for the adaptive bulkhead, run as a discrete-event
 * simulation: an upstream whose latency is `service` while at most `knee`
 * calls are in it and grows as `service · inflight / knee` beyond (a queue
 * forms past its capacity), driven by closed-loop clients that call it
 * through the bulkhead again as soon as a call ends.
 *
 * Time is a `Clock` of the simulation's own (its `sleep` is an event in a
 * queue), and fibers run on a `ControlledScheduler` the driver steps until
 * every fiber is suspended before it moves time to the next event. So a run
 * is deterministic and independent of the machine's speed, like a TestClock
 * run, and tens of thousands of calls take milliseconds: `TestClock.adjust`
 * waits on a real `setTimeout` per wake-up to see fibers settle (about 6 ms a
 * call here), too slow for the thousands of samples the algorithms need to
 * converge.
 */
import type { Bulkhead } from "@effect-resilience/core"
import { Clock, Duration, Effect, Fiber, Scheduler } from "effect"

interface Event {
  readonly at: number
  readonly seq: number
  readonly fire: () => void
  cancelled: boolean
}

/** A binary min-heap of events by time, then by insertion (same-time events fire in order). */
class Events {
  readonly heap: Array<Event> = []
  seq = 0
  get size(): number {
    return this.heap.length
  }
  private less(a: Event, b: Event): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }
  push(at: number, fire: () => void): Event {
    const event: Event = { at, seq: this.seq++, fire, cancelled: false }
    const h = this.heap
    h.push(event)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(h[i]!, h[parent]!)) break
      ;[h[i], h[parent]] = [h[parent]!, h[i]!]
      i = parent
    }
    return event
  }
  pop(): Event | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (top === undefined || last === undefined || h.length === 0) return top
    h[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r
      if (m === i) break
      ;[h[i], h[m]] = [h[m]!, h[i]!]
      i = m
    }
    return top
  }
}

export interface Model {
  /** Latency in ms of a call while the upstream is below its knee. */
  readonly service: number
  /** How many calls the upstream serves at once before latency grows; may change during the run. */
  knee: number
}

export interface Run {
  /** The bulkhead's limit every `traceEvery` ms. */
  readonly trace: ReadonlyArray<number>
  /** Calls completed by the upstream. */
  readonly calls: number
  /** The most calls the upstream ever had at once. */
  readonly peakInflight: number
}

/**
 * Runs `clients` closed-loop clients through `bulkhead` against the model for
 * `durationMillis` of simulated time; `at(ms, model)` hooks let a test change
 * the model mid-run (the upstream degrades).
 */
export const simulate = (options: {
  readonly bulkhead: Bulkhead.Bulkhead
  readonly model: Model
  readonly clients: number
  readonly durationMillis: number
  readonly traceEvery: number
  readonly changes?: ReadonlyArray<{ readonly at: number; readonly apply: (model: Model) => void }>
  /** The upstream fails with a `TimeoutError` (a drop) at this latency instead of answering later. */
  readonly dropAfterMillis?: number
  /** Interrupts a random client every `meanGapMillis` on average (each replaced by a new one). */
  readonly interruptions?: { readonly seed: number; readonly meanGapMillis: number }
  /** Called after every event, fibers settled: a test's invariants. */
  readonly check?: () => void
}): Run => {
  const { bulkhead, model } = options
  const events = new Events()
  const scheduler = new Scheduler.ControlledScheduler()
  let now = 0
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: () => BigInt(Math.round(now * 1_000_000)),
    currentTimeNanos: Effect.sync(() => BigInt(Math.round(now * 1_000_000))),
    sleep: (duration) =>
      Effect.async<void>((resume) => {
        const event = events.push(now + Duration.toMillis(duration), () => resume(Effect.void))
        return Effect.sync(() => {
          event.cancelled = true
        })
      })
  }
  let inflight = 0
  let peakInflight = 0
  let calls = 0
  const upstream = Effect.suspend(() => {
    inflight++
    peakInflight = Math.max(peakInflight, inflight)
    const latency = model.service * Math.max(1, inflight / model.knee)
    const drop = options.dropAfterMillis !== undefined && latency > options.dropAfterMillis
    return Effect.sleep(drop ? options.dropAfterMillis! : latency).pipe(
      Effect.zipRight(drop ? Effect.fail({ _tag: "TimeoutError" as const }) : Effect.void),
      Effect.ensuring(Effect.sync(() => {
        inflight--
        calls++
      }))
    )
  })
  const client = Effect.forever(Effect.ignore(bulkhead.execute(upstream)))
  const drain = () => {
    while (scheduler.tasks.buckets.length > 0) scheduler.step()
  }
  const start = () => Effect.runFork(client.pipe(Effect.withClock(clock), Effect.withScheduler(scheduler)))
  const clients = Array.from({ length: options.clients }, start)
  drain()
  for (const change of options.changes ?? []) events.push(change.at, () => change.apply(model))
  const trace: Array<number> = []
  for (let t = 0; t <= options.durationMillis; t += options.traceEvery) {
    events.push(t, () => trace.push(bulkhead.maxConcurrent))
  }
  const chaos = options.interruptions
  if (chaos !== undefined) {
    // a seeded generator (mulberry32): the same seed, the same interruptions
    let seed = chaos.seed | 0
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), seed | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
    const interruptOne = () => {
      const i = Math.floor(random() * clients.length)
      // interrupted wherever it is (queued, running, between calls); a new client takes its place
      Effect.runFork(Fiber.interrupt(clients[i]!).pipe(Effect.withScheduler(scheduler)))
      clients[i] = start()
      events.push(now + random() * chaos.meanGapMillis * 2, interruptOne)
    }
    events.push(random() * chaos.meanGapMillis, interruptOne)
  }
  while (events.size > 0) {
    const event = events.pop()!
    if (event.at > options.durationMillis) break
    if (event.cancelled) continue
    now = event.at
    event.fire()
    drain()
    options.check?.()
  }
  for (const fiber of clients) Effect.runFork(Fiber.interrupt(fiber).pipe(Effect.withScheduler(scheduler)))
  drain()
  return { trace, calls, peakInflight }
}
