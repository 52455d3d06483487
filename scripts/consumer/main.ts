/**
 * The consumer check's program: what a user of the published packages
 * writes, compiled by tsc (NodeNext) in a project outside the workspace that
 * installed the packed tarballs with npm, then run with node. Every step
 * asserts its outcome; any failure exits non-zero.
 *
 * Needs REDIS_URL: a redis-server the driver (check.sh) started.
 */
import { BrokerClient, MarketDataClient, Simulated } from "@effect-resilience/clients"
import { Policy, RateLimiter, RateLimiterStore } from "@effect-resilience/core"
import * as Validate from "@effect-resilience/core/Validate"
import { RateLimit } from "@effect-resilience/http"
import { RedisCircuitBreakerStore, RedisRateLimiterStore } from "@effect-resilience/redis"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Data, Duration, Effect, Either, Fiber, Layer, Option, Schema, Stream } from "effect"
import assert from "node:assert/strict"
import { createServer } from "node:http"

class Flaky extends Data.TaggedError("Flaky")<{ readonly attempt: number }> {}

// 1. withResilience: breaker + retry + bulkhead + timeout from one profile
const resilience = Effect.gen(function*() {
  let flakyCalls = 0
  const flaky = Effect.suspend(() => {
    flakyCalls++
    return flakyCalls < 3 ? Effect.fail(new Flaky({ attempt: flakyCalls })) : Effect.succeed("filled")
  })
  const through = (operation: string) =>
    Policy.withResilience({ service: "consumer", operation, serviceType: "broker_api", retryOn: ["Flaky"] })

  // two failures retried, the third call succeeds
  assert.equal(yield* flaky.pipe(through("place_order")), "filled")
  assert.equal(flakyCalls, 3)

  // a dependency that is down: 1 call + 2 retries trip the breaker (threshold 3), then it rejects at once
  let downCalls = 0
  const down = Effect.suspend(() => {
    downCalls++
    return Effect.fail(new Flaky({ attempt: downCalls }))
  })
  const first = yield* Effect.either(down.pipe(through("cancel_order")))
  assert.ok(Either.isLeft(first) && first.left._tag === "Flaky")
  assert.equal(downCalls, 3)
  const rejected = yield* Effect.either(down.pipe(through("cancel_order")))
  assert.ok(Either.isLeft(rejected) && rejected.left._tag === "CircuitOpenError", String(rejected))
  assert.equal(downCalls, 3)

  // a call slower than the timeout fails with TimeoutError (not retried: not in retryOn)
  const slow = yield* Effect.either(Effect.never.pipe(through("get_positions")))
  assert.ok(Either.isLeft(slow) && slow.left._tag === "TimeoutError", String(slow))

  // the bulkhead admits 1 call and queues none: a second concurrent call is rejected (a profile with a
  // 1 minute timeout, so the held call is still in when the second one comes, however slow the machine)
  const gate = yield* Effect.makeLatch(false)
  const held = yield* Effect.makeLatch(false)
  const account = Policy.withResilience({ service: "consumer", operation: "get_account", serviceType: "internal" })
  const holder = yield* Effect.fork(Effect.zipRight(held.open, gate.await).pipe(account))
  yield* held.await
  const busy = yield* Effect.either(Effect.succeed(1).pipe(account))
  assert.ok(Either.isLeft(busy) && busy.left._tag === "BulkheadRejectedError", String(busy))
  yield* gate.open
  yield* holder.await
}).pipe(
  Effect.provide(Policy.layerFrom({
    serviceTypes: {
      broker_api: {
        breaker: { failureThreshold: 3 },
        retry: { maxRetries: 2, baseDelay: "5 millis", maxDelay: "20 millis" },
        bulkhead: { maxConcurrent: 1, maxWaiting: 0 },
        timeout: "50 millis"
      },
      internal: { bulkhead: { maxConcurrent: 1, maxWaiting: 0 }, timeout: "1 minute" }
    }
  }))
)

// 2. a RateLimiter.layerMemory decision
const memoryLimiter = Effect.gen(function*() {
  const limiter = yield* RateLimiter.RateLimiter
  const one = yield* limiter.consume("client-a")
  const two = yield* limiter.consume("client-a")
  assert.equal(one.allowed, true)
  assert.equal(two.allowed, false)
  assert.ok(Duration.toMillis(two.retryAfter) > 0)
  const invalid = yield* Effect.either(Validate.positiveInt("Consumer", "size", 0, 1))
  assert.ok(Either.isLeft(invalid) && invalid.left._tag === "InvalidOptionsError")
}).pipe(Effect.provide(RateLimiter.layerMemory({ name: "consumer", tokensPerSecond: 0.01, burstSize: 1 })))

