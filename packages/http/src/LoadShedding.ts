/**
 * Load shedding for an HTTP server: a server-side bulkhead in front of every
 * request. At most `maxInFlight` requests run at once, up to `maxQueued`
 * more wait (FIFO) for at most `queueTimeout`, and the rest are answered at
 * once with `503 Service Unavailable`, a `Retry-After` header and a JSON
 * `ServiceOverloaded` body, instead of piling up until every request is slow.
 *
 * Reach for `layer` to protect an `HttpApiBuilder.api(...)` server in one
 * line, or for `middleware` with a plain `HttpServer.serve`:
 *
 * ```ts
 * HttpApiBuilder.serve().pipe(
 *   Layer.provide(LoadShedding.layer({ maxInFlight: 200, maxQueued: 100, queueTimeout: "1 second" })),
 *   Layer.provide(MyApiLive)
 * )
 * ```
 *
 * With `adaptive`, the number of requests handled at once is not fixed: it
 * follows the handlers' latency (core's `AdaptiveBulkhead`: AIMD, Gradient2
 * or Vegas), between `adaptive.minLimit` and `maxInFlight`, and a response
 * with status 503 or 504 (the handler shed or timed out itself) counts as a
 * drop.
 *
 * The bulkhead is core's `Bulkhead` (its metrics:
 * `resilience_bulkhead_active` / `_waiting` / `_rejections_total`,
 * labelled `service` = its name), registered into `StatusSources` when that service is
 * present. A permit is held while the handler computes the response (not
 * while the body streams out).
 *
 * A request that trickles its body in would hold its permit while the
 * handler waits for the body: 300 slow clients could take every slot. With
 * `awaitBody`, a request's body is read before it takes a slot; bound that
 * wait with the server's own deadline (Node's `requestTimeout`) and the body
 * with `HttpIncomingMessage.MaxBodySize`.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as AdaptiveBulkhead from "@effect-resilience/core/AdaptiveBulkhead"
import * as Bulkhead from "@effect-resilience/core/Bulkhead"
import { BulkheadRejectedError, InvalidOptionsError, tagOf } from "@effect-resilience/core/ResilienceError"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as validate from "@effect-resilience/core/Validate"
import { normalizePath, requestPath } from "./internal/routePath.js"
import * as StatusSources from "./StatusSources.js"

/**
 * The JSON body of a shed request (status 503). `retryAfter` is the
 * configured `retryAfter`, a `Duration` sent as exact milliseconds like
 * every time in a body of this package (the `Retry-After` header rounds it
 * up to whole seconds); until 0.2.0 the body counted seconds, which core's
 * `ResilienceError.retryAfterOf` would have read as milliseconds.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServiceOverloaded extends Schema.TaggedError<ServiceOverloaded>()("ServiceOverloaded", {
  reason: Schema.Literal("full", "timeout"),
  retryAfter: Schema.DurationFromMillis
}) {
  /** @since 0.1.0 */
  override get message(): string {
    const after = Duration.format(this.retryAfter)
    return this.reason === "full"
      ? `The server is at capacity; retry after ${after}`
      : `The request waited too long for capacity; retry after ${after}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Names the bulkhead in stats, metrics and logs.
   *
   * @default "http-server"
   */
  readonly name?: string | undefined
  /**
   * Requests handled at once.
   *
   * @default 100
   */
  readonly maxInFlight?: number | undefined
  /**
   * Requests waiting for a slot; beyond, a request is shed at once. `0`: no
   * queue.
   *
   * @default maxInFlight
   */
  readonly maxQueued?: number | undefined
  /**
   * The longest a request waits in the queue before it is shed.
   *
   * @default "1 second"
   */
  readonly queueTimeout?: Duration.DurationInput | undefined
  /**
   * The `Retry-After` a shed request is given (rounded up to whole seconds).
   *
   * @default "1 second"
   */
  readonly retryAfter?: Duration.DurationInput | undefined
  /**
   * Paths (without the query) never shed: health and readiness checks. Matched
   * as the router matches them (case-insensitively, ignoring duplicate and
   * trailing slashes), so `/HEALTH` and `/health/` are exempt with `/health`.
   *
   * @default []
   */
  readonly exempt?: ReadonlyArray<string> | undefined
  /**
   * Read the body of a request before it takes a slot, so a client sending
   * its body slowly holds a socket, not a slot. Applies to bodies the
   * platform buffers as text (JSON, `text/*`, forms, or no content type):
   * they are read with `request.text`, which the request caches for the
   * handler's `json` / `text` / `urlParamsBody`. Leave it off when handlers
   * read such bodies as a stream or an `arrayBuffer`, or when a middleware
   * between this one and the handler replaces the request (`request.modify`,
   * e.g. `HttpMiddleware.xForwardedHeaders`): the cached body would not
   * follow the new request.
   *
   * @default false
   */
  readonly awaitBody?: boolean | undefined
  /**
   * Make the limit adaptive: it follows the handlers' latency and drops,
   * from `adaptive.minLimit` up to `maxInFlight` (the ceiling unless
   * `adaptive.maxLimit` is given), with core's `AdaptiveBulkhead` and the
   * algorithm given (`AdaptiveLimit.aimd()`, `gradient2()`, `vegas()`;
   * default Vegas). A response with status 503 or 504 is a drop (and so is
   * a failure the server answers so: `HttpApiError.ServiceUnavailable`, a
   * respondable error), as is a failure `adaptive.isDrop` selects (default:
   * a `TimeoutError`). The
   * options are `AdaptiveBulkhead.Options`' (bad ones are reported as
   * `adaptive.<option>`); the queue is still `maxQueued` and `queueTimeout`.
   *
   * @default undefined: a fixed `maxInFlight`
   */
  readonly adaptive?: AdaptiveOptions | undefined
}

