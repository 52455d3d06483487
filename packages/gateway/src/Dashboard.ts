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
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
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

/**
 * The dashboard's routes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const telemetry = yield* Telemetry
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
    yield* router.get(
      "/dashboard/events",
      Effect.sync(() => {
        const init = Stream.fromEffect(
          Effect.map(
            Effect.all({ state: telemetry.state, samples: telemetry.samples }),
            (body) => `retry: 1000\nevent: init\ndata: ${JSON.stringify(body)}\n\n`
          )
        )
        const updates = Stream.fromSchedule(Schedule.spaced(frameInterval)).pipe(
          Stream.mapEffect(() =>
            Effect.map(Effect.all({ state: telemetry.state, samples: telemetry.samples }), ({ samples, state }) =>
              `event: update\ndata: ${JSON.stringify({ state, sample: samples[samples.length - 1] ?? null })}\n\n`)
          )
        )
        const frames = Stream.concat(init, updates).pipe(
          // End the stream when shutdown begins, so the server can close its connection.
          Stream.interruptWhen(Deferred.await(telemetry.shutdown)),
          Stream.map((text) =>
            encoder.encode(text)
          )
        )
        return HttpServerResponse.stream(frames, {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      })
    )
  })
)
