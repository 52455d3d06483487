/**
 * Test harness: build the whole gateway on a free loopback port inside the
 * test's scope, and talk to it with fetch.
 */
import { Gateway, GatewayConfig } from "@effect-resilience/gateway"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Scope from "effect/Scope"

export type Patch = Parameters<typeof GatewayConfig.make>[0]

/** Start a gateway (port 0, no demo traffic, quiet logs) and return its URL. */
export const startGateway = (patch: Patch = {}): Effect.Effect<string, unknown, Scope.Scope> =>
  Effect.map(
    Layer.build(
      Gateway.layer(GatewayConfig.make({ port: 0, demoTraffic: 0, ...patch })).pipe(
        Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
      )
    ),
    (context) => Effect.runSync(Effect.provide(Gateway.GatewayServer, context)).url
  )

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly body: any
}

/** One request; the body is parsed as JSON when it is JSON. */
export const request = (
  url: string,
  path: string,
  init: { readonly method?: string; readonly body?: unknown; readonly key?: string } = {}
): Effect.Effect<Reply> =>
  Effect.promise(async () => {
    const headers: Record<string, string> = {}
    if (init.body !== undefined) headers["content-type"] = "application/json"
    if (init.key !== undefined) headers["x-api-key"] = init.key
    const res = await fetch(url + path, {
      method: init.method ?? "GET",
      headers,
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      signal: AbortSignal.timeout(20_000)
    })
    const text = await res.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // not JSON
    }
    return { status: res.status, headers: res.headers, body }
  })

/** Poll `check` every 50 ms until it holds (or fail after `timeoutMillis`). */
export const eventually = <A>(
  what: string,
  attempt: Effect.Effect<A>,
  check: (a: A) => boolean,
  timeoutMillis = 10_000
): Effect.Effect<A> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMillis
    while (true) {
      const a = yield* attempt
      if (check(a)) return a
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for: ${what}`))
      yield* Effect.sleep("50 millis")
    }
  })