/**
 * The options of an adaptive limit: `AdaptiveBulkhead.Options` but the name
 * and the queue, which are the load shedder's.
 *
 * @since 0.2.0
 * @category models
 */
export type AdaptiveOptions = Omit<AdaptiveBulkhead.Options, "name" | "maxWaiting" | "acquireTimeout">

/**
 * An outcome answered 503 / 504 (a response, or a failure the server turns
 * into one), carried through the adaptive bulkhead as a failure so it is
 * sampled as a drop, then handed back as it was.
 */
class Dropped<E> {
  constructor(readonly exit: Exit.Exit<HttpServerResponse.HttpServerResponse, E>) {}
}
const isDropped = (u: unknown): u is Dropped<unknown> => u instanceof Dropped
const droppedStatus = (status: number) => status === 503 || status === 504

/** `app`, with the outcomes answered 503 / 504 failing as `Dropped`. */
const markDrops = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.matchCauseEffect(app, {
    onSuccess: (response) =>
      droppedStatus(response.status) ? Effect.fail(new Dropped<E>(Exit.succeed(response))) : Effect.succeed(response),
    onFailure: (cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.failCause(cause)
        : Effect.flatMap(
          failureStatus(cause),
          (status): Effect.Effect<never, E | Dropped<E>> =>
            droppedStatus(status) ? Effect.fail(new Dropped<E>(Exit.failCause(cause))) : Effect.failCause(cause)
        )
  })

/**
 * Whether the server answers a failure 503 / 504: `HttpApiError.ServiceUnavailable`
 * (by its tag: the status of other HttpApi errors sits on their schema class,
 * which this package does not reach for), or what the platform makes of the
 * cause (a respondable error). Other errors are drops when `isDrop` says so.
 */
const failureStatus = (cause: Cause.Cause<unknown>): Effect.Effect<number> => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && tagOf(failure.value) === "ServiceUnavailable") return Effect.succeed(503)
  return Effect.map(HttpServerError.causeResponse(cause), ([response]) => response.status)
}

/**
 * A configured load shedder.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadShedder {
  readonly bulkhead: Bulkhead.Bulkhead
  /** Wrap an HttpApp: shed requests are answered 503 without running it. */
  readonly middleware: <E, R>(app: HttpApp.Default<E, R>) => HttpApp.Default<E, R>
}

// Bodies the platform reads as text (HttpApiBuilder: JSON when no content type is given).
const bufferedBody = (request: HttpServerRequest.HttpServerRequest): boolean => {
  if (request.method === "GET" || request.method === "HEAD" || request.method === "OPTIONS") return false
  const headers = request.headers
  if (headers["content-length"] === undefined && headers["transfer-encoding"] === undefined) return false
  const type = (headers["content-type"] ?? "application/json").toLowerCase()
  return type.includes("json") || type.startsWith("text/") || type.includes("x-www-form-urlencoded")
}

