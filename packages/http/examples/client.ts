/**
 * A resilient HttpClient for an upstream quote provider: 2 s per attempt,
 * up to 3 retries honouring Retry-After, a breaker per host, and order
 * placement (a POST) retried only because it carries an Idempotency-Key.
 */
import { ResilientHttpClient } from "@effect-resilience/http"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"

const Quote = Schema.Struct({ symbol: Schema.String, price: Schema.Number })

export const getQuote = (symbol: string) =>
  Effect.gen(function*() {
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
    const response = yield* client.get(`https://quotes.example.com/v1/quotes/${symbol}`)
    return yield* HttpClientResponse.schemaBodyJson(Quote)(response)
  })

export const placeOrder = (clientOrderId: string, symbol: string, quantity: number) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const request = HttpClientRequest.post("https://broker.example.com/v2/orders").pipe(
      // the same key on every retry: the broker deduplicates, so a retry cannot become a second order
      HttpClientRequest.setHeader("Idempotency-Key", clientOrderId),
      HttpClientRequest.bodyUnsafeJson({ symbol, quantity })
    )
    return yield* client.execute(request)
  })

// Replace the HttpClient service for the whole program: every request gets the policies.
export const ClientLive = ResilientHttpClient.layer({
  timeout: "2 seconds",
  maxRetries: 3,
  maxRetryAfter: "20 seconds",
  breaker: { service: "market-data", failureThreshold: 5, resetTimeout: "30 seconds" }
}).pipe(Layer.provide(NodeHttpClient.layerUndici))

// Or wrap one client value, keeping TimeoutError / CircuitOpenError typed:
export const typed = Effect.gen(function*() {
  const resilient = yield* ResilientHttpClient.make({ timeout: "500 millis" })
  const client = resilient(yield* HttpClient.HttpClient)
  return yield* client.get("https://quotes.example.com/v1/status").pipe(
    Effect.catchTags({
      CircuitOpenError: (e) => Effect.succeed(`upstream cut off, back in ${e.retryAfter}`),
      TimeoutError: () => Effect.succeed("upstream too slow")
    })
  )
}).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
