/**
 * A resilient `HttpClient`: what an Effect HttpClient adds to survive its
 * upstreams. Each request gets
 *
 * - a timeout per attempt (until the response headers arrive; the attempt is
 *   aborted when it fires),
 * - retries on transport errors, timeouts and the statuses 408, 429, 500,
 *   502, 503 and 504, through core's `Retry`: exponential backoff with
 *   "equal" jitter, and never sooner than the server's `Retry-After`
 *   (delta-seconds or HTTP-date, read by `RetryAfter`) when it sends one,
 * - a circuit breaker per host (`host:port`), so a dead upstream is failed
 *   fast with `CircuitOpenError` instead of being hammered; at most
 *   `maxHosts` of them (1,000), the least recently used idle Closed one
 *   evicted to make room (an Open or busy breaker is never forgotten: past
 *   the bound with none to evict, a new host shares the breaker `overflow`),
 * - and never a retry of a non-idempotent method (POST, PATCH) unless the
 *   request carries an idempotency key header: a retried order must not
 *   become two orders.
 *
 * Order: `retry(breaker(timeout(attempt)))`, with core's `Retry` and
 * `CircuitBreaker`: the same backoff, Retry-After rule, log lines and
 * metrics as every other retry of the project. The breaker sees every attempt
 * (each one is evidence about the host), and an open breaker ends the retry
 * loop at once. 5xx responses, transport errors and timeouts count as breaker
 * failures; 408 and 429 are retried but do not trip it (the host is alive).
 *
 * When retries run out on a retryable status, the last response is returned
 * as is (filter it with `HttpClient.filterStatusOk` as usual). A `Retry-After`
 * longer than `maxRetryAfter` is not waited for: that response is returned at
 * once rather than retried early against the server's wish.
 *
 * ```ts
 * const client = (yield* HttpClient.HttpClient).pipe(yield* ResilientHttpClient.make({ timeout: "2 seconds" }))
 * // or replace the HttpClient service for a whole program:
 * Layer.provide(ResilientHttpClient.layer({ timeout: "2 seconds" }))
 * ```
 *
 * @since 0.1.0
 */
import * as CircuitBreaker from "@effect-resilience/core/CircuitBreaker"
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import { CircuitOpenError, tagOf, TimeoutError } from "@effect-resilience/core/ResilienceError"
import * as Retry from "@effect-resilience/core/Retry"
import * as Timeout from "@effect-resilience/core/Timeout"
import * as validate from "@effect-resilience/core/Validate"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as RetryAfter from "./RetryAfter.js"
import * as StatusSources from "./StatusSources.js"

export {
  /**
   * A request was rejected because its host's breaker is open.
   *
   * @since 0.1.0
   * @category errors
   */
  CircuitOpenError,
  /**
   * An attempt took longer than `timeout`.
   *
   * @since 0.1.0
   * @category errors
   */
  TimeoutError
} from "@effect-resilience/core/ResilienceError"

/**
 * Breaker settings for the per-host breakers (any `CircuitBreaker.Options`
 * except the resource, which is the host).
 *
 * @since 0.1.0
 * @category models
 */
export type BreakerOptions = Omit<CircuitBreaker.Options, "service" | "resource"> & {
  /**
   * The breakers' service name (in metrics and on the status page).
   *
   * @default "http-client"
   */
  readonly service?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Deadline of each attempt (until response headers arrive).
   *
   * @default "10 seconds"
   */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * Retries after the first attempt. `0` disables retries.
   *
   * @default 3
   */
  readonly maxRetries?: number | undefined
  /**
   * First backoff delay (doubled each retry, "equal" jitter: half fixed, half
   * random). A `baseDelay` above `maxDelay` is `maxDelay`.
   *
   * @default "200 millis"
   */
  readonly baseDelay?: Duration.DurationInput | undefined
  /**
   * Largest backoff delay.
   *
   * @default "10 seconds"
   */
  readonly maxDelay?: Duration.DurationInput | undefined
  /**
   * The longest `Retry-After` honoured (core `Retry`'s `maxRetryAfter`); a
   * longer one ends the retries and the response is returned.
   *
   * @default "30 seconds"
   */
  readonly maxRetryAfter?: Duration.DurationInput | undefined
  /**
   * Statuses retried.
   *
   * @default [408, 429, 500, 502, 503, 504]
   */
  readonly retryOn?: ReadonlyArray<number> | undefined
  /**
   * The header whose presence makes a POST or PATCH safe to retry.
   *
   * @default "idempotency-key"
   */
  readonly idempotencyKeyHeader?: string | undefined
  /**
   * Per-host circuit breakers, or `false` for none.
   *
   * @default { service: "http-client" } with core's breaker defaults
   */
  readonly breaker?: BreakerOptions | false | undefined
  /**
   * The most hosts that keep a breaker of their own (an integer >= 1), so a
   * client that calls many hosts over its life holds bounded memory. To make
   * room, the least recently used breaker that is Closed with no call in
   * flight is dropped (a Closed breaker with no calls pending holds little
   * worth keeping); Open, HalfOpen, Isolated or busy breakers are kept, and
   * when every breaker is one of those a new host shares the breaker
   * `overflow`.
   *
   * @default 1000
   */
  readonly maxHosts?: number | undefined
}