// 3. the HttpApi RateLimit middleware on a loopback server: 429 + Retry-After
class Quotes
  extends HttpApiGroup.make("quotes").add(HttpApiEndpoint.get("quote", "/quote").addSuccess(Schema.String))
{}
class Api extends HttpApi.make("api").add(Quotes).middleware(RateLimit.Middleware) {}

const ServerLive = HttpApiBuilder.serve().pipe(
  Layer.provide(
    HttpApiBuilder.api(Api).pipe(
      Layer.provide(
        HttpApiBuilder.group(Api, "quotes", (handlers) => handlers.handle("quote", () => Effect.succeed("ok")))
      ),
      Layer.provide(RateLimit.layer({ api: Api, tokensPerSecond: 0.01, burstSize: 2 })),
      Layer.provide(RateLimiterStore.layerMemory())
    )
  ),
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
)

const httpMiddleware = Effect.scoped(Effect.gen(function*() {
  const context = yield* Layer.build(ServerLive)
  const address = Context.get(context, HttpServer.HttpServer).address
  assert.equal(address._tag, "TcpAddress")
  const url = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}/quote`
  const statuses: Array<number> = []
  let retryAfter: string | null = null
  for (let i = 0; i < 3; i++) {
    const response = yield* Effect.promise(() => fetch(url))
    statuses.push(response.status)
    if (response.status === 429) retryAfter = response.headers.get("retry-after")
    yield* Effect.promise(() => response.arrayBuffer())
  }
  assert.deepEqual(statuses, [200, 200, 429])
  // one token per 100 s: the wait left, in whole seconds (100 unless the requests took over a second)
  assert.ok(retryAfter !== null && /^[0-9]+$/.test(retryAfter), String(retryAfter))
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 100, retryAfter)
}))

// 4. the Redis store against a real redis-server: the state lives in Redis, so a second store sees it
const redisStore = Effect.gen(function*() {
  const url = process.env.REDIS_URL
  assert.ok(url, "REDIS_URL must be set")
  const limiterOn = (store: Layer.Layer<RateLimiterStore.RateLimiterStore, unknown>) =>
    RateLimiter.layer({ name: "consumer-redis", tokensPerSecond: 0.01, burstSize: 2 }).pipe(Layer.provide(store))
  const storeLayer = () => RedisRateLimiterStore.layer({ url, prefix: `consumer-${process.pid}`, onError: "fail" })
  const decide = Effect.flatMap(RateLimiter.RateLimiter, (limiter) => limiter.consume("client-r"))
  const first = yield* Effect.all([decide, decide, decide]).pipe(Effect.provide(limiterOn(storeLayer())))
  assert.deepEqual(first.map((d) => d.allowed), [true, true, false])
  const other = yield* decide.pipe(Effect.provide(limiterOn(storeLayer())))
  assert.equal(other.allowed, false)
})

// 4b. the fleet-wide breaker's store on Redis: a write by one store is read and pushed to another
const redisBreakerStore = Effect.scoped(Effect.gen(function*() {
  const url = process.env.REDIS_URL
  assert.ok(url, "REDIS_URL must be set")
  const prefix = `consumer-${process.pid}:`
  const a = yield* RedisCircuitBreakerStore.make({ url, prefix })
  const b = yield* RedisCircuitBreakerStore.make({ url, prefix })
  const pushed = yield* b.changes("broker/orders")
  const first = yield* Effect.fork(Stream.runHead(pushed))
  const written = yield* a.compareAndSet("broker/orders", 0, "open", "1 minute")
  assert.equal(written._tag, "Written")
  assert.deepEqual(Option.getOrThrow(yield* Fiber.join(first)), { version: 1, value: "open" })
  const read = yield* b.read("broker/orders")
  assert.deepEqual(Option.getOrThrow(read.entry), { version: 1, value: "open" })
}))

// 5. the simulated broker and market-data clients
const clients = Effect.gen(function*() {
  const broker = yield* BrokerClient.BrokerClient
  const data = yield* MarketDataClient.MarketDataClient
  const quote = yield* data.latestQuote("AAPL")
  assert.equal(quote.symbol, "AAPL")
  assert.ok(quote.ask >= quote.bid)
  const order = yield* broker.placeOrder({ symbol: "AAPL", side: "buy", qty: 10, type: "market", timeInForce: "day" })
  assert.equal(order.symbol, "AAPL")
  const book = yield* Simulated.SimulatedBroker
  assert.equal((yield* book.orders).length, 1)
}).pipe(Effect.provide(Simulated.layer()))

const steps = { resilience, memoryLimiter, httpMiddleware, redisStore, redisBreakerStore, clients }

const program = Effect.forEach(
  Object.entries(steps),
  ([name, step]) => Effect.zipRight(step, Effect.sync(() => console.log(`consumer: ${name} ok`))),
  { discard: true }
)

Effect.runPromise(program).then(
  () => console.log("consumer: all steps passed"),
  (error) => {
    console.error("consumer: FAILED", error)
    process.exitCode = 1
  }
)
