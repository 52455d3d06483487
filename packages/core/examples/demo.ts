/**
 * `pnpm start`: a simulated flaky broker called through the full policy
 * stack, `Policy.withResilience`, in real time (about 14 seconds).
 *
 * The stack is `Bulkhead(Retry(CircuitBreaker(Timeout(call))))` with the
 * `broker_api` profile, its durations shortened so that the story fits in a
 * few seconds (breaker: 5 failures, open 2 s; retry: 2 retries from 150 ms;
 * bulkhead: 3 running + 2 waiting; timeout: 800 ms per attempt).
 *
 * The broker's day:
 *   0 – 4 s    healthy (an occasional transient 503, which a retry absorbs);
 *              at 2 s a burst of 8 simultaneous calls hits the bulkhead
 *   4 – 8 s    OUTAGE: every request fails with a 503
 *   8 – 10 s   recovering but hung: requests hang past the timeout
 *   10 s –     healthy again
 *
 * Watch the breaker open after 5 failed requests, reject calls without
 * sending them, probe every 2 s, fail its probes during the outage and the
 * hang, and close once the broker answers again.
 *
 * Run: `pnpm start` (or `pnpm exec tsx packages/core/examples/demo.ts`).
 */
import { Policy } from "@effect-resilience/core"
import { Data, Duration, Effect, Fiber, HashMap, Logger, Option, Stream } from "effect"

// -- the simulated broker ----------------------------------------------------

class BrokerUnavailableError extends Data.TaggedError("BrokerUnavailableError")<{ readonly status: number }> {}

const startedAt = Date.now()
const now = () => (Date.now() - startedAt) / 1000
const stamp = () => `t+${now().toFixed(2).padStart(5)}s`
const say = (line: string) => Effect.sync(() => console.log(`  ${stamp()}  ${line}`))

// a small seeded generator: the broker's behaviour is the same on every run
let seed = 42
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
  return seed / 2 ** 31
}

type Phase = "healthy" | "outage" | "hung"
const phaseAt = (t: number): Phase => t >= 4 && t < 8 ? "outage" : t >= 8 && t < 10 ? "hung" : "healthy"

let requestsReceived = 0
const broker = {
  /** one request to the broker: what the policies protect */
  getQuote: (symbol: string): Effect.Effect<number, BrokerUnavailableError> =>
    Effect.suspend(() => {
      requestsReceived++
      const phase = phaseAt(now())
      if (phase === "outage") {
        return Effect.fail(new BrokerUnavailableError({ status: 503 })).pipe(Effect.delay("30 millis"))
      }
      if (phase === "hung") return Effect.succeed(101.5).pipe(Effect.delay("3 seconds"))
      const latency = Duration.millis(40 + Math.floor(random() * 80))
      const transient = random() < 0.12
      return (transient
        ? Effect.fail(new BrokerUnavailableError({ status: 503 }))
        : Effect.succeed(symbol === "EURUSD" ? 1.0842 : 101.5)).pipe(Effect.delay(latency))
    })
}

const announcePhases = Effect.gen(function*() {
  yield* Effect.sleep("4 seconds")
  yield* say("☁  broker: OUTAGE begins — every request fails with 503")
  yield* Effect.sleep("4 seconds")
  yield* say("☁  broker: outage over, but requests now HANG (longer than the 800 ms timeout)")
  yield* Effect.sleep("2 seconds")
  yield* say("☀  broker: healthy again")
})

// -- the caller ----------------------------------------------------------------

const getQuote = Policy.withResilience({
  service: "trading_gateway",
  operation: "get_quote",
  serviceType: "broker_api"
})

// the broker_api profile with durations tuned for a 14-second demo
const demoConfig = Policy.layerFrom({
  serviceTypes: {
    broker_api: {
      breaker: { failureThreshold: 5, resetTimeout: "2 seconds" },
      retry: { maxRetries: 2, baseDelay: "150 millis", maxDelay: "1 second", factor: 2, jitter: "full" },
      bulkhead: { maxConcurrent: 3, maxWaiting: 2 },
      timeout: "800 millis"
    }
  }
})

const outcomes = new Map<string, number>()
const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1)

