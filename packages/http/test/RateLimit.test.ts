import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import * as ResilienceError from "@effect-resilience/core/ResilienceError"
import { ClientKey, RateLimit } from "@effect-resilience/http"
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApp,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, HashMap, Layer, Logger, Option, Schema } from "effect"
import { request, serveApi } from "./utils/harness.js"

class Work extends HttpApiGroup.make("work")
  .add(HttpApiEndpoint.get("hello", "/hello").addSuccess(Schema.String))
  .add(
    HttpApiEndpoint.get("item", "/items/:id").setPath(Schema.Struct({ id: Schema.String })).addSuccess(Schema.String)
      .annotate(RateLimit.Cost, 2)
  )
  .add(HttpApiEndpoint.get("expensive", "/expensive").addSuccess(Schema.String).annotate(RateLimit.Cost, 3))
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(Schema.String).annotate(RateLimit.Exempt, true))
{}

class Api extends HttpApi.make("api").add(Work).middleware(RateLimit.Middleware) {}

const WorkLive = HttpApiBuilder.group(Api, "work", (h) =>
  h.handle("hello", () => Effect.succeed("hi"))
    .handle("item", ({ path }) => Effect.succeed(path.id))
    .handle("expensive", () => Effect.succeed("done"))
    .handle("health", () => Effect.succeed("ok")))

const serve = (options: Omit<RateLimit.Options, "api">) =>
  serveApi(
    HttpApiBuilder.api(Api).pipe(
      Layer.provide(WorkLive),
      Layer.provide(RateLimit.layer({ api: Api, ...options })),
      Layer.provide(RateLimiterStore.layerMemory())
    )
  )

// A slow refill (one token per 1,000 s) makes every number below exact: a
// test would have to stall for seconds to move one by a unit.
const slow = { tokensPerSecond: 0.001 }

