/**
 * Floors for the HTTP middleware (used by http-ab.ts with `--server http-ab-server.ts`):
 * `noop-mw` (an HttpApiMiddleware that does nothing) and `noop-mw-headers` (the
 * same appending a constant pre-response handler setting two headers), to
 * tell the cost of the HttpApiMiddleware machinery from the cost of a
 * decision. Other variants are delegated to http-server.ts.
 */
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApp,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { createServer } from "node:http"

const variant = process.argv[2] ?? "noop-mw"
const port = Number(process.argv[3] ?? 3000)
process.on("SIGTERM", () => process.exit(0))

class Noop extends HttpApiMiddleware.Tag<Noop>()("bench/Noop") {}
class Hello extends HttpApiGroup.make("hello").add(HttpApiEndpoint.get("hello", "/hello").addSuccess(Schema.String)) {}
class Api extends HttpApi.make("bench").add(Hello).middleware(Noop) {}

if (variant === "noop-mw" || variant === "noop-mw-headers") {
  const headers = { "ratelimit-policy": "\"client\";q=1000000000;w=1", "ratelimit": "\"client\";r=999999999;t=1" }
  const handler: HttpApp.PreResponseHandler = (_request, response) =>
    Effect.succeed(HttpServerResponse.setHeaders(response, headers))
  const mw = variant === "noop-mw" ? Effect.void : HttpApp.appendPreResponseHandler(handler)
  const app = HttpApiBuilder.api(Api).pipe(
    Layer.provide(HttpApiBuilder.group(Api, "hello", (h) => h.handle("hello", () => Effect.succeed("hello")))),
    Layer.provide(Layer.succeed(Noop, Noop.of(mw)))
  )
  const live = HttpApiBuilder.serve().pipe(
    Layer.provide(app),
    Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )
  Effect.runFork(
    Layer.launch(Layer.merge(live, Layer.effectDiscard(Effect.sync(() => console.log("listening")))))
  )
} else {
  await import("./http-server.js")
}