const call = (id: number, symbol: string) => {
  const label = `#${String(id).padEnd(3)}`
  const started = Date.now()
  return broker.getQuote(symbol).pipe(
    getQuote,
    Effect.matchEffect({
      onSuccess: (price) => {
        count("ok")
        return say(`${label} ✓ ${symbol} ${price} in ${Date.now() - started} ms`)
      },
      onFailure: (error) => {
        count(error._tag)
        switch (error._tag) {
          case "CircuitOpenError":
            return say(
              error.state === "HalfOpen"
                ? `${label} ✗ CircuitOpenError: breaker HalfOpen and its probe is in flight, not sent`
                : `${label} ✗ CircuitOpenError: breaker ${error.state}, not sent; retry after ${
                  Duration.format(error.retryAfter)
                }`
            )
          case "BulkheadRejectedError":
            return say(`${label} ✗ BulkheadRejectedError: bulkhead ${error.reason}, not sent`)
          case "TimeoutError":
            return say(`${label} ✗ TimeoutError after ${Duration.format(error.duration)} (retries exhausted)`)
          case "BrokerUnavailableError":
            return say(`${label} ✗ broker answered ${error.status} (retries exhausted)`)
          case "InvalidOptionsError":
            return say(`${label} ✗ ${error.message}`)
        }
      }
    }),
    Effect.annotateLogs("call", label)
  )
}

// prints the Retry module's structured log line of each retry as a timeline entry
const timelineLogger = Logger.make(({ annotations, message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  if (!text.startsWith("Retry:")) return
  const get = (key: string) => Option.getOrElse(HashMap.get(annotations, key), () => "?")
  const label = String(get("call"))
  if (text.includes("retrying")) {
    console.log(`  ${stamp()}  ${label} ↻ retry ${get("attempt")} in ${get("delayMillis")} ms after ${get("errorTag")}`)
  } else {
    console.log(`  ${stamp()}  ${label} … giving up after attempt ${get("attempt")} (${get("reason")})`)
  }
})

const program = Effect.gen(function*() {
  console.log("effect-resilience demo: a flaky broker behind withResilience (broker_api profile, demo timings)")
  console.log(
    "  stack: Bulkhead(3 running, 2 waiting) → Retry(2, 150 ms…1 s) → Breaker(5 failures, 2 s) → Timeout(800 ms)"
  )
  console.log(
    "  legend: ✓ call succeeded  ✗ call failed  ↻ retry  ⚡ breaker state change  ☁ ☀ the broker's condition\n"
  )
  const resilience = yield* Policy.Resilience
  const transitions = yield* Effect.fork(
    Stream.runForEach(
      resilience.registry.events,
      (change) => say(`⚡ breaker ${change.breaker}: ${change.from} → ${change.to} (${change.reason})`)
    )
  )
  yield* Effect.fork(announcePhases)
  yield* Effect.sleep("50 millis") // let the event subscription start

  const calls: Array<Fiber.RuntimeFiber<void>> = []
  let id = 0
  while (now() < 13) {
    if (id === 6) {
      yield* say("⇶  a burst of 8 simultaneous calls (the bulkhead runs 3 and queues 2)")
      for (let i = 0; i < 8; i++) calls.push(yield* Effect.fork(call(++id, "EURUSD")))
    }
    calls.push(yield* Effect.fork(call(++id, "AAPL")))
    yield* Effect.sleep("350 millis")
  }
  yield* Fiber.joinAll(calls)
  yield* Fiber.interrupt(transitions)

  const [snapshot] = yield* resilience.registry.snapshot
  const failed = [...outcomes].filter(([key]) => key !== "ok")
  console.log(`\nSummary after ${now().toFixed(1)} s`)
  console.log(`  calls: ${id}   succeeded: ${outcomes.get("ok") ?? 0}   failed: ${id - (outcomes.get("ok") ?? 0)}`)
  for (const [tag, n] of failed) console.log(`    ${tag.padEnd(24)} ${n}`)
  const rejected = (outcomes.get("CircuitOpenError") ?? 0) + (outcomes.get("BulkheadRejectedError") ?? 0)
  console.log(`  requests that reached the broker: ${requestsReceived}, retries included`)
  console.log(`  calls ended by an open breaker or a full bulkhead: ${rejected} (a rejected attempt is never sent)`)
  if (snapshot !== undefined) {
    console.log(
      `  breaker ${snapshot.name}: ${snapshot.state}, tripped ${snapshot.trips} times, ` +
        `${snapshot.rejections} calls rejected while open`
    )
  }
})

Effect.runPromise(program.pipe(
  Effect.provide(demoConfig),
  Effect.provide(Logger.replace(Logger.defaultLogger, timelineLogger))
)).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
