import { Gateway, GatewayConfig } from "@effect-resilience/gateway"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Logger, LogLevel, Scope } from "effect"
import { request } from "./utils/gateway.js"

describe("graceful shutdown", () => {
  it.live(
    "an in-flight slow request completes, new connections are refused, then everything is released",
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        // added first, so it runs last: after everything the gateway holds is released
        const released = yield* Deferred.make<void>()
        yield* Scope.addFinalizer(scope, Deferred.succeed(released, undefined))
        const context = yield* Layer.buildWithScope(
          Gateway.layer(GatewayConfig.make({
            port: 0,
            demoTraffic: 0,
            shutdownTimeout: Duration.seconds(25),
            simulated: { timeout: Duration.seconds(20) }
          })).pipe(
            Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
          ),
          scope
        )
        const { url } = yield* Effect.provide(Gateway.GatewayServer, context)

        // Margins of seconds on every side (rule 4): the slow request takes 5 s,
        // gets 1.5 s to reach the server, and the shutdown timeout is 25 s.
        yield* request(url, "/admin/faults", {
          method: "POST",
          body: { target: "marketdata", kind: "slow-quotes", millis: 5_000 }
        })
        const slow = yield* Effect.fork(request(url, "/marketdata/quote/AAPL"))
        yield* Effect.sleep("1500 millis")

        const started = Date.now()
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        // the listener closes: new connections are refused while the slow request is still running
        const connect = Effect.either(
          Effect.tryPromise(() =>
            fetch(url + "/health", { headers: { connection: "close" }, signal: AbortSignal.timeout(2000) })
          )
        )
        const refused = yield* connect.pipe(
          Effect.tap(() => Effect.sleep("20 millis")),
          Effect.repeat({ until: (result) => result._tag === "Left" })
        )
        expect(refused._tag).toBe("Left")
        expect(slow.unsafePoll()).toBeNull()
        expect(yield* Deferred.isDone(released)).toBe(false)

        const reply = yield* Fiber.join(slow)
        expect(reply.status).toBe(200)
        expect(reply.body.symbol).toBe("AAPL")
        expect(reply.headers.get("connection")).toBe("close")
        yield* Fiber.join(closing)
        expect(yield* Deferred.isDone(released)).toBe(true)
        // it waited for the request (about 3.5 s more), not for the whole shutdown timeout (25 s)
        expect(Date.now() - started).toBeLessThan(15_000)
      }),
    60_000
  )
})
