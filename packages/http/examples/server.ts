/**
 * An HttpApi server protected by every piece of @effect-resilience/http:
 * rate limiting (per client + global), load shedding and the status page
 * (for Prometheus metrics, add `@effect/opentelemetry` with
 * `@opentelemetry/exporter-prometheus`, as the gateway's `Observability`
 * does). Run: `pnpm exec tsx packages/http/examples/server.ts`,
 * then `curl -i localhost:3000/quotes/AAPL`.
 */
import * as CircuitBreakerRegistry from "@effect-resilience/core/CircuitBreakerRegistry"
import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import { LoadShedding, RateLimit, ResilienceStatus, StatusSources } from "@effect-resilience/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { createServer } from "node:http"

class Quotes extends HttpApiGroup.make("quotes")
  .add(
    HttpApiEndpoint.get("quote", "/quotes/:symbol")
      .setPath(Schema.Struct({ symbol: Schema.String }))
      .addSuccess(Schema.Struct({ symbol: Schema.String, price: Schema.Number }))
  )
  .add(
    // a history request is ten times the work of a quote
    HttpApiEndpoint.get("history", "/history/:symbol")
      .setPath(Schema.Struct({ symbol: Schema.String }))
      .addSuccess(Schema.Array(Schema.Number))
      .annotate(RateLimit.Cost, 10)
  )
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(Schema.String).annotate(RateLimit.Exempt, true))
{}

// The status group is exempt from the API-wide rate limit.
class Api extends HttpApi.make("market")
  .add(Quotes)
  .add(ResilienceStatus.Group.annotate(RateLimit.Exempt, true))
  .middleware(RateLimit.Middleware)
{}

const QuotesLive = HttpApiBuilder.group(Api, "quotes", (handlers) =>
  handlers
    .handle("quote", ({ path }) => Effect.succeed({ symbol: path.symbol, price: 187.5 }))
    .handle("history", () => Effect.succeed([185.1, 186.4, 187.5]))
    .handle("health", () => Effect.succeed("ok")))

const Sources = Layer.mergeAll(CircuitBreakerRegistry.layer, StatusSources.layer)

const ApiLive = HttpApiBuilder.api(Api).pipe(
  Layer.provide([QuotesLive, ResilienceStatus.layer(Api)]),
  // the one line: 20 requests per second per client (bursts of 40), 500 per second in total
  Layer.provide(
    RateLimit.layer({
      api: Api,
      tokensPerSecond: 20,
      burstSize: 40,
      global: { tokensPerSecond: 500 },
      clientKey: { trustedProxies: ["10.0.0.0/8"] }
    })
  ),
  Layer.provide(RateLimiterStore.layerMemory())
)

const ServerLive = HttpApiBuilder.serve().pipe(
  // the other line: at most 200 requests in flight, 100 queued for at most a second, then 503
  Layer.provide(
    LoadShedding.layer({ maxInFlight: 200, maxQueued: 100, queueTimeout: "1 second", exempt: ["/health"] })
  ),
  Layer.provide(ApiLive),
  Layer.provide(Sources),
  Layer.provide(NodeHttpServer.layer(createServer, { port: 3000 }))
)

if (import.meta.url === `file://${process.argv[1]}`) {
  Layer.launch(ServerLive).pipe(NodeRuntime.runMain)
}

export { Api, ServerLive }
