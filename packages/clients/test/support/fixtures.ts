// Contract fixtures: the providers' documented request shapes and response bodies (test/fixtures/*.json,
// each with the URL of its source), and two ways to serve them: a loopback HTTP server (server.ts) and an
// in-process HttpClient that answers on the fiber's Clock (TestClock-driven pacing tests).
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import type { Recorded, Reply } from "./server.js"

export interface Fixture {
  readonly source: string
  readonly provenance: string
  readonly request: {
    readonly method: string
    readonly path: string
    readonly query?: Readonly<Record<string, string>>
  }
  readonly response: {
    readonly status: number
    readonly headers?: Readonly<Record<string, string>>
    readonly body?: unknown
    readonly text?: string
  }
}

export interface FixtureFile {
  readonly provider: string
  readonly fixtures: Readonly<Record<string, Fixture>>
}

const cache = new Map<string, FixtureFile>()

export const load = (provider: string): FixtureFile => {
  const cached = cache.get(provider)
  if (cached !== undefined) return cached
  const file = JSON.parse(
    fs.readFileSync(new URL(`../fixtures/${provider}.json`, import.meta.url), "utf8")
  ) as FixtureFile
  cache.set(provider, file)
  return file
}

/** A fixture's response as a Reply, `{{name}}` placeholders filled from `vars`. */
export const reply = (
  provider: string,
  name: string,
  vars: Readonly<Record<string, string | number>> = {}
): Reply => {
  const fixture = load(provider).fixtures[name]
  if (fixture === undefined) throw new Error(`no fixture ${provider}/${name}`)
  const fill = (text: string) =>
    text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
      const value = vars[key]
      if (value === undefined) throw new Error(`fixture ${provider}/${name} needs {{${key}}}`)
      return String(value)
    })
  const r = fixture.response
  const headers = r.headers === undefined
    ? undefined
    : Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, fill(v)]))
  const text = r.text !== undefined ? fill(r.text) : r.body === undefined ? "" : fill(JSON.stringify(r.body))
  return { status: r.status, text, ...(headers !== undefined ? { headers } : {}) }
}

/** Every fixture file names its source page. */
export const sources = (provider: string): ReadonlyArray<string> =>
  Object.values(load(provider).fixtures).map((f) => f.source)

/**
 * An HttpClient answered in process by `handler`, which sees the request and the fiber Clock's time:
 * with TestClock, pacing is checked on virtual time and the test costs no real seconds.
 */
export const inProcess = (handler: (request: Recorded, now: number) => Reply) =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.map(Effect.clock, (clock) =>
      HttpClient.make((request) =>
        Effect.sync(() => {
          const url = new URL(request.url)
          for (const [k, v] of request.urlParams) url.searchParams.append(k, v)
          const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
          const recorded: Recorded = {
            method: request.method,
            path: decodeURIComponent(url.pathname),
            query: url.searchParams,
            headers: request.headers,
            body
          }
          const r = handler(recorded, clock.unsafeCurrentTimeMillis())
          const text = r.text ?? (r.json === undefined ? "" : JSON.stringify(r.json))
          return HttpClientResponse.fromWeb(
            request,
            new Response(r.status === 204 ? null : text, {
              status: r.status ?? 200,
              headers: { "content-type": "application/json", ...r.headers }
            })
          )
        })
      ))
  )

/**
 * Run `self` on the TestClock, moving virtual time only to the next scheduled wake-up, and only once the
 * fibers have settled (pending promises resolved): each request goes out at the instant its pacing allowed,
 * however busy the machine.
 */
export const drive = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(self)
    const settle = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
    while ((yield* Fiber.poll(fiber))._tag === "None") {
      for (let i = 0; i < 5; i++) yield* settle
      if ((yield* Fiber.poll(fiber))._tag === "Some") break
      const sleeps = Chunk.toReadonlyArray(yield* TestClock.sleeps())
      if (sleeps.length === 0) continue
      const now = yield* Clock.currentTimeMillis
      yield* TestClock.adjust(Duration.millis(Math.max(0, Math.min(...sleeps) - now)))
    }
    return yield* Fiber.join(fiber)
  })
