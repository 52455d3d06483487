import { Gateway, GatewayConfig } from "@effect-resilience/gateway"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Logger, LogLevel, Scope } from "effect"
import { request } from "./utils/gateway.js"

describe("graceful shutdown", () => {
  it.live("an in-flight slow request completes, new connections are refused, then everything is released", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      // added first, so it runs last: after everything the gateway holds is released
      const released = yield* Deferred.make<void>()
      yield* Scope.addFinalizer(scope, Deferred.succeed(released, undefined))
      const context = yield* Layer.buildWithScope(
        Gateway.layer(GatewayConfig.make({ port: 0, demoTraffic: 0, shutdownTimeout: Duration.seconds(5) })).pipe(
          Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
        ),
        scope
      )
      const { url } = yield* Effect.provide(Gateway.GatewayServer, context)

      yield* request(url, "/admin/faults", {
        method: "POST",
        body: { target: "marketdata", kind: "slow-quotes", millis: 700 }
      })
      const slow = yield* Effect.fork(request(url, "/marketdata/quote/AAPL"))
      yield* Effect.sleep("150 millis")

      const started = Date.now()
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Effect.sleep("100 millis")
      // the listener is closed: a new connection is refused while the slow request is still running
      const refused = yield* Effect.either(
        Effect.tryPromise(() =>
          fetch(url + "/health", { headers: { connection: "close" }, signal: AbortSignal.timeout(2000) })
        )
      )
      expect(refused._tag).toBe("Left")
      expect(yield* Deferred.isDone(released)).toBe(false)

      const reply = yield* Fiber.join(slow)
      expect(reply.status).toBe(200)
      expect(reply.body.symbol).toBe("AAPL")
      expect(reply.headers.get("connection")).toBe("close")
      yield* Fiber.join(closing)
      expect(yield* Deferred.isDone(released)).toBe(true)
      // it waited for the request, not for the whole shutdown timeout
      expect(Date.now() - started).toBeLessThan(3000)
    }))
})