describe("RateLimit", () => {
  it.scopedLive("windows: each is a RateLimit-Policy entry, RateLimit names the tightest, a full window rejects", () =>
    Effect.gen(function*() {
      // a bucket of 100 (never the tightest here), 3 per hour and 5 per day
      const url = yield* serve({
        ...slow,
        burstSize: 100,
        windows: [{ limit: 5, per: "1 day" }, { limit: 3, per: "1 hour" }]
      })
      const policy = "\"client\";q=100;w=100000, \"client-1h\";q=3;w=3600, \"client-1d\";q=5;w=86400"
      for (let n = 1; n <= 3; n++) {
        const r = yield* request(`${url}/hello`, { from: "127.0.0.9" })
        expect(r.status).toBe(200)
        expect(r.headers["ratelimit-policy"]).toBe(policy)
        // the hour window has the fewest left; t: seconds to the end of the hour (epoch-aligned)
        expect(r.headers["ratelimit"]).toMatch(new RegExp(`^"client-1h";r=${3 - n};t=\\d+$`))
      }
      const rejected = yield* request(`${url}/hello`, { from: "127.0.0.9" })
      expect(rejected.status).toBe(429)
      expect(rejected.headers["ratelimit"]).toMatch(/^"client-1h";r=0;t=\d+$/)
      const t = Number(/t=(\d+)/.exec(rejected.headers["ratelimit"] as string)![1])
      expect(t).toBeGreaterThan(0)
      expect(t).toBeLessThanOrEqual(3600)
      expect(Number(rejected.headers["retry-after"])).toBe(t)
      expect(rejected.json()).toMatchObject({ _tag: "RateLimitedError", policy: "client", limit: 3, remaining: 0 })
      // another client has its own windows
      expect((yield* request(`${url}/hello`, { from: "127.0.0.10" })).status).toBe(200)
    }))

  it.scopedLive("a burst: exact RateLimit headers on every 200, then 429 + Retry-After + core's RateLimitedError", () =>
    Effect.gen(function*() {
      const url = yield* serve({ ...slow, burstSize: 5 })
      for (let n = 1; n <= 5; n++) {
        const r = yield* request(`${url}/hello`, { from: "127.0.0.2" })
        expect(r.status).toBe(200)
        expect(r.headers["ratelimit-policy"]).toBe("\"client\";q=5;w=5000")
        expect(r.headers["ratelimit"]).toBe(`"client";r=${5 - n};t=${n * 1000}`)
        expect(r.headers["retry-after"]).toBeUndefined()
      }
      const rejected = yield* request(`${url}/hello`, { from: "127.0.0.2" })
      expect(rejected.status).toBe(429)
      expect(rejected.headers["retry-after"]).toBe("1000")
      expect(rejected.headers["ratelimit-policy"]).toBe("\"client\";q=5;w=5000")
      expect(rejected.headers["ratelimit"]).toBe("\"client\";r=0;t=5000")
      expect(rejected.headers["content-type"]).toContain("application/json")
      // the body is core's error (one class for the rejection): the key hashed, retryAfter in exact milliseconds
      // (the live clock moved a little since the first token was taken: ~1,000 s, not a rounded 1000 s), and
      // what Retry honours when a client decodes it
      const body = rejected.json() as Record<string, unknown>
      expect(Object.keys(body).sort()).toEqual(["_tag", "key", "limit", "policy", "remaining", "retryAfter"])
      expect(body).toMatchObject({
        _tag: "RateLimitedError",
        key: RateLimiterStore.hashKey("ip:127.0.0.2"),
        policy: "client",
        limit: 5,
        remaining: 0
      })
      expect(body.retryAfter).toBeGreaterThan(990_000)
      expect(body.retryAfter).toBeLessThanOrEqual(1_000_000)
      const decoded = Schema.decodeUnknownSync(RateLimit.RateLimitedResponse)(body)
      expect(decoded).toBeInstanceOf(ResilienceError.RateLimitedError)
      expect(ResilienceError.retryAfterOf(decoded)).toEqual(Option.some(Duration.millis(body.retryAfter as number)))
    }))

  it.scopedLive("1,000 concurrent requests from one client admit exactly the burst", () =>
    Effect.gen(function*() {
      const url = yield* serve({ ...slow, burstSize: 50 })
      const responses = yield* Effect.all(
        Array.from({ length: 1000 }, () => request(`${url}/hello`, { from: "127.0.0.3" })),
        { concurrency: "unbounded" }
      )
      const statuses = responses.map((r) => r.status)
      expect(statuses.filter((s) => s === 200).length).toBe(50)
      expect(statuses.filter((s) => s === 429).length).toBe(950)
      const remaining = responses.filter((r) => r.status === 200).map((r) => r.headers["ratelimit"]).sort()
      expect(new Set(remaining).size).toBe(50) // each admitted request saw its own decision
    }))

  it.scopedLive("two clients are limited independently", () =>
    Effect.gen(function*() {
      const url = yield* serve({ ...slow, burstSize: 2 })
      const statuses = (from: string) =>
        Effect.forEach([1, 2, 3], () => Effect.map(request(`${url}/hello`, { from }), (r) => r.status))
      expect(yield* statuses("127.0.0.4")).toEqual([200, 200, 429])
      expect(yield* statuses("127.0.0.5")).toEqual([200, 200, 429])
    }))

  it.scopedLive("the global limit binds across clients and is named in the headers", () =>
    Effect.gen(function*() {
      const url = yield* serve({ ...slow, burstSize: 10, global: { tokensPerSecond: 0.001, burstSize: 3 } })
      const results = yield* Effect.forEach(["127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9"], (from) =>
        request(`${url}/hello`, { from }))
      expect(results.map((r) =>
        r.status
      )).toEqual([200, 200, 200, 429])
      expect(results[0].headers["ratelimit-policy"]).toBe("\"client\";q=10;w=10000, \"global\";q=3;w=3000")
      expect(results[0].headers["ratelimit"]).toBe("\"global\";r=2;t=1000")
      expect(results[3].headers["ratelimit"]).toBe("\"global\";r=0;t=3000")
      expect(results[3].json()).toMatchObject({ _tag: "RateLimitedError", policy: "global", limit: 3 })
    }))

  it.scopedLive("a spoofed X-Forwarded-For from an untrusted peer changes nothing", () =>
    Effect.gen(function*() {
      const url = yield* serve({ ...slow, burstSize: 2 })
      const statuses = yield* Effect.forEach([1, 2, 3, 4], (i) =>
        Effect.map(
          request(`${url}/hello`, {
            from: "127.0.0.10",
            headers: { "x-forwarded-for": `198.51.100.${i}`, forwarded: `for=198.51.100.${i}` }
          }),
          (r) => r.status
        ))
      expect(statuses).toEqual([200, 200, 429, 429])
    }))

  it.scopedLive("behind a trusted proxy (127.0.0.1) the right-most untrusted X-Forwarded-For address is the client", () =>
    Effect.gen(function*() {
      const url = yield* serve({ ...slow, burstSize: 1, clientKey: { trustedProxies: ["127.0.0.1", "10.0.0.0/8"] } })
      const status = (xff: string, from = "127.0.0.1") =>
        Effect.map(request(`${url}/hello`, { from, headers: { "x-forwarded-for": xff } }), (r) => r.status)
      expect(yield* status("203.0.113.5, 10.1.1.1")).toBe(200)
      // the same client, whatever it writes to the left
      expect(yield* status("6.6.6.6, 203.0.113.5, 10.1.1.1")).toBe(429)
      expect(yield* status("203.0.113.5")).toBe(429)
      // another client behind the same proxy
      expect(yield* status("203.0.113.6")).toBe(200)
      // an untrusted peer's header is ignored: keyed by 127.0.0.11 itself
      expect(yield* status("203.0.113.7", "127.0.0.11")).toBe(200)
      expect(yield* status("203.0.113.8", "127.0.0.11")).toBe(429)
    }))

  it.scopedLive("malformed, huge or repeated headers give a well-formed response, never a 500", () =>
    Effect.gen(function*() {
      const url = yield* serve({
        ...slow,
        burstSize: 3,
        clientKey: { trustedProxies: ["127.0.0.0/8", "::/0"], apiKeyHeader: "x-api-key" }
      })
      const hostile: Array<Record<string, string | ReadonlyArray<string>>> = [
        { "x-forwarded-for": "not an ip, [::1, 999.1.1.1, ::ffff:zz" },
        { "x-forwarded-for": "1.2.3.4, ".repeat(1500) },
        { "x-forwarded-for": ["1.1.1.1", "2.2.2.2", "garbage"] },
        { "x-forwarded-for": ",,,,,", forwarded: "for=\"unterminated" },
        { "x-api-key": "k".repeat(10_000) },
        { "x-api-key": ["a", "b"] },
        { "x-forwarded-for": "\u00ff\u00fe\t\u0080" }
      ]
      for (const headers of hostile) {
        const r = yield* request(`${url}/hello`, { headers, from: "127.0.0.12" })
        expect([200, 429]).toContain(r.status)
        expect(r.headers["ratelimit"]).toMatch(/^"client";r=\d+;t=\d+$/)
        expect(() => r.json()).not.toThrow()
      }
    }))

  it.scopedLive("per-endpoint cost and exempt endpoints by annotation (static and parameterised paths)", () =>
    Effect.gen(function*() {
      const url = yield* serve({ ...slow, burstSize: 6 })
      const health = yield* request(`${url}/health`, { from: "127.0.0.13" })
      expect(health.status).toBe(200)
      expect(health.headers["ratelimit"]).toBeUndefined()
      const expensive = yield* request(`${url}/expensive?x=1`, { from: "127.0.0.13" })
      expect(expensive.headers["ratelimit"]).toBe("\"client\";r=3;t=3000")
      const item = yield* request(`${url}/items/42`, { from: "127.0.0.13" })
      expect(item.headers["ratelimit"]).toBe("\"client\";r=1;t=5000")
      const rejected = yield* request(`${url}/expensive`, { from: "127.0.0.13" })
      expect(rejected.status).toBe(429)
      expect(rejected.headers["retry-after"]).toBe("2000") // two more tokens, at 1,000 s each
    }))

  it.scopedLive("applied to chosen groups only", () =>
    Effect.gen(function*() {
      class Limited extends HttpApiGroup.make("limited").add(HttpApiEndpoint.get("a", "/a").addSuccess(Schema.String))
        .middleware(RateLimit.Middleware)
      {}
      class Open extends HttpApiGroup.make("open").add(HttpApiEndpoint.get("b", "/b").addSuccess(Schema.String)) {}
      class GroupApi extends HttpApi.make("g").add(Limited).add(Open) {}
      const url = yield* serveApi(
        HttpApiBuilder.api(GroupApi).pipe(
          Layer.provide(HttpApiBuilder.group(GroupApi, "limited", (h) => h.handle("a", () => Effect.succeed("a")))),
          Layer.provide(HttpApiBuilder.group(GroupApi, "open", (h) => h.handle("b", () => Effect.succeed("b")))),
          Layer.provide(RateLimit.layer({ ...slow, burstSize: 1 })),
          Layer.provide(RateLimiterStore.layerMemory())
        )
      )
      expect((yield* request(`${url}/a`)).headers["ratelimit"]).toBe("\"client\";r=0;t=1000")
      expect((yield* request(`${url}/a`)).status).toBe(429)
      const open = yield* request(`${url}/b`)
      expect(open.status).toBe(200)
      expect(open.headers["ratelimit"]).toBeUndefined()
    }))

  it.scopedLive("keys by the principal another middleware provides", () =>
    Effect.gen(function*() {
      class CurrentUser extends Context.Tag("CurrentUser")<CurrentUser, { readonly id: string }>() {}
      class Auth extends HttpApiMiddleware.Tag<Auth>()("Auth", { provides: CurrentUser }) {}
      // RateLimit is declared first so that it runs inside Auth and sees CurrentUser
      class AuthApi extends HttpApi.make("auth").add(Work).middleware(RateLimit.Middleware).middleware(Auth) {}
      const AuthLive = Layer.succeed(
        Auth,
        Effect.map(HttpServerRequest.HttpServerRequest, (request) => ({ id: request.headers["x-user"] ?? "anonymous" }))
      )
      const url = yield* serveApi(
        HttpApiBuilder.api(AuthApi).pipe(
          Layer.provide(HttpApiBuilder.group(AuthApi, "work", (h) =>
            h.handle("hello", () => Effect.succeed("hi"))
              .handle("item", ({ path }) => Effect.succeed(path.id))
              .handle("expensive", () => Effect.succeed("done"))
              .handle("health", () => Effect.succeed("ok")))),
          Layer.provide(AuthLive),
          Layer.provide(
            RateLimit.layer({
              ...slow,
              burstSize: 1,
              clientKey: { principal: ClientKey.principal(CurrentUser, (u) => u.id) }
            })
          ),
          Layer.provide(RateLimiterStore.layerMemory())
        )
      )
      const status = (user: string, from: string) =>
        Effect.map(request(`${url}/hello`, { from, headers: { "x-user": user } }), (r) => r.status)
      expect(yield* status("alice", "127.0.0.20")).toBe(200)
      expect(yield* status("bob", "127.0.0.20")).toBe(200) // same IP, another principal
      expect(yield* status("alice", "127.0.0.21")).toBe(429) // same principal, another IP
    }))

  it.scopedLive("exempt and costed paths are found however the router would match them: /HEALTH, //health, /health/", () =>
    Effect.gen(function*() {
      const url = yield* serve({ ...slow, burstSize: 1 })
      expect((yield* request(`${url}/hello`, { from: "127.0.0.9" })).status).toBe(200)
      expect((yield* request(`${url}/hello`, { from: "127.0.0.9" })).status).toBe(429)
      for (const path of ["/health", "/HEALTH", "//health", "/health/", "/Health//"]) {
        const r = yield* request(`${url}${path}`, { from: "127.0.0.9" })
        expect(r.status, path).toBe(200)
        expect(r.headers["ratelimit"], path).toBeUndefined()
      }
    }))

  it.scopedLive("a failing store lets requests through and is logged once per episode, with a count", () =>
    Effect.gen(function*() {
      const memory = yield* RateLimiterStore.makeMemory()
      let down = true
      const failure = new RateLimiterStore.RateLimiterStoreError({ store: "flaky", reason: "down" })
      const flaky: RateLimiterStore.Service = {
        consume: (r) => down ? Effect.fail(failure) : memory.consume(r),
        peek: (r) => memory.peek(r),
        refund: (r, d) => memory.refund(r, d),
        stats: memory.stats
      }
      const logs: Array<{ level: string; message: string; annotations: Record<string, unknown> }> = []
      const logger = Logger.make(({ annotations, logLevel, message }) => {
        logs.push({
          level: logLevel.label,
          message: Array.isArray(message) ? message.join(" ") : String(message),
          annotations: Object.fromEntries(HashMap.toEntries(annotations))
        })
      })
      const url = yield* serveApi(
        HttpApiBuilder.api(Api).pipe(
          Layer.provide(WorkLive),
          Layer.provide(RateLimit.layer({ api: Api, ...slow, burstSize: 100 })),
          Layer.provide(Layer.succeed(RateLimiterStore.RateLimiterStore, flaky))
        ),
        Logger.replace(Logger.defaultLogger, logger)
      )
      for (let i = 0; i < 30; i++) expect((yield* request(`${url}/hello`)).status).toBe(200)
      down = false
      expect((yield* request(`${url}/hello`)).status).toBe(200)
      down = true
      for (let i = 0; i < 5; i++) expect((yield* request(`${url}/hello`)).status).toBe(200)
      down = false
      expect((yield* request(`${url}/hello`)).status).toBe(200)
      const lines = logs.filter((l) => l.message.startsWith("RateLimit"))
      expect(lines.map((l) => l.level)).toEqual(["WARN", "INFO", "WARN", "INFO"])
      expect(lines[0]!.annotations).toMatchObject({ store: "flaky", reason: "down" })
      expect(lines[1]!.annotations["requestsLetThrough"]).toBe(30)
      expect(lines[3]!.annotations["requestsLetThrough"]).toBe(5)
    }))

  it.effect("rejects invalid options naming the option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(RateLimit.make({ tokensPerSecond: 0 })).pipe(Effect.provide(RateLimiterStore.layerMemory()))
      )
      expect(error.option).toBe("tokensPerSecond")
      const key = yield* Effect.flip(
        Effect.scoped(RateLimit.make({ tokensPerSecond: 1, clientKey: { trustedProxies: ["x"] } })).pipe(
          Effect.provide(RateLimiterStore.layerMemory())
        )
      )
      expect(key.option).toBe("trustedProxies")
    }))

  it.scopedLive("a pre-response handler set by a middleware running earlier is kept beside the RateLimit headers, on 200 and 429", () =>
    Effect.gen(function*() {
      class Tagger extends HttpApiMiddleware.Tag<Tagger>()("Tagger") {}
      class TaggedApi extends HttpApi.make("api").add(Work).middleware(RateLimit.Middleware).middleware(Tagger) {}
      const url = yield* serveApi(
        HttpApiBuilder.api(TaggedApi).pipe(
          Layer.provide(HttpApiBuilder.group(TaggedApi, "work", (h) =>
            h.handle("hello", () => Effect.succeed("hi"))
              .handle("item", ({ path }) => Effect.succeed(path.id))
              .handle("expensive", () => Effect.succeed("done"))
              .handle("health", () => Effect.succeed("ok")))),
          Layer.provide(Layer.succeed(
            Tagger,
            Tagger.of(
              HttpApp.appendPreResponseHandler((_request, response) =>
                Effect.succeed(HttpServerResponse.setHeader(response, "x-tagged", "yes"))
              )
            )
          )),
          Layer.provide(RateLimit.layer({ ...slow, burstSize: 1 })),
          Layer.provide(RateLimiterStore.layerMemory())
        )
      )
      const allowed = yield* request(`${url}/hello`, { from: "127.0.0.2" })
      expect(allowed.status).toBe(200)
      expect(allowed.headers["x-tagged"]).toBe("yes")
      expect(allowed.headers["ratelimit"]).toBe("\"client\";r=0;t=1000")
      const rejected = yield* request(`${url}/hello`, { from: "127.0.0.2" })
      expect(rejected.status).toBe(429)
      expect(rejected.headers["x-tagged"]).toBe("yes")
      expect(rejected.headers["ratelimit-policy"]).toBe("\"client\";q=1;w=1000")
      expect(rejected.headers["ratelimit"]).toBe("\"client\";r=0;t=1000")
      expect(rejected.headers["retry-after"]).toBe("1000")
    }))
})
