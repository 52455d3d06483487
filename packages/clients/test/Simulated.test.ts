import { Simulated } from "@effect-resilience/clients"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, FastCheck as fc, TestClock } from "effect"

const minute = 60_000
const day = 86_400_000
const steps = { "1m": minute, "5m": 5 * minute, "15m": 15 * minute, "1h": 3_600_000, "1d": day } as const
const timeframes = Object.keys(steps) as Array<keyof typeof steps>
// 2025-12-07T00:00:00Z, the TestClock's "now" in these tests
const now = Date.UTC(2025, 11, 7)

// The old algorithm (every bar of the range, trimmed afterwards), for small ranges only: the reference.
const referenceTimestamps = (step: number, from: number, to: number, limit: number | undefined) => {
  const all: Array<number> = []
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) all.push(t)
  return limit !== undefined && all.length > limit ? all.slice(all.length - limit) : all
}

describe("Simulated market data", () => {
  it.effect.prop(
    "bars: the work is the answer — bars computed = bars returned ≤ min(limit, maxBarsPerCall), whatever the range",
    {
      timeframe: fc.constantFrom(...timeframes),
      // from: absent, or anywhere from 50 years back to a day ahead; to: absent or around now
      fromBack: fc.option(fc.integer({ min: -day, max: 50 * 365 * day }), { freq: 3 }),
      toBack: fc.option(fc.integer({ min: -day, max: 400 * day }), { freq: 3 }),
      limit: fc.option(fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 10_000 })), { freq: 4 })
    },
    ({ fromBack, limit, timeframe, toBack }) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(now)
        const { api, state } = yield* Simulated.makeMarketData()
        const query = {
          from: fromBack === null ? undefined : new Date(now - fromBack),
          to: toBack === null ? undefined : new Date(now - toBack),
          limit: limit ?? undefined
        }
        const before = yield* state.barsGenerated
        const bars = yield* api.bars("AAPL", timeframe, query)
        const generated = (yield* state.barsGenerated) - before
        expect(generated).toBe(bars.length)
        expect(bars.length).toBeLessThanOrEqual(Math.min(limit ?? Infinity, Simulated.maxBarsPerCall))
        // oldest first, on the grid, inside the range
        const step = steps[timeframe]
        for (let i = 1; i < bars.length; i++) {
          expect(bars[i]!.timestamp.getTime() - bars[i - 1]!.timestamp.getTime()).toBe(step)
        }
        if (bars.length > 0) {
          const last = bars[bars.length - 1]!.timestamp.getTime()
          expect(last % step).toBe(0)
          expect(last).toBeLessThanOrEqual(query.to?.getTime() ?? now)
          if (query.from !== undefined) {
            expect(bars[0]!.timestamp.getTime()).toBeGreaterThanOrEqual(query.from.getTime())
          }
        }
      }).pipe(Effect.provide(Simulated.layerFaults())),
    { timeout: 120_000, fastCheck: { numRuns: 50 } }
  )

  it.effect("bars: the same bars as computing the whole range and trimming it (small ranges)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const { api } = yield* Simulated.makeMarketData()
      for (const timeframe of timeframes) {
        const step = steps[timeframe]
        for (const span of [0, 1, 7, 250]) {
          for (const limit of [undefined, 1, 3, 100]) {
            const from = now - span * step - 17_000
            const to = now - 3 * step + 5_000
            const bars = yield* api.bars("MSFT", timeframe, { from: new Date(from), to: new Date(to), limit })
            expect(bars.map((b) => b.timestamp.getTime())).toEqual(referenceTimestamps(step, from, to, limit))
          }
        }
      }
    }).pipe(Effect.provide(Simulated.layerFaults())))

  it.effect("bars: a year of minute bars with limit 1 computes one bar; without a limit, maxBarsPerCall", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const { api, state } = yield* Simulated.makeMarketData()
      const yearAgo = new Date(now - 365 * day)
      const one = yield* api.bars("AAPL", "1m", { from: yearAgo, limit: 1 })
      expect(one).toHaveLength(1)
      expect(yield* state.barsGenerated).toBe(1)
      const capped = yield* api.bars("AAPL", "1m", { from: yearAgo })
      expect(capped).toHaveLength(Simulated.maxBarsPerCall)
      expect(capped[capped.length - 1]!.timestamp.getTime()).toBe(now)
      expect(yield* state.barsGenerated).toBe(1 + Simulated.maxBarsPerCall)
      // an inverted or invalid range is empty, and computes nothing
      expect(yield* api.bars("AAPL", "1m", { from: new Date(now), to: new Date(now - day) })).toEqual([])
      expect(yield* api.bars("AAPL", "1m", { from: new Date(Number.NaN) })).toEqual([])
      expect(yield* state.barsGenerated).toBe(1 + Simulated.maxBarsPerCall)
    }).pipe(Effect.provide(Simulated.layerFaults())))

  it.effect("bars: a large answer lets the event loop run while it is computed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const { api } = yield* Simulated.makeMarketData()
      // macrotasks (what I/O callbacks are) run between the chunks
      let ticks = 0
      let stop = false
      const tick = () => {
        if (stop) return
        ticks++
        setImmediate(tick)
      }
      setImmediate(tick)
      const bars = yield* api.bars("SPY", "1m", { limit: Simulated.maxBarsPerCall })
      stop = true
      expect(bars).toHaveLength(Simulated.maxBarsPerCall)
      expect(ticks).toBeGreaterThanOrEqual(Math.floor(Simulated.maxBarsPerCall / Simulated.barsChunk) - 1)
    }).pipe(Effect.provide(Simulated.layerFaults())))
})

describe("Simulated broker", () => {
  const submission = {
    symbol: "SPY",
    side: "buy" as const,
    qty: 1,
    type: "market" as const,
    timeInForce: "day" as const,
    clientOrderId: "dup"
  }

  it.effect("rejects a client order id it already holds (422 duplicate, as Alpaca) and counts it", () =>
    Effect.gen(function*() {
      const { api, state } = yield* Simulated.makeBrokerApi()
      const first = yield* api.submitOrder(submission)
      const second = yield* Effect.exit(api.submitOrder({ ...submission, qty: 2 }))
      expect(Exit.isFailure(second) && (second.cause as any).error).toMatchObject({
        _tag: "OrderRejectedError",
        duplicate: true,
        clientOrderId: "dup"
      })
      expect(yield* state.orders).toHaveLength(1)
      expect(yield* state.duplicatesRejected).toBe(1)
      const found = yield* api.getOrderByClientOrderId("dup")
      expect(found._tag === "Some" && found.value.id).toBe(first.id)
    }).pipe(Effect.provide(Simulated.layerFaults())))

  it.effect("with rejectDuplicateClientOrderIds: false it books duplicates (a witness for tests)", () =>
    Effect.gen(function*() {
      const { api, state } = yield* Simulated.makeBrokerApi({ rejectDuplicateClientOrderIds: false })
      yield* api.submitOrder(submission)
      yield* api.submitOrder(submission)
      expect((yield* state.orders).filter((o) => o.clientOrderId === "dup")).toHaveLength(2)
      expect(yield* state.duplicatesRejected).toBe(0)
    }).pipe(Effect.provide(Simulated.layerFaults())))
})
