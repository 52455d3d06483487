import { AdaptiveRateLimiter, Observability, QuotaHeaders, ResilienceError } from "@effect-resilience/core"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import {
  Clock,
  Data,
  Duration,
  Effect,
  Exit,
  FastCheck as fc,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Metric,
  Option,
  TestClock
} from "effect"
import { counterValue } from "./utils/metrics.js"

const configOf = (options: AdaptiveRateLimiter.Options) => Effect.runSync(AdaptiveRateLimiter.config(options))

class ProviderRateLimitedError extends Data.TaggedError("ProviderRateLimitedError")<{
  readonly retryAfter: Duration.Duration
}> {}

/**
 * A provider with an undisclosed quota of `quota` calls per fixed minute:
 * over it, a 429 (`ProviderRateLimitedError`) with `Retry-After` = the
 * seconds to the window's end. Counts what it served and refused by minute.
 */
const fixedWindowProvider = (quota: number) => {
  let windowStart = -1
  let used = 0
  const served: Array<number> = []
  const refused: Array<number> = []
  const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const window = Math.floor(now / 60_000) * 60_000
    if (window !== windowStart) {
      windowStart = window
      used = 0
    }
    if (used < quota) {
      used++
      served.push(now)
      return Effect.succeed("ok")
    }
    refused.push(now)
    return Effect.fail(
      new ProviderRateLimitedError({ retryAfter: Duration.seconds(Math.ceil((window + 60_000 - now) / 1000)) })
    )
  })
  return { call, served, refused }
}

/**
 * A provider with an undisclosed token bucket: `quota` calls per minute
 * refilled continuously, bursts of `burst`; over it, a 429 with
 * `Retry-After` = the whole seconds until the next token.
 */
const tokenBucketProvider = (quota: number, burst: number) => {
  let tokens = burst
  let last = 0
  const served: Array<number> = []
  const refused: Array<number> = []
  const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    tokens = Math.min(burst, tokens + (now - last) * quota / 60_000)
    last = now
    if (tokens >= 1) {
      tokens -= 1
      served.push(now)
      return Effect.succeed("ok")
    }
    refused.push(now)
    return Effect.fail(
      new ProviderRateLimitedError({ retryAfter: Duration.seconds(Math.ceil((1 - tokens) * 60 / quota)) })
    )
  })
  return { call, served, refused }
}

// Spans exported to memory, kept after the layer's scope closes (see Observability.test.ts).
class KeptSpans extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

const countIn = (times: ReadonlyArray<number>, from: number, to: number) =>
  times.filter((t) => t >= from && t < to).length

/** Callers that call through the limiter forever, driven for `minutes` of TestClock time. */
const saturate = (
  limiter: AdaptiveRateLimiter.AdaptiveRateLimiter,
  call: Effect.Effect<unknown, unknown>,
  minutes: number,
  callers = 4
) =>
  Effect.gen(function*() {
    const loop = Effect.forever(Effect.ignore(limiter.execute(call)))
    const fibers = yield* Effect.forEach(Array.from({ length: callers }), () => Effect.fork(loop))
    for (let m = 0; m < minutes; m++) yield* TestClock.adjust("1 minute")
    yield* Fiber.interruptAll(fibers)
  })