/**
 * A retryable outcome of one attempt (a status in `retryOn`, a transport
 * error, a timeout) as a failure for core's `Retry`, which retries exactly
 * these. It carries what the retry needs (`retryAfter`, read by `Retry` as
 * on any error; the host and reason for `retriesTotal`) and turns back into
 * what it wraps when retries end: the response, or the original error.
 */
class Retryable {
  /** The label of core's retry logs and metrics: the original error's tag, or `RetryableStatus`. */
  readonly _tag: string
  constructor(
    readonly outcome:
      | { readonly _tag: "Response"; readonly response: HttpClientResponse.HttpClientResponse }
      | { readonly _tag: "Error"; readonly error: unknown },
    readonly host: string,
    readonly reason: string,
    readonly retryAfter: Duration.Duration | undefined
  ) {
    this._tag = outcome._tag === "Response" ? "RetryableStatus" : tagOf(outcome.error)
  }
}

/** A host's breaker in `make`'s bounded table. */
interface HostEntry {
  readonly breaker: CircuitBreaker.CircuitBreaker
  /** Calls through this breaker not yet finished: an entry is evicted only at 0. */
  inFlight: number
  /** Its StatusSources registration, closed when the entry is evicted. */
  readonly registration: Scope.CloseableScope | undefined
}

const unwrap = (retryable: Retryable) =>
  retryable.outcome._tag === "Response"
    ? Effect.succeed(retryable.outcome.response)
    : Effect.fail(retryable.outcome.error)

/**
 * `resilience_http_client_retries_total`: retries made, labelled
 * `policy="http_client"`, `service` (the client's service), `operation`
 * (`request`), `host` and `reason` (a status code, `Transport` or
 * `TimeoutError`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const retriesTotal: Metric.Metric.Counter<number> = Metric.counter(
  "resilience_http_client_retries_total",
  { description: "Retries made by ResilientHttpClient", incremental: true }
)

const idempotentMethods = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"])

/** `host:port` of an absolute URL (or "unknown"), without allocating a URL object. */
const hostOf = (url: string): string => {
  const scheme = url.indexOf("://")
  if (scheme === -1) return "unknown"
  const start = scheme + 3
  let end = url.length
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i)
    if (c === 47 || c === 63 || c === 35) {
      end = i
      break
    }
  }
  const authority = url.slice(start, end)
  const at = authority.lastIndexOf("@")
  const host = at === -1 ? authority : authority.slice(at + 1)
  // The host names a breaker: one that cannot (empty, longer than a DNS name, spaces or control
  // characters) shares the breaker "unknown" instead of failing the request with a defect.
  return host.length === 0 || host.length > 255 || hasSpaceOrControl(host) ? "unknown" : host
}

const hasSpaceOrControl = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) <= 0x20) return true
  }
  return false
}

