/**
 * A minimal server for section 4, run in a child process of its own:
 * `tsx scripts/bench/http-server.ts <variant> <port>` prints `listening` when
 * ready and serves `GET /hello` → "hello" until killed.
 *
 * Variants: `effect` (HttpApi, no middleware), `effect-ratelimit` (the same
 * with our `RateLimit` middleware over the memory store), `fastify`,
 * `fastify-ratelimit` (`@fastify/rate-limit`, memory store). Limits are far
 * above the load, so every request is allowed and pays the full
 * decision-plus-headers path.
 */
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { createServer } from "node:http"
import * as RateLimiterStore from "../../packages/core/src/RateLimiterStore.js"
import * as RateLimit from "../../packages/http/src/RateLimit.js"

const LIMIT = 1_000_000_000
const variant = process.argv[2] ?? "effect"
const port = Number(process.argv[3] ?? 3000)

class Hello extends HttpApiGroup.make("hello").add(
  HttpApiEndpoint.get("hello", "/hello").addSuccess(Schema.String)
) {}

class PlainApi extends HttpApi.make("bench").add(Hello) {}
class LimitedApi extends HttpApi.make("bench").add(Hello).middleware(RateLimit.Middleware) {}

const serveEffect = (limited: boolean) => {
  const server = NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })
  const app = limited
    ? HttpApiBuilder.api(LimitedApi).pipe(
      Layer.provide(HttpApiBuilder.group(LimitedApi, "hello", (h) => h.handle("hello", () => Effect.succeed("hello")))),
      Layer.provide(RateLimit.layer({ tokensPerSecond: LIMIT, burstSize: LIMIT })),
      Layer.provide(RateLimiterStore.layerMemory())
    )
    : HttpApiBuilder.api(PlainApi).pipe(
      Layer.provide(HttpApiBuilder.group(PlainApi, "hello", (h) => h.handle("hello", () => Effect.succeed("hello"))))
    )
  const live = HttpApiBuilder.serve().pipe(Layer.provide(app), Layer.provide(server))
  Effect.runFork(
    Layer.launch(
      Layer.merge(live, Layer.effectDiscard(Effect.sync(() => console.log("listening"))))
    ).pipe(Effect.tapErrorCause(Effect.logError))
  )
}

const serveFastify = async (limited: boolean) => {
  const { default: Fastify } = await import("fastify")
  const app = Fastify({ logger: false })
  if (limited) {
    const { default: rateLimit } = await import("@fastify/rate-limit")
    await app.register(rateLimit, { max: LIMIT, timeWindow: 1000 })
  }
  app.get("/hello", async () => "hello")
  await app.listen({ port, host: "127.0.0.1" })
  console.log("listening")
}

switch (variant) {
  case "effect":
    serveEffect(false)
    break
  case "effect-ratelimit":
    serveEffect(true)
    break
  case "fastify":
    void serveFastify(false)
    break
  case "fastify-ratelimit":
    void serveFastify(true)
    break
  default:
    console.error(`unknown variant ${variant}`)
    process.exit(2)
}