describe("AdaptiveRateLimiter", () => {
  describe("step (the update rule)", () => {
    const signal = fc.oneof(
      fc.record({ limited: fc.constant(false) }),
      fc.record({
        limited: fc.constant(true),
        retryAfterMillis: fc.option(fc.double({ min: -1e9, max: 1e12 }), { nil: undefined })
      }),
      fc.record({
        limited: fc.boolean(),
        quota: fc.record({
          limit: fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: undefined }),
          windowMillis: fc.option(fc.integer({ min: 1, max: 86_400 }).map((s) => s * 1000), { nil: undefined }),
          remaining: fc.option(fc.integer({ min: 0, max: 1_000_000 }), { nil: undefined }),
          resetMillis: fc.option(fc.integer({ min: 0, max: 86_400 }).map((s) => s * 1000), { nil: undefined })
        })
      })
    )

    it.prop(
      "the rate stays within [minRate, maxRate], and never above an advertised quota while it holds",
      {
        maxRate: fc.double({ min: 0.01, max: 10_000, noNaN: true }),
        minShare: fc.double({ min: 0.001, max: 1, noNaN: true }),
        steps: fc.array(fc.tuple(signal, fc.integer({ min: 0, max: 120_000 })), { maxLength: 200 })
      },
      ({ maxRate, minShare, steps }) => {
        const config = configOf({ name: "p", maxRate, minRate: maxRate * minShare })
        let state = AdaptiveRateLimiter.initial(config, 0)
        let now = 0
        for (const [s, dt] of steps) {
          now += dt
          state = AdaptiveRateLimiter.step(config, state, s, now).state
          expect(state.rate).toBeGreaterThan(0)
          expect(state.rate).toBeLessThanOrEqual(config.maxRate)
          if (now < state.ceilingUntil && Number.isFinite(state.ceiling)) {
            // the server's quota wins over minRate
            expect(state.rate).toBeLessThanOrEqual(state.ceiling * (1 + 1e-12))
          } else {
            expect(state.rate).toBeGreaterThanOrEqual(config.minRate * (1 - 1e-12))
          }
          expect(state.pausedUntil - now).toBeLessThanOrEqual(config.maxPauseMillis)
        }
      }
    )

    it("decreases once per episode: the 429s of calls in flight move nothing", () => {
      const config = configOf({ name: "p", maxRate: 10 })
      let state = AdaptiveRateLimiter.initial(config, 0)
      const first = AdaptiveRateLimiter.step(config, state, { limited: true, retryAfterMillis: 5_000 }, 100)
      expect(first.decrease).toBe("retry_after")
      state = first.state
      expect(state.rate).toBeCloseTo(9)
      expect(state.pausedUntil).toBe(5_100)
      for (const at of [101, 102, 103]) {
        const next = AdaptiveRateLimiter.step(config, state, { limited: true }, at)
        expect(next.decrease).toBeUndefined()
        state = next.state
      }
      expect(state.rate).toBeCloseTo(9)
    })

    it("a Retry-After beyond maxPause is ignored: a 429 without one (the decrease stays)", () => {
      const config = configOf({ name: "p", maxRate: 10, maxPause: "1 minute" })
      const next = AdaptiveRateLimiter.step(
        config,
        AdaptiveRateLimiter.initial(config, 0),
        { limited: true, retryAfterMillis: 1e300 },
        0
      )
      expect(next.decrease).toBe("status_429")
      expect(next.state.pausedUntil).toBeLessThanOrEqual(1_000)
    })
  })

  describe("QuotaHeaders", () => {
    it("reads the IETF fields (draft -09 and earlier) and X-RateLimit-*", () => {
      expect(QuotaHeaders.quota({ "ratelimit-policy": "\"a\";q=100;w=60, \"b\";q=10;w=60" }, 0)).toEqual({
        limit: 10,
        windowMillis: 60_000
      })
      expect(QuotaHeaders.quota({ "ratelimit-policy": "100;w=60", "ratelimit": "limit=100, remaining=7, reset=3" }, 0))
        .toEqual({ limit: 100, windowMillis: 60_000, remaining: 7, resetMillis: 3_000 })
      expect(
        QuotaHeaders.quota({
          "x-ratelimit-limit": "60",
          "x-ratelimit-remaining": "0",
          "x-ratelimit-reset": "1700000030"
        }, 1_700_000_000_000)
      ).toEqual({ limit: 60, remaining: 0, resetMillis: 30_000 })
    })

    it("hostile values are ignored: negative, NaN, 1e308, fractions, a year, 10 KB", () => {
      const big = "9".repeat(10_240)
      for (
        const value of ["-1", "NaN", "1e308", "Infinity", "1.5", "99999999999", big, "", " ", "0x10", `"x";q=${big}`]
      ) {
        expect(
          QuotaHeaders.quota({
            "ratelimit-policy": value,
            "ratelimit": value,
            "x-ratelimit-limit": value,
            "x-ratelimit-remaining": value,
            "x-ratelimit-reset": value
          }, 0)
        ).toBeUndefined()
      }
      expect(QuotaHeaders.quota({ "ratelimit-policy": "\"a\";q=10;w=31536000" }, 0)).toEqual({ limit: 10 })
      expect(Option.isNone(QuotaHeaders.retryAfter(big, 0))).toBe(true)
      expect(Option.isNone(QuotaHeaders.retryAfter("1e308", 0))).toBe(true)
    })

    it.effect("hostile headers on every response change nothing: rate, pause and metrics stay as they were", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveRateLimiter.make({ name: "hostile", maxRate: 2 })
        const before = yield* limiter.state
        const big = "1".repeat(10_240)
        for (const value of ["-5", "NaN", "1e308", big, "-1e308", "1.7976931348623157e308"]) {
          yield* limiter.observe(
            AdaptiveRateLimiter.signalOf(200, {
              "ratelimit-policy": value,
              "ratelimit": value,
              "x-ratelimit-limit": value,
              "x-ratelimit-remaining": value,
              "x-ratelimit-reset": value,
              "retry-after": value
            }, 0)
          )
        }
        const after = yield* limiter.state
        expect(after.rate).toBe(before.rate)
        expect(after.pausedUntil).toBe(before.pausedUntil)
        expect(after.ceiling).toBe(Number.POSITIVE_INFINITY)
      }))
  })

  describe("against a provider with an undisclosed quota", () => {
    it.effect(
      "q = 60 per fixed minute: after a 10-minute warm-up, over the next 20 minutes fewer than 1% of calls get a 429 and throughput is above 90% of q",
      () =>
        Effect.gen(function*() {
          const provider = fixedWindowProvider(60)
          // starts at 10 calls a second: ten times the quota
          const limiter = yield* AdaptiveRateLimiter.make({ name: "undisclosed", maxRate: 10 })
          yield* saturate(limiter, provider.call, 30)
          const from = 10 * 60_000
          const to = 30 * 60_000
          const served = countIn(provider.served, from, to)
          const refused = countIn(provider.refused, from, to)
          expect(refused / (served + refused)).toBeLessThan(0.01)
          expect(served / 20).toBeGreaterThan(0.9 * 60)
          expect(
            yield* counterValue("resilience_learned_rate_decreases_total", "adaptive_rate_limiter", "undisclosed", {
              reason: "retry_after"
            })
          ).toBeGreaterThan(0)
        })
    )

    it.effect(
      "q = 30 per minute as a token bucket (bursts of 5): after a 10-minute warm-up, over the next 20 minutes fewer than 1% of calls get a 429 and throughput is above 90% of q",
      () =>
        Effect.gen(function*() {
          const provider = tokenBucketProvider(30, 5)
          const limiter = yield* AdaptiveRateLimiter.make({ name: "undisclosed-bucket", maxRate: 10 })
          yield* saturate(limiter, provider.call, 30)
          const served = countIn(provider.served, 10 * 60_000, 30 * 60_000)
          const refused = countIn(provider.refused, 10 * 60_000, 30 * 60_000)
          expect(refused / (served + refused)).toBeLessThan(0.01)
          expect(served / 20).toBeGreaterThan(0.9 * 30)
        })
    )

    it.effect("with RateLimit headers it converges at once: the first response sets the rate, and no call gets a 429", () =>
      Effect.gen(function*() {
        let windowStart = -1
        let used = 0
        const served: Array<number> = []
        let refused = 0
        // 30 per minute, said in every response
        const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const window = Math.floor(now / 60_000) * 60_000
          if (window !== windowStart) {
            windowStart = window
            used = 0
          }
          const ok = used < 30
          if (ok) {
            used++
            served.push(now)
          } else refused++
          return Effect.succeed({
            status: ok ? 200 : 429,
            headers: {
              "ratelimit-policy": "\"default\";q=30;w=60",
              "ratelimit": `"default";r=${30 - used};t=${Math.ceil((window + 60_000 - now) / 1000)}`
            },
            now
          })
        })
        const limiter = yield* AdaptiveRateLimiter.make({ name: "advertised", maxRate: 10 })
        const first = yield* limiter.execute(call, {
          signal: (exit) =>
            Exit.isSuccess(exit)
              ? AdaptiveRateLimiter.signalOf(exit.value.status, exit.value.headers, exit.value.now)
              : undefined
        })
        expect(first.status).toBe(200)
        // 29 left over 60 s: at most 30 a minute from the first response on
        expect(yield* limiter.rate).toBeLessThanOrEqual(0.5)
        expect(yield* limiter.rate).toBeGreaterThan(0.45)
        const fibers = yield* Effect.forEach(
          Array.from({ length: 4 }),
          () =>
            Effect.fork(Effect.forever(limiter.execute(call, {
              signal: (exit) =>
                Exit.isSuccess(exit)
                  ? AdaptiveRateLimiter.signalOf(exit.value.status, exit.value.headers, exit.value.now)
                  : undefined
            })))
        )
        for (let s = 0; s < 10 * 60; s++) yield* TestClock.adjust("1 second")
        yield* Fiber.interruptAll(fibers)
        expect(refused).toBe(0)
        expect(countIn(served, 60_000, 600_000) / 9).toBeGreaterThan(0.9 * 30)
      }))

    it.effect("remaining = 0 waits for the reset; a Retry-After pauses every waiter", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveRateLimiter.make({ name: "reset", maxRate: 100 })
        yield* limiter.observe({ limited: false, quota: { remaining: 0, resetMillis: 7_000 } })
        const start = yield* Clock.currentTimeMillis
        const fiber = yield* Effect.fork(Effect.zipRight(limiter.acquire, Clock.currentTimeMillis))
        yield* TestClock.adjust("6 seconds")
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
        yield* TestClock.adjust("1 second")
        expect((yield* Fiber.join(fiber)) - start).toBe(7_000)

        yield* limiter.observe({ limited: true, retryAfterMillis: 3_000 })
        const at = yield* Clock.currentTimeMillis
        const waiters = yield* Effect.forEach(
          [1, 2, 3],
          () => Effect.fork(Effect.zipRight(limiter.acquire, Clock.currentTimeMillis))
        )
        yield* TestClock.adjust("10 seconds")
        for (const waiter of waiters) expect((yield* Fiber.join(waiter)) - at).toBeGreaterThanOrEqual(3_000)
      }))

    it.effect("a wait beyond maxWait fails at once with RateLimitedError", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveRateLimiter.make({ name: "bounded", maxRate: 1, maxWait: "2 seconds" })
        yield* limiter.observe({ limited: true, retryAfterMillis: 60_000 })
        const exit = yield* Effect.exit(limiter.acquire)
        expect(Exit.isFailure(exit)).toBe(true)
        const error = yield* Effect.flip(limiter.acquire)
        expect(error).toBeInstanceOf(ResilienceError.RateLimitedError)
        expect(Duration.toMillis(error.retryAfter)).toBeGreaterThan(2_000)
      }))
  })

  describe("options and telemetry", () => {
    it.effect("a decrease is recorded on the current span; one episode of 429s logs one line", () =>
      Effect.gen(function*() {
        const exporter = new KeptSpans()
        const tracer = NodeSdk.layer(() => ({
          resource: { serviceName: "adaptive-test" },
          spanProcessor: new SimpleSpanProcessor(exporter)
        }))
        const lines: Array<string> = []
        const logger = Logger.make(({ logLevel, message }) => {
          if (LogLevel.greaterThanEqual(logLevel, LogLevel.Info)) lines.push(String(message))
        })
        const limiter = yield* AdaptiveRateLimiter.make({ name: "traced", maxRate: 10 })
        yield* Effect.gen(function*() {
          const limited = limiter.execute(
            Effect.fail(new ProviderRateLimitedError({ retryAfter: Duration.seconds(5) }))
          )
          yield* Effect.exit(limited.pipe(Effect.withSpan("limited")))
          // the 429s of 20 more calls already in flight, inside the pause
          for (let i = 0; i < 20; i++) yield* limiter.observe({ limited: true, retryAfterMillis: 5_000 })
          yield* Effect.exit(limiter.execute(Effect.succeed("ok")).pipe(Effect.withSpan("after"), Effect.fork))
        }).pipe(Effect.provide(Layer.merge(tracer, Logger.replace(Logger.defaultLogger, logger))))
        const spans = exporter.getFinishedSpans() as ReadonlyArray<ReadableSpan>
        const span = spans.find((s) => s.name === "limited")!
        expect(
          span.events.filter((e) => e.name === Observability.SpanEvents.learnedRateChanged).map((e) => e.attributes)
        )
          .toEqual([{
            [Observability.SpanAttributes.adaptiveRateLimiterName]: "traced",
            [Observability.SpanAttributes.adaptiveRateLimiterRate]: 9,
            [Observability.SpanAttributes.adaptiveRateLimiterReason]: "retry_after"
          }])
        expect(lines).toEqual(["adaptive rate limiter: learned rate lowered"])
      }))

    it.effect("an interrupted waiter hands its slot back", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveRateLimiter.make({ name: "interrupted", maxRate: 1 })
        yield* limiter.acquire
        const waiter = yield* Effect.fork(limiter.acquire)
        yield* TestClock.adjust("100 millis")
        yield* Fiber.interrupt(waiter)
        const next = yield* Effect.fork(Effect.zipRight(limiter.acquire, Clock.currentTimeMillis))
        yield* TestClock.adjust("2 seconds")
        // the slot at 1 s is the next caller's, not lost to the interrupted one
        expect(yield* Fiber.join(next)).toBe(1_000)
      }))

    it.effect("bad options are an InvalidOptionsError naming the option", () =>
      Effect.gen(function*() {
        const cases: Array<[AdaptiveRateLimiter.Options, string]> = [
          [{ name: "x", maxRate: 0 }, "maxRate"],
          [{ name: "x", maxRate: Number.NaN }, "maxRate"],
          [{ name: "x", maxRate: 1, minRate: 2 }, "minRate"],
          [{ name: "x", maxRate: 1, decrease: 1 }, "decrease"],
          [{ name: "x", maxRate: 1, initialRate: 5 }, "initialRate"],
          [{ name: "", maxRate: 1 }, "name"]
        ]
        for (const [options, option] of cases) {
          const error = yield* Effect.flip(AdaptiveRateLimiter.make(options))
          expect(error._tag).toBe("InvalidOptionsError")
          expect(error.option).toBe(option)
        }
      }))

    it.effect("the gauge follows the learned rate", () =>
      Effect.gen(function*() {
        const limiter = yield* AdaptiveRateLimiter.make({ name: "gauged", maxRate: 10 })
        yield* limiter.observe({ limited: true })
        const value = yield* Metric.value(
          Metric.tagged(
            Metric.tagged(
              Metric.tagged(AdaptiveRateLimiter.learnedRate, "policy", "adaptive_rate_limiter"),
              "service",
              "gauged"
            ),
            "operation",
            ""
          )
        )
        expect(value.value).toBeCloseTo(9)
        expect(
          yield* counterValue("resilience_learned_rate_decreases_total", "adaptive_rate_limiter", "gauged", {
            reason: "status_429"
          })
        ).toBe(1)
      }))
  })
})