/**
 * A configured transform, to apply to any `HttpClient`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResilientHttpClient {
  <E, R>(client: HttpClient.HttpClient.With<E, R>): HttpClient.HttpClient.With<E | TimeoutError | CircuitOpenError, R>
}

/**
 * Build the transform (validating options once). Breakers are created per
 * host on first use and kept while there is room (`maxHosts`); they are
 * registered into `StatusSources` when that service is present, and
 * unregistered when evicted.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<ResilientHttpClient, InvalidOptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const P = "ResilientHttpClient"
    const timeout = yield* Timeout.make({ duration: options.timeout ?? "10 seconds" })
    const maxRetries = yield* validate.nonNegativeInt(P, "maxRetries", options.maxRetries, 3)
    const baseDelay = yield* validate.duration(P, "baseDelay", options.baseDelay, "200 millis")
    const maxDelay = yield* validate.duration(P, "maxDelay", options.maxDelay, "10 seconds")
    const maxRetryAfter = yield* validate.duration(P, "maxRetryAfter", options.maxRetryAfter, "30 seconds", true)
    const maxHosts = yield* validate.positiveInt(P, "maxHosts", options.maxHosts, 1000)
    const retryOn = new Set<number>()
    for (const status of options.retryOn ?? [408, 429, 500, 502, 503, 504]) {
      if (!Number.isInteger(status) || status < 100 || status > 599) {
        return yield* validate.fail(P, "retryOn", options.retryOn, "must be HTTP status codes (100-599)")
      }
      retryOn.add(status)
    }
    const idempotencyKeyHeader = (yield* validate.headerName(
      P,
      "idempotencyKeyHeader",
      options.idempotencyKeyHeader ?? "idempotency-key"
    )).toLowerCase()

    const breakerOptions = options.breaker === false ? undefined : options.breaker ?? {}
    const service = breakerOptions?.service ?? "http-client"
    const userIsFailure = breakerOptions?.isFailure
    const isFailure = (error: unknown): boolean => {
      if (error instanceof Retryable) {
        if (error.outcome._tag === "Response") return error.outcome.response.status >= 500
        error = error.outcome.error
      }
      return userIsFailure === undefined ? true : userIsFailure(error)
    }
    if (breakerOptions !== undefined) {
      // validate the breaker options once, not on the first request
      yield* CircuitBreaker.make({ ...breakerOptions, service, resource: "validation", isFailure })
    }
    const retryLabels = [
      MetricLabel.make("policy", "http_client"),
      MetricLabel.make("service", service),
      MetricLabel.make("operation", "request")
    ]
    const retry = yield* Retry.exponential({
      maxRetries,
      baseDelay: Duration.min(baseDelay, maxDelay),
      maxDelay,
      maxRetryAfter,
      factor: 2,
      jitter: "equal",
      retryOn: (error) => error instanceof Retryable,
      onRetry: ({ error }) => {
        const { host, reason } = error as Retryable
        return Metric.increment(Metric.taggedWithLabels(retriesTotal, [
          ...retryLabels,
          MetricLabel.make("host", host),
          MetricLabel.make("reason", reason)
        ]))
      },
      service,
      operation: "request"
    })
    // The per-host breakers, least recently used first (a Map keeps insertion order: a use re-inserts), at most
    // `maxHosts`; `overflow` is shared by new hosts when none can be evicted. Each entry counts its calls in
    // flight (eviction takes only idle ones) and holds its status-page registration, closed on eviction.
    const hosts = new Map<string, HostEntry>()
    let overflow: HostEntry | undefined
    const sources = yield* Effect.serviceOption(StatusSources.StatusSources)
    const scope = yield* Effect.scope
    const makeEntry = (resource: string): Effect.Effect<HostEntry> =>
      CircuitBreaker.make({ ...breakerOptions, service, resource, isFailure }).pipe(
        Effect.orDie, // validated above
        Effect.flatMap((breaker) => {
          if (sources._tag === "None") {
            return Effect.succeed<HostEntry>({ breaker, inFlight: 0, registration: undefined })
          }
          return Effect.flatMap(Scope.fork(scope, ExecutionStrategy.sequential), (registration) =>
            Effect.as(
              Scope.extend(sources.value.registerBreaker(breaker), registration),
              { breaker, inFlight: 0, registration }
            ))
        })
      )
    // Drop the least recently used idle Closed breaker; false when every one is busy or not Closed. Bounded
    // work: at most `maxHosts` state reads, and only when a new host arrives with the table full.
    const evictOne: Effect.Effect<boolean> = Effect.gen(function*() {
      for (const [host, entry] of hosts) {
        if (entry.inFlight > 0 || (yield* entry.breaker.state) !== "Closed") continue
        hosts.delete(host)
        if (entry.registration !== undefined) yield* Scope.close(entry.registration, Exit.void)
        return true
      }
      return false
    })
    const entryFor = (host: string): Effect.Effect<HostEntry> =>
      Effect.suspend(() => {
        const existing = hosts.get(host)
        if (existing !== undefined) {
          hosts.delete(host)
          hosts.set(host, existing)
          return Effect.succeed(existing)
        }
        return Effect.flatMap(hosts.size < maxHosts ? Effect.succeed(true) : evictOne, (room) => {
          if (!room) {
            return overflow !== undefined
              ? Effect.succeed(overflow)
              : Effect.tap(makeEntry("overflow"), (made) => {
                overflow ??= made
              })
          }
          return Effect.map(makeEntry(host), (made) => {
            // another fiber may have made this host's entry meanwhile: the first one wins
            const raced = hosts.get(host)
            if (raced !== undefined) return raced
            hosts.set(host, made)
            return made
          })
        })
      })

    /** Why an error is worth a retry (the `reason` of `retriesTotal`), or `undefined`. */
    const reasonOf = (error: unknown): string | undefined => {
      if (error instanceof TimeoutError) return "TimeoutError"
      if (error instanceof HttpClientError.RequestError) return error.reason === "Transport" ? "Transport" : undefined
      if (error instanceof HttpClientError.ResponseError) {
        return error.reason === "StatusCode" && retryOn.has(error.response.status)
          ? String(error.response.status)
          : undefined
      }
      return undefined
    }

    const retryAfterOf = (response: HttpClientResponse.HttpClientResponse) =>
      Effect.clockWith((clock) =>
        Effect.succeed(Option.getOrUndefined(RetryAfter.fromHeaders(response.headers, clock.unsafeCurrentTimeMillis())))
      )

    const transform = <E, R>(
      client: HttpClient.HttpClient.With<E, R>
    ): HttpClient.HttpClient.With<E | TimeoutError | CircuitOpenError, R> =>
      HttpClient.transform(client, (effect, request: HttpClientRequest.HttpClientRequest) => {
        const host = hostOf(request.url)
        const attempt = timeout.execute(effect).pipe(
          Effect.matchEffect({
            onSuccess: (response) =>
              retryOn.has(response.status)
                ? Effect.flatMap(retryAfterOf(response), (after) =>
                  Effect.fail(
                    new Retryable({ _tag: "Response", response }, host, String(response.status), after)
                  ))
                : Effect.succeed(response),
            onFailure: (error): Effect.Effect<never, E | TimeoutError | Retryable> => {
              const reason = reasonOf(error)
              if (reason === undefined) return Effect.fail(error)
              if (error instanceof HttpClientError.ResponseError) {
                return Effect.flatMap(
                  retryAfterOf(error.response),
                  (after) => Effect.fail(new Retryable({ _tag: "Error", error }, host, reason, after))
                )
              }
              return Effect.fail(new Retryable({ _tag: "Error", error }, host, reason, undefined))
            }
          })
        )
        const guarded = breakerOptions === undefined
          ? attempt
          : Effect.flatMap(entryFor(host), (entry) =>
            // counted in flight inside the mask, so an interruption cannot leave the count high
            Effect.uninterruptibleMask((restore) => {
              entry.inFlight++
              return Effect.ensuring(
                restore(entry.breaker.execute(attempt)),
                Effect.sync(() => {
                  entry.inFlight--
                })
              )
            }))
        const canRetry = idempotentMethods.has(request.method) || request.headers[idempotencyKeyHeader] !== undefined
        const retried = canRetry ? retry.execute(guarded) : guarded
        return Effect.catchIf(retried, (e): e is Retryable => e instanceof Retryable, unwrap) as Effect.Effect<
          HttpClientResponse.HttpClientResponse,
          E | TimeoutError | CircuitOpenError,
          R
        >
      })
    return transform as ResilientHttpClient
  })

/**
 * Replace the `HttpClient` service with its resilient version. `TimeoutError`
 * and `CircuitOpenError` are folded into `RequestError { reason: "Transport" }`
 * (the original is its `cause`), so the service keeps its type.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<HttpClient.HttpClient, InvalidOptionsError, HttpClient.HttpClient> =>
  Layer.scoped(
    HttpClient.HttpClient,
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const resilient = yield* make(options)
      return HttpClient.transform(resilient(client), (effect, request) =>
        Effect.catchIf(
          effect,
          (e): e is TimeoutError | CircuitOpenError => e instanceof TimeoutError || e instanceof CircuitOpenError,
          (cause) =>
            Effect.fail(
              new HttpClientError.RequestError({ request, reason: "Transport", cause, description: cause.message })
            )
        )) as HttpClient.HttpClient
    })
  )