const isTimeout = (e: unknown) => tagOf(e) === "TimeoutError"

/**
 * Build a load shedder (validating the options once).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<LoadShedder, InvalidOptionsError> =>
  Effect.gen(function*() {
    const name = yield* validate.printableName("LoadShedding", "name", options.name, "http-server")
    const maxInFlight = yield* validate.positiveInt("LoadShedding", "maxInFlight", options.maxInFlight, 100)
    const maxQueued = yield* validate.nonNegativeInt("LoadShedding", "maxQueued", options.maxQueued, maxInFlight)
    const queueTimeout = yield* validate.duration("LoadShedding", "queueTimeout", options.queueTimeout, "1 second")
    const retryAfter = yield* validate.duration("LoadShedding", "retryAfter", options.retryAfter, "1 second")
    const adaptive = options.adaptive
    const bulkhead: Bulkhead.Bulkhead = adaptive === undefined
      ? yield* Bulkhead.make({ name, maxConcurrent: maxInFlight, maxWaiting: maxQueued, acquireTimeout: queueTimeout })
      : yield* AdaptiveBulkhead.make({
        ...adaptive,
        name,
        maxLimit: adaptive.maxLimit ?? maxInFlight,
        maxWaiting: maxQueued,
        acquireTimeout: queueTimeout,
        isDrop: (e) => isDropped(e) || (adaptive.isDrop ?? isTimeout)(e)
      }).pipe(Effect.mapError((e) =>
        new InvalidOptionsError({ policy: "LoadShedding", option: `adaptive.${e.option}`, value: e.value, rule: e.rule })
      ))
    const retryAfterMillis = Duration.toMillis(retryAfter)
    const seconds = Math.max(1, Math.ceil(retryAfterMillis / 1000))
    const exempt = new Set((options.exempt ?? []).map(normalizePath))
    const shed = (error: BulkheadRejectedError) =>
      HttpServerResponse.unsafeJson(
        { _tag: "ServiceOverloaded", reason: error.reason, retryAfter: retryAfterMillis },
        { status: 503, headers: { "retry-after": String(seconds) } }
      )
    const isRejection = (u: unknown): u is BulkheadRejectedError =>
      u instanceof BulkheadRejectedError && u.bulkhead === name
    const middleware = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => {
      const admitted = adaptive === undefined
        ? bulkhead.execute(app)
        : Effect.catchIf(bulkhead.execute(markDrops(app)), isDropped, (dropped) => dropped.exit as Exit.Exit<any, E>)
      const shedding = Effect.catchIf(admitted, isRejection, (e) => Effect.succeed(shed(e)))
      const guarded = options.awaitBody === true
        ? Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
          bufferedBody(request)
            // A failed read is cached too: the handler sees the same failure when it reads the body.
            ? Effect.zipRight(Effect.ignore(request.text), shedding)
            : shedding)
        : shedding
      if (exempt.size === 0) return guarded as HttpApp.Default<E, R>
      return Effect.flatMap(
        HttpServerRequest.HttpServerRequest,
        (request) => exempt.has(requestPath(request.url)) ? app : guarded
      ) as HttpApp.Default<E, R>
    }
    return { bulkhead, middleware }
  })

/**
 * Shed load on a whole HttpApi server: provide this Layer to
 * `HttpApiBuilder.serve()` (or merge it with your `HttpApiBuilder.api(...)`
 * layer). Registers the bulkhead into `StatusSources` when present.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<never, InvalidOptionsError> =>
  HttpApiBuilder.middleware(
    Effect.tap(make(options), (shedder) => StatusSources.registerBulkhead(shedder.bulkhead)).pipe(
      Effect.map((shedder) => shedder.middleware)
    ) as Effect.Effect<HttpApiBuilder.MiddlewareFn<never>, InvalidOptionsError, Scope.Scope>
  ) as Layer.Layer<never, InvalidOptionsError>

/**
 * Shed load in front of any HttpApp (for `HttpServer.serve(app, middleware)`).
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware = (
  options: Options = {}
): Effect.Effect<<E, R>(app: HttpApp.Default<E, R>) => HttpApp.Default<E, R>, InvalidOptionsError, Scope.Scope> =>
  Effect.map(Effect.tap(make(options), (shedder) => StatusSources.registerBulkhead(shedder.bulkhead)), (s) => s.middleware)
