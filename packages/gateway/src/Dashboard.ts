/**
 * The live dashboard: a static page (HTML + vanilla JS drawing SVG, no build
 * step, nothing fetched from the network) served from `static/`, fed by
 * server-sent events (`GET /dashboard/events`, one JSON frame every 500 ms)
 * with a JSON snapshot at `GET /dashboard/state` for polling and scripts.
 * `GET /` redirects to `/dashboard`.
 *
 * The routes are added to the HttpApi's router, so the API's middleware
 * (rate limit) and load shedding apply to them as to every route.
 *
 * Event streams are capped: at most `maxEventStreams` open in all (beyond:
 * `503 TooManyStreams`) and `maxEventStreamsPerClient` per client IP
 * (beyond: `429 TooManyStreams`), both with `Retry-After`. Every stream sends
 * the same frame, built once per interval however many streams are open.
 *
 * @since 0.1.0
 */
import * as ClientKey from "@effect-resilience/http/ClientKey"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import type { GatewayConfig } from "./GatewayConfig.js"
import * as HttpErrors from "./HttpErrors.js"
import { Telemetry } from "./Telemetry.js"

const staticDir = new URL("../static/", import.meta.url)

const asset = (name: string): string => Fs.readFileSync(new URL(name, staticDir), "utf8")

/**
 * How often the event stream sends a frame.
 *
 * @since 0.1.0
 * @category constants
 */
export const frameInterval = "500 millis"

// Seconds a refused stream is told to wait (the page's EventSource retries on its own).
const streamRetryAfter = 5

/**
 * The dashboard's routes (`config.server` caps the event streams).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: GatewayConfig) =>
  HttpApiBuilder.Router.use((router) =>
    Effect.gen(function*() {
      const telemetry = yield* Telemetry
      const clientKey = yield* ClientKey.make({ trustedProxies: config.rateLimit.trustedProxies })
      const maxStreams = config.server.maxEventStreams
      const maxPerClient = config.server.maxEventStreamsPerClient
      let open = 0
      const openByClient = new Map<string, number>()
      const html = asset("dashboard.html")
      const js = asset("dashboard.js")
      const css = asset("dashboard.css")
      const cache = { "cache-control": "no-cache" }
      const encoder = new TextEncoder()

      yield* router.get("/", Effect.succeed(HttpServerResponse.redirect("/dashboard", { status: 302 })))
      yield* router.get(
        "/dashboard",
        Effect.succeed(HttpServerResponse.html(html).pipe(HttpServerResponse.setHeaders(cache)))
      )
      yield* router.get(
        "/dashboard/app.js",
        Effect.succeed(HttpServerResponse.text(js, { contentType: "text/javascript; charset=utf-8", headers: cache }))
      )
      yield* router.get(
        "/dashboard/app.css",
        Effect.succeed(HttpServerResponse.text(css, { contentType: "text/css; charset=utf-8", headers: cache }))
      )
      yield* router.get(
        "/dashboard/state",
        Effect.flatMap(
          Effect.all({ state: telemetry.state, samples: telemetry.samples }),
          (body) => HttpServerResponse.json(body, { headers: cache })
        ).pipe(Effect.orDie)
      )
      // One frame per interval for every stream (a frame reads every breaker, bulkhead and metric).
      const initFrame = yield* Effect.cachedWithTTL(
        Effect.map(
          Effect.all({ state: telemetry.state, samples: telemetry.samples }),
          (body) => encoder.encode(`retry: 1000\nevent: init\ndata: ${JSON.stringify(body)}\n\n`)
        ),
        Duration.millis(250)
      )
      const updateFrame = yield* Effect.cachedWithTTL(
        Effect.map(Effect.all({ state: telemetry.state, samples: telemetry.samples }), ({ samples, state }) =>
          encoder.encode(
            `event: update\ndata: ${JSON.stringify({ state, sample: samples[samples.length - 1] ?? null })}\n\n`
          )),
        Duration.millis(250)
      )
      const tooMany = (scope: "client" | "server", limit: number) =>
        HttpErrors.transportErrorResponse(
          new HttpErrors.TooManyStreams({
            scope,
            limit,
            retryAfter: streamRetryAfter,
            message: scope === "client"
              ? `At most ${limit} open event streams per client`
              : `The gateway serves at most ${limit} event streams`
          }),
          scope === "client" ? 429 : 503
        )
      const release = (client: string) =>
        Effect.sync(() => {
          open--
          const n = (openByClient.get(client) ?? 1) - 1
          if (n <= 0) openByClient.delete(client)
          else openByClient.set(client, n)
        })

      yield* router.get(
        "/dashboard/events",
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const client = clientKey.clientIp(request)
          if (open >= maxStreams) {
            return tooMany("server", maxStreams)
          }
          if ((openByClient.get(client) ?? 0) >= maxPerClient) {
            return tooMany("client", maxPerClient)
          }
          open++
          openByClient.set(client, (openByClient.get(client) ?? 0) + 1)
          // The request's scope closes once the response is over (stream ended, client gone, shutdown),
          // whether or not the stream ever started.
          yield* Effect.addFinalizer(() =>
            release(client)
          )
          const updates = Stream.fromSchedule(Schedule.spaced(frameInterval)).pipe(Stream.mapEffect(() => updateFrame))
          const frames = Stream.concat(Stream.fromEffect(initFrame), updates).pipe(
            // End the stream when shutdown begins, so the server can close its connection.
            Stream.interruptWhen(Deferred.await(telemetry.shutdown))
          )
          return HttpServerResponse.stream(frames, {
            contentType: "text/event-stream",
            headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
          })
        })
      )
    })
  )
