// The market-data clients' learned quota (core's AdaptiveRateLimiter) through a real loopback HTTP server:
// the provider's status and headers reach the client's learned rate, read back from its metrics.
import { MarketDataClient, Polygon } from "@effect-resilience/clients"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Metric, Redacted } from "effect"
import { makeServer, type Reply } from "./support/server.js"

const nbbo = { status: "OK", results: { P: 10.2, S: 3, p: 10.1, s: 4, t: 1_700_000_000_000_000_000 } }

/** A series of the Observability scheme for the client's limiter (`policy`, `service`, `operation` ""). */
const seriesValue = (name: string, extra: Record<string, string> = {}) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const all: Record<string, string> = {
      policy: "adaptive_rate_limiter",
      service: "clients/polygon",
      operation: "",
      ...extra
    }
    for (const pair of pairs) {
      if (pair.metricKey.name !== name) continue
      if (
        pair.metricKey.tags.length === Object.keys(all).length &&
        pair.metricKey.tags.every((t) => all[t.key] === t.value)
      ) {
        const state = pair.metricState as unknown as { readonly value?: number; readonly count?: number | bigint }
        return Number(state.value ?? state.count)
      }
    }
    return Number.NaN
  })

const polygonOn = (url: string, rateLimit?: Polygon.Options["policy"]) =>
  Effect.map(
    Layer.build(
      Polygon.layer({ apiKey: Redacted.make("k"), baseUrl: url, plan: "advanced", policy: rateLimit }).pipe(
        Layer.provide(FetchHttpClient.layer)
      )
    ),
    (context) => Context.get(context, MarketDataClient.MarketDataClient)
  )

describe("learned quota (Polygon over loopback)", () => {
  it.scoped("a provider advertising a lower quota than the documented one: the first response sets the learned rate", () =>
    Effect.gen(function*() {
      // Polygon's documented Basic quota is 5 a minute; this one says 3
      const server = yield* makeServer((): Reply => ({
        json: nbbo,
        headers: { "ratelimit-policy": "\"default\";q=3;w=60" }
      }))
      const client = yield* polygonOn(server.url)
      const quote = yield* client.latestQuote("AAPL")
      expect(quote.price).toBeCloseTo(10.15)
      expect(server.requests).toHaveLength(1)
      expect(yield* seriesValue("resilience_learned_rate")).toBeCloseTo(3 / 60)
      expect(yield* seriesValue("resilience_learned_rate_decreases_total", { reason: "headers" }))
        .toBeGreaterThanOrEqual(1)
    }))

  it.scopedLive("a 429 with Retry-After lowers the learned rate and holds the retry back until then", () =>
    Effect.gen(function*() {
      const before = yield* seriesValue("resilience_learned_rate_decreases_total", { reason: "retry_after" })
      let calls = 0
      const server = yield* makeServer((): Reply =>
        ++calls === 1
          ? { status: 429, headers: { "retry-after": "1" }, json: { status: "ERROR", error: "slow down" } }
          : { json: nbbo }
      )
      // a documented quota of 10 a second, so that only the learned one holds the retry back
      const client = yield* polygonOn(server.url, {
        rateLimit: { refill: 10, interval: Duration.seconds(1), burst: 1 }
      })
      const started = Date.now()
      const quote = yield* client.latestQuote("AAPL")
      expect(quote.price).toBeCloseTo(10.15)
      expect(calls).toBe(2)
      // the retry went after the server's second, not before (a generous lower bound: order, not speed)
      expect(Date.now() - started).toBeGreaterThanOrEqual(900)
      expect(yield* seriesValue("resilience_learned_rate_decreases_total", { reason: "retry_after" })).toBe(
        (Number.isNaN(before) ? 0 : before) + 1
      )
      // 10 a second, lowered by one decrease (× 0.9), then one success's small increase
      const rate = yield* seriesValue("resilience_learned_rate")
      expect(rate).toBeLessThan(10)
      expect(rate).toBeGreaterThanOrEqual(9)
    }))
})
