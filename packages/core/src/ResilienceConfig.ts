/**
 * Per-service-type resilience settings (breaker, retry, bulkhead, timeout, and
 * an optional client-side rate limit),
 * validated by Schema, with the trading gateway's tables as defaults and
 * overrides from code, a JSON document or environment variables.
 *
 * Each section of a profile is built from its policy's options schema
 * (`CircuitBreaker.OptionsSchema`, `Retry.OptionsSchema`,
 * `Bulkhead.OptionsSchema`, `Timeout.OptionsSchema`,
 * `RateLimiter.OptionsSchema`): the same rules and messages as `make`, with
 * durations in the configuration encoding (a unit is required). The
 * environment variables are derived from the profile schema
 * (`environmentVariables`).
 *
 * Reach for this module to decide *how* a service is protected without
 * touching the code that calls it: `Policy.withResilience` reads the profile
 * of a call's service type from the `ResilienceConfig` service.
 *
 * ## Service types and profiles
 *
 * | service type | breaker | retry (retries, base, max, factor, jitter) | bulkhead | timeout | hedged |
 * |---|---|---|---|---|---|
 * | `broker_api` (= `BROKER`, strict) | 5 failures / 60 s | 3, 1 s, 30 s, 2, full | 10 / 20 | 10 s | no |
 * | `market_data` (= `DATA_PROVIDER`, moderate) | 3 / 30 s | 5, 0.5 s, 10 s, 2, full | 20 / 50 | 5 s | reads may be |
 * | `order_execution` | 3 / 120 s | 2, 0.5 s, 5 s, 2, full, only `ConnectionRefusedError` | 5 / 10 | 30 s | never |
 * | `internal` (= `INTERNAL`, relaxed) | 10 / 15 s | 3, 100 ms, 5 s, 2, full | 50 / 100 | 30 s | no |
 *
 * **Hedging** is not a profile setting: a `Hedge` is asked for by the code
 * that knows its operation is idempotent, and placed outermost
 * (`Policy.stack`'s `hedge`). Market-data reads are (the gateway hedges its
 * quotes and bars); an order never is, since a hedged order is two orders.
 *
 * `broker`, `data_provider` and `internal` are the profiles `BROKER`,
 * `DATA_PROVIDER` and `INTERNAL` under service-type names; `internal` is the
 * default service type.
 *
 * **Rate limits.** A profile or a service may also carry `rateLimit`
 * (`tokensPerSecond` > 0, `burstSize` integer >= 1, `maxWait` duration,
 * `mode` `"fail" | "wait"`, each optional). No default profile sets one:
 * unset means "the client's own quota" (a provider's documented limit). The
 * provider clients read it with `resolveRateLimit`; `Policy.withResilience`
 * ignores it.
 *
 * **Attempts vs retries.** The seeds' `max_attempts: 3` sits beside a comment
 * "will retry up to 3 times" and the PRD's `max_retries (default 3)`: here the
 * number is `maxRetries`, the retries *after* the first call (so up to 4
 * calls). There is one name, `maxRetries`, in code, JSON and the environment.
 *
 * **order_execution retries only pre-send errors.** Placing an order is not
 * idempotent at this layer: after a timeout or a reset connection the order
 * may have reached the broker, and a blind resend can double it. Its profile
 * therefore retries only errors tagged `ConnectionRefusedError` (nothing left
 * the process); any other failure surfaces at once and the broker client
 * resolves it (look the order up by client order id before any resend).
 *
 * ## Sources, lowest to highest precedence
 *
 * 1. the defaults above;
 * 2. the `Input` given to `layer` / `make` / `load`;
 * 3. `RESILIENCE_CONFIG_JSON`: a JSON document of the same shape as `Input`;
 * 4. one environment variable per setting of a service type:
 *    `RESILIENCE_<SERVICE_TYPE>_<SETTING>`, e.g.
 *    `RESILIENCE_BROKER_API_FAILURE_THRESHOLD=5`,
 *    `RESILIENCE_MARKET_DATA_TIMEOUT="5 seconds"`,
 *    `RESILIENCE_ORDER_EXECUTION_RETRY_ON=ConnectionRefusedError,DnsError`.
 *    Settings: `FAILURE_THRESHOLD RESET_TIMEOUT FAILURE_RATE_THRESHOLD
 *    SLOW_CALL_RATE_THRESHOLD SLOW_CALL_DURATION WINDOW_TYPE WINDOW_SIZE
 *    MINIMUM_CALLS RESET_BACKOFF_FACTOR MAX_RESET_TIMEOUT HALF_OPEN_MAX_PROBES
 *    SUCCESS_THRESHOLD MAX_RETRIES BASE_DELAY MAX_DELAY BACKOFF_FACTOR JITTER
 *    RETRY_ON MAX_CONCURRENT MAX_WAITING ACQUIRE_TIMEOUT TIMEOUT
 *    RATE_LIMIT_TOKENS_PER_SECOND RATE_LIMIT_BURST_SIZE RATE_LIMIT_MAX_WAIT
 *    RATE_LIMIT_MODE`, plus
 *    `RESILIENCE_DEFAULT_SERVICE_TYPE`. Every service type known from the
 *    defaults, the input or the JSON is read. Per-service-name overrides
 *    (`services`) come from code or JSON only.
 *
 * Durations are written with a unit (`"10 seconds"`, `"10s"`, `"500ms"`,
 * `"2 minutes"`) or given as a `Duration` in code. A bare number is rejected:
 * the seeds count seconds and Effect counts milliseconds, and guessing wrong
 * turns a 10 s timeout into 10 ms. `jitter` is `"full" | "equal" |
 * "decorrelated" | "none"`, or the seeds' `true` (= full) / `false` (= none).
 *
 * ## Errors
 *
 * Every invalid value (zero, negative, NaN, a bare-number duration, `maxDelay`
 * below `baseDelay`, an unknown jitter or setting, malformed JSON, a service
 * naming an unknown service type) fails with one `ResilienceConfigError`
 * listing every broken rule, each named by the key to fix: the environment
 * variable's name for env input, the dotted path (and `RESILIENCE_CONFIG_JSON`)
 * for JSON input. A typed error rather than Effect's `ConfigError` because the
 * same validation serves code input, which has no Config path, and because a
 * caller can `catchTag` it.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as schemas from "./internal/options.js"
import * as internal from "./internal/resilienceConfig.js"
import { InvalidOptionsError } from "./ResilienceError.js"

const ServiceTypeName = Schema.String.pipe(Schema.pattern(/^[a-z][a-z0-9_]{0,63}$/)).annotations(
  schemas.rule("must be a service type name: lower-case letters, digits and _ (it becomes part of env var names)")
)

/**
 * A duration setting: a string with a unit (`"10 seconds"`, `"10s"`,
 * `"500ms"`) or a `Duration`, finite and > 0 (the rule of the policies'
 * duration options, in the configuration encoding: a bare number is
 * refused). Encodes to `"<n> millis"`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DurationSetting: Schema.Schema<Duration.Duration, string | Duration.Duration> = schemas.durationSetting(
  schemas.PositiveDuration
)

/**
 * Retry jitter: `"full"` (uniform in [0, d]), `"equal"` ([d/2, d]),
 * `"decorrelated"`, `"none"`; the seeds' `true` / `false` decode to `"full"` /
 * `"none"`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Jitter: Schema.Schema<
  "full" | "equal" | "decorrelated" | "none",
  "full" | "equal" | "decorrelated" | "none" | boolean
> = schemas.JitterSetting

// Each section is built from its policy's options schema (`CircuitBreaker.OptionsSchema`, …): every data option but
// the names is a setting, under the same rule; a profile requires the settings its tables always give.
const breakerOptions = schemas.CircuitBreakerOptions.from.fields
const breakerFields = {
  ...schemas.optionalSettings(breakerOptions, ["service", "resource"]),
  // config text has no Infinity (the code-only "rule off"): the rule's integers only, with the same message
  failureThreshold: schemas.PositiveInt,
  resetTimeout: schemas.setting(breakerOptions.resetTimeout)
}

const retryOptions = schemas.RetryOptions.from.fields
const retryFields = {
  // `maxRetryAfter` stays a code option: the provider clients build their retries from the seeds' table alone
  ...schemas.optionalSettings(retryOptions, ["service", "operation", "maxRetryAfter"]),
  maxRetries: schemas.setting(retryOptions.maxRetries),
  baseDelay: schemas.setting(retryOptions.baseDelay),
  maxDelay: schemas.setting(retryOptions.maxDelay),
  factor: schemas.setting(retryOptions.factor),
  jitter: schemas.JitterSetting,
  // `retryOn` in code also takes predicates and error classes; configuration names error tags
  retryOn: Schema.optionalWith(
    Schema.Array(schemas.Name).annotations(schemas.rule("must be a list of error tags")),
    { exact: true }
  )
}

const bulkheadOptions = schemas.BulkheadOptions.fields
const bulkheadFields = {
  ...schemas.optionalSettings(bulkheadOptions, ["name"]),
  maxConcurrent: schemas.setting(bulkheadOptions.maxConcurrent),
  maxWaiting: schemas.setting(bulkheadOptions.maxWaiting)
}

// What a provider client applies of a rate limit (`cost`, `global` and `windows` stay code options).
const rateLimitFields = schemas.optionalSettings(schemas.RateLimiterOptions.from.fields, [
  "name",
  "cost",
  "global",
  "windows"
])

/**
 * Circuit-breaker settings of a profile: the consecutive-failure rule
 * (`failureThreshold`, `resetTimeout`) and the optional rate rules of
 * `CircuitBreaker.Options`, unset meaning the breaker's own default.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BreakerSettings = Schema.Struct(breakerFields).pipe(Schema.filter(schemas.circuitBreakerChecks))

/**
 * @since 0.1.0
 * @category models
 */
export interface BreakerSettings extends Schema.Schema.Type<typeof BreakerSettings> {}

/**
 * Retry settings of a profile: `maxRetries` retries after the first call,
 * exponential delays from `baseDelay` by `factor` capped at `maxDelay`
 * (which must be >= `baseDelay`), jittered; `retryOn` is the whitelist of
 * error tags (unset: every error except the policies' own rejections).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RetrySettings = Schema.Struct(retryFields).pipe(Schema.filter(schemas.retryChecks))

/**
 * @since 0.1.0
 * @category models
 */
export interface RetrySettings extends Schema.Schema.Type<typeof RetrySettings> {}

/**
 * Bulkhead settings of a profile; `acquireTimeout` unset means a waiting
 * call waits until a permit frees (bounded by `maxWaiting`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const BulkheadSettings = Schema.Struct(bulkheadFields)

/**
 * @since 0.1.0
 * @category models
 */
export interface BulkheadSettings extends Schema.Schema.Type<typeof BulkheadSettings> {}

/**
 * A client-side quota (token bucket) for a service: `tokensPerSecond` refill,
 * `burstSize` bucket size, `maxWait` the longest a `"wait"`-mode caller waits
 * for a token, `mode` `"wait"` (queue within `maxWait`) or `"fail"` (reject at
 * once). Every field is optional: what is unset keeps the quota the service's
 * client ships with (e.g. a market-data provider's documented quota), and no
 * default profile sets one. Read by the provider clients of
 * `@effect-resilience/clients` (see `resolveRateLimit`); `Policy.withResilience`
 * does not apply it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RateLimitSettings = Schema.Struct(rateLimitFields)

/**
 * @since 0.1.0
 * @category models
 */
export interface RateLimitSettings extends Schema.Schema.Type<typeof RateLimitSettings> {}

/**
 * Everything `withResilience` needs for one service type; `timeout` is per
 * attempt. `rateLimit` (optional) overrides the quota of clients of this
 * service type.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ServiceProfile = Schema.Struct({
  breaker: BreakerSettings,
  retry: RetrySettings,
  bulkhead: BulkheadSettings,
  timeout: schemas.setting(schemas.TimeoutOptions.fields.duration),
  rateLimit: Schema.optionalWith(RateLimitSettings, { exact: true })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface ServiceProfile extends Schema.Schema.Type<typeof ServiceProfile> {}

/**
 * Overrides for one service by name: its service type, and any subset of
 * its profile's settings.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ServiceOverride = Schema.Struct({
  serviceType: Schema.optionalWith(ServiceTypeName, { exact: true }),
  breaker: Schema.optionalWith(Schema.partialWith(Schema.Struct(breakerFields), { exact: true }), { exact: true }),
  retry: Schema.optionalWith(Schema.partialWith(Schema.Struct(retryFields), { exact: true }), { exact: true }),
  bulkhead: Schema.optionalWith(Schema.partialWith(Schema.Struct(bulkheadFields), { exact: true }), {
    exact: true
  }),
  timeout: Schema.optionalWith(schemas.setting(schemas.TimeoutOptions.fields.duration), { exact: true }),
  rateLimit: Schema.optionalWith(RateLimitSettings, { exact: true })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface ServiceOverride extends Schema.Schema.Type<typeof ServiceOverride> {}

/**
 * The whole configuration: profiles by service type, overrides by service
 * name, and the service type used when a call names none.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Settings = Schema.Struct({
  serviceTypes: Schema.Record({ key: ServiceTypeName, value: ServiceProfile }),
  services: Schema.Record({ key: schemas.Name, value: ServiceOverride }),
  defaultServiceType: ServiceTypeName
}).pipe(Schema.filter((settings) => {
  const issues: Array<Schema.FilterIssue> = []
  const known = Object.keys(settings.serviceTypes)
  const unknownType = (name: string) =>
    `must name a configured service type (one of ${known.map((k) => JSON.stringify(k)).join(", ")}), not ${
      JSON.stringify(name)
    }`
  if (settings.serviceTypes[settings.defaultServiceType] === undefined) {
    issues.push({ path: ["defaultServiceType"], message: unknownType(settings.defaultServiceType) })
  }
  for (const [name, override] of Object.entries(settings.services)) {
    const typeName = override.serviceType ?? settings.defaultServiceType
    const base = settings.serviceTypes[typeName]
    if (base === undefined) {
      if (override.serviceType !== undefined) {
        issues.push({ path: ["services", name, "serviceType"], message: unknownType(typeName) })
      }
      continue
    }
    const merged = mergeProfile(base, override)
    const prefix = (issue: Schema.FilterIssue, section: string): Schema.FilterIssue => ({
      ...issue,
      path: ["services", name, section, ...issue.path]
    })
    issues.push(
      ...schemas.retryChecks(merged.retry).map((issue) => prefix(issue, "retry")),
      ...schemas.circuitBreakerChecks(merged.breaker).map((issue) => prefix(issue, "breaker"))
    )
  }
  return issues
}))

/**
 * The validated configuration held by the `ResilienceConfig` service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings extends Schema.Schema.Type<typeof Settings> {}

type DeepPartial<T> = T extends Duration.Duration | ReadonlyArray<any> | string | number | boolean ? T
  : { readonly [K in keyof T]?: DeepPartial<T[K]> | undefined }

/**
 * What `layer`, `make` and `load` accept, and the shape of
 * `RESILIENCE_CONFIG_JSON`: any part of the encoded `Settings`, merged over
 * the defaults. New service types must be complete; `services` entries may
 * be partial.
 *
 * @example
 * ```ts
 * import type { ResilienceConfig } from "@effect-resilience/core"
 *
 * const input: ResilienceConfig.Input = {
 *   serviceTypes: { broker_api: { timeout: "5 seconds", breaker: { failureThreshold: 3 } } },
 *   services: { alpaca: { serviceType: "broker_api", bulkhead: { maxConcurrent: 4 } } }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Input = DeepPartial<Schema.Schema.Encoded<typeof Settings>>

/**
 * A configuration value broke a rule. `key` names what to fix: the
 * environment variable (`RESILIENCE_BROKER_API_FAILURE_THRESHOLD`), or the
 * dotted path (`serviceTypes.broker_api.retry.maxDelay`) with `source`
 * `"RESILIENCE_CONFIG_JSON"` for JSON input. `issues` lists every broken rule;
 * `key` / `value` / `rule` repeat the first.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResilienceConfigError extends Schema.TaggedError<ResilienceConfigError>()("ResilienceConfigError", {
  key: Schema.String,
  source: Schema.String,
  value: Schema.String,
  rule: Schema.String,
  issues: Schema.Array(
    Schema.Struct({ key: Schema.String, source: Schema.String, value: Schema.String, rule: Schema.String })
  )
}) {
  /** @since 0.1.0 */
  override get message(): string {
    const describe = (i: { key: string; source: string; value: string; rule: string }) =>
      `${i.key}${i.source === JSON_VARIABLE ? ` (in ${JSON_VARIABLE})` : ""} = ${i.value}: ${i.rule}`
    return `Invalid resilience configuration: ${this.issues.map(describe).join("; ")}`
  }
}

const configError = (issues: ReadonlyArray<internal.Issue>): ResilienceConfigError => {
  const all = issues.map((i) => ({ key: i.key, source: i.origin, value: i.value, rule: i.rule }))
  const first = all[0]!
  return new ResilienceConfigError({ ...first, issues: all })
}

// ---------------------------------------------------------------------------
// profiles

/**
 * The strict profile for broker APIs; the trading gateway's `broker_api`
 * table.
 *
 * @since 0.1.0
 * @category profiles
 */
export const BROKER: ServiceProfile = {
  breaker: { failureThreshold: 5, resetTimeout: Duration.seconds(60) },
  retry: {
    maxRetries: 3,
    baseDelay: Duration.seconds(1),
    maxDelay: Duration.seconds(30),
    factor: 2,
    jitter: "full"
  },
  bulkhead: { maxConcurrent: 10, maxWaiting: 20 },
  timeout: Duration.seconds(10)
}

/**
 * The moderate profile for market-data providers; the `market_data` table.
 *
 * @since 0.1.0
 * @category profiles
 */
export const DATA_PROVIDER: ServiceProfile = {
  breaker: { failureThreshold: 3, resetTimeout: Duration.seconds(30) },
  retry: {
    maxRetries: 5,
    baseDelay: Duration.millis(500),
    maxDelay: Duration.seconds(10),
    factor: 2,
    jitter: "full"
  },
  bulkhead: { maxConcurrent: 20, maxWaiting: 50 },
  timeout: Duration.seconds(5)
}

/**
 * The relaxed profile for services inside the platform: more failures
 * before tripping, a short open period, fast retries, wide bulkheads.
 *
 * @since 0.1.0
 * @category profiles
 */
export const INTERNAL: ServiceProfile = {
  breaker: { failureThreshold: 10, resetTimeout: Duration.seconds(15) },
  retry: {
    maxRetries: 3,
    baseDelay: Duration.millis(100),
    maxDelay: Duration.seconds(5),
    factor: 2,
    jitter: "full"
  },
  bulkhead: { maxConcurrent: 50, maxWaiting: 100 },
  timeout: Duration.seconds(30)
}

/**
 * Order placement: the `order_execution` table (3 failures / 120 s, 5 / 10,
 * 30 s). Retries only `ConnectionRefusedError`, an error raised before any
 * byte of the order was sent; see the module docs.
 *
 * @since 0.1.0
 * @category profiles
 */
export const ORDER_EXECUTION: ServiceProfile = {
  breaker: { failureThreshold: 3, resetTimeout: Duration.seconds(120) },
  retry: {
    maxRetries: 2,
    baseDelay: Duration.millis(500),
    maxDelay: Duration.seconds(5),
    factor: 2,
    jitter: "full",
    retryOn: ["ConnectionRefusedError"]
  },
  bulkhead: { maxConcurrent: 5, maxWaiting: 10 },
  timeout: Duration.seconds(30)
}

/**
 * The default configuration: the trading gateway's tables (`broker_api`,
 * `market_data`, `order_execution`) and the three profiles as service types
 * (`broker`, `data_provider`, `internal`); `internal` is the default type.
 *
 * @since 0.1.0
 * @category profiles
 */
export const defaults: Settings = {
  serviceTypes: {
    broker_api: BROKER,
    market_data: DATA_PROVIDER,
    order_execution: ORDER_EXECUTION,
    broker: BROKER,
    data_provider: DATA_PROVIDER,
    internal: INTERNAL
  },
  services: {},
  defaultServiceType: "internal"
}

// ---------------------------------------------------------------------------
// resolution

/**
 * A profile with a service's overrides applied, section by section.
 *
 * @since 0.1.0
 * @category resolution
 */
export const mergeProfile = (base: ServiceProfile, override: ServiceOverride): ServiceProfile => {
  const rateLimit = override.rateLimit === undefined
    ? base.rateLimit
    : { ...base.rateLimit, ...override.rateLimit }
  return {
    breaker: override.breaker === undefined ? base.breaker : { ...base.breaker, ...override.breaker },
    retry: override.retry === undefined ? base.retry : { ...base.retry, ...override.retry },
    bulkhead: override.bulkhead === undefined ? base.bulkhead : { ...base.bulkhead, ...override.bulkhead },
    timeout: override.timeout ?? base.timeout,
    ...(rateLimit === undefined ? {} : { rateLimit })
  }
}

/**
 * The service type a call resolves to: the one it names, else the one its
 * service's override names, else `defaultServiceType`.
 *
 * @since 0.1.0
 * @category resolution
 */
export const serviceTypeOf = (
  settings: Settings,
  options: { readonly service: string; readonly serviceType?: string | undefined }
): string => options.serviceType ?? settings.services[options.service]?.serviceType ?? settings.defaultServiceType

/**
 * The profile for a service: its service type's profile with the service's
 * overrides applied. Fails with `InvalidOptionsError` (option `serviceType`)
 * when the service type is not configured.
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolve = (
  settings: Settings,
  options: { readonly service: string; readonly serviceType?: string | undefined }
): Effect.Effect<ServiceProfile, InvalidOptionsError> => {
  const typeName = serviceTypeOf(settings, options)
  const base = settings.serviceTypes[typeName]
  if (base === undefined) {
    return Effect.fail(
      new InvalidOptionsError({
        policy: "withResilience",
        option: "serviceType",
        value: JSON.stringify(typeName),
        rule: `must be a configured service type (one of ${Object.keys(settings.serviceTypes).join(", ")})`
      })
    )
  }
  const override = settings.services[options.service]
  return Effect.succeed(override === undefined ? base : mergeProfile(base, override))
}

/**
 * The rate-limit settings configured for a service: its service type's
 * `rateLimit` with the service's own `rateLimit` merged over it, field by
 * field; `undefined` when neither sets one (the client keeps its own quota).
 * The service type is the one `serviceTypeOf` picks; an unconfigured type
 * contributes nothing.
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolveRateLimit = (
  settings: Settings,
  options: { readonly service: string; readonly serviceType?: string | undefined }
): RateLimitSettings | undefined => {
  const byType = settings.serviceTypes[serviceTypeOf(settings, options)]?.rateLimit
  const byService = settings.services[options.service]?.rateLimit
  if (byType === undefined) return byService
  return byService === undefined ? byType : { ...byType, ...byService }
}

// ---------------------------------------------------------------------------
// loading

const JSON_VARIABLE = "RESILIENCE_CONFIG_JSON"
const ENV_PREFIX = "RESILIENCE"

const envFields = internal.envFieldsOf(ServiceProfile.ast)

/**
 * The environment variables `load` reads for a service type, one per
 * setting of `ServiceProfile` (derived from its schema, so from the
 * policies' options schemas): `name` is `RESILIENCE_<SERVICE_TYPE>_<SETTING>`,
 * `path` where its value goes in the profile. `RESILIENCE_CONFIG_JSON` and
 * `RESILIENCE_DEFAULT_SERVICE_TYPE` are read besides.
 *
 * @example
 * ```ts
 * import { ResilienceConfig } from "@effect-resilience/core"
 *
 * ResilienceConfig.environmentVariables("broker_api")[0]
 * // { name: "RESILIENCE_BROKER_API_FAILURE_THRESHOLD", path: ["breaker", "failureThreshold"] }
 * ```
 *
 * @since 0.2.0
 * @category loading
 */
export const environmentVariables = (
  serviceType: string
): ReadonlyArray<{ readonly name: string; readonly path: ReadonlyArray<string> }> =>
  envFields.map((field) => ({
    name: `${ENV_PREFIX}_${internal.envSegment(serviceType)}_${field.suffix}`,
    path: field.path
  }))

interface Layered {
  readonly merged: Record<string, unknown>
  readonly provenance: Map<string, internal.Provenance>
}

const start = (): Layered => {
  const layered: Layered = { merged: {}, provenance: new Map() }
  // Durations are leaves and valid encoded input: the defaults merge as they are
  internal.mergeInto(
    layered.merged,
    defaults as unknown as Record<string, unknown>,
    [],
    layered.provenance,
    (path, raw) => ({
      origin: "defaults",
      key: internal.pathKey(path),
      raw
    })
  )
  return layered
}

const overlay = (layered: Layered, input: Input): void =>
  internal.mergeInto(layered.merged, input as Record<string, unknown>, [], layered.provenance, (path, raw) => ({
    origin: "layer",
    key: internal.pathKey(path),
    raw
  }))

const finish = (layered: Layered): Effect.Effect<Settings, ResilienceConfigError> => {
  const result = Schema.decodeUnknownEither(Settings, { errors: "all", onExcessProperty: "error" })(layered.merged)
  if (Either.isRight(result)) return Effect.succeed(result.right)
  const seen = new Set<string>()
  const issues: Array<internal.Issue> = []
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(result.left)) {
    const named = internal.nameIssue(issue, layered.merged, layered.provenance)
    const id = `${named.key}\u0000${named.rule}`
    if (seen.has(id)) continue
    seen.add(id)
    issues.push(named)
  }
  return Effect.fail(configError(issues))
}

/**
 * Validates `input` merged over the defaults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: Input = {}): Effect.Effect<Settings, ResilienceConfigError> =>
  Effect.suspend(() => {
    const layered = start()
    if (!internal.isPlainObject(input)) {
      return Effect.fail(
        configError([{ key: "(input)", origin: "layer", value: internal.show(input), rule: "must be an object" }])
      )
    }
    overlay(layered, input)
    return finish(layered)
  })

const readOptional = (key: string): Effect.Effect<Option.Option<string>, ResilienceConfigError> =>
  Effect.mapError(
    Config.option(Config.string(key)),
    (error) => configError([{ key, origin: "env", value: "(unreadable)", rule: String(error) }])
  )

/**
 * Reads the configuration from the current `ConfigProvider` (environment
 * variables by default): the defaults, then `base`, then the JSON document in
 * `RESILIENCE_CONFIG_JSON`, then `RESILIENCE_<SERVICE_TYPE>_<SETTING>`
 * variables. Test with `Effect.withConfigProvider(ConfigProvider.fromMap(…))`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (base: Input = {}): Effect.Effect<Settings, ResilienceConfigError> =>
  Effect.gen(function*() {
    const layered = start()
    overlay(layered, base)
    const json = yield* readOptional(JSON_VARIABLE)
    if (Option.isSome(json)) {
      let parsed: unknown
      try {
        parsed = JSON.parse(json.value)
      } catch (error) {
        return yield* Effect.fail(configError([{
          key: JSON_VARIABLE,
          origin: "env",
          value: internal.show(json.value.length > 80 ? `${json.value.slice(0, 80)}…` : json.value),
          rule: `must be valid JSON (${error instanceof Error ? error.message : String(error)})`
        }]))
      }
      if (!internal.isPlainObject(parsed)) {
        return yield* Effect.fail(configError([{
          key: JSON_VARIABLE,
          origin: "env",
          value: internal.show(parsed),
          rule: "must be a JSON object shaped like ResilienceConfig.Input"
        }]))
      }
      internal.mergeInto(layered.merged, parsed, [], layered.provenance, (path, raw) => ({
        origin: JSON_VARIABLE,
        key: internal.pathKey(path),
        raw
      }))
    }
    const defaultType = yield* readOptional(`${ENV_PREFIX}_DEFAULT_SERVICE_TYPE`)
    if (Option.isSome(defaultType)) {
      internal.mergeInto(
        layered.merged,
        { defaultServiceType: defaultType.value.trim() },
        [],
        layered.provenance,
        () => ({
          origin: "env",
          key: `${ENV_PREFIX}_DEFAULT_SERVICE_TYPE`,
          raw: defaultType.value
        })
      )
    }
    const types = layered.merged["serviceTypes"]
    const typeNames = internal.isPlainObject(types) ? Object.keys(types) : []
    for (const typeName of typeNames) {
      for (const field of envFields) {
        const key = `${ENV_PREFIX}_${internal.envSegment(typeName)}_${field.suffix}`
        const raw = yield* readOptional(key)
        if (Option.isNone(raw)) continue
        const patch: Record<string, unknown> = {}
        let cursor = patch
        for (let i = 0; i < field.path.length - 1; i++) {
          const next: Record<string, unknown> = {}
          cursor[field.path[i]!] = next
          cursor = next
        }
        cursor[field.path[field.path.length - 1]!] = internal.fromEnvText(field.ast, raw.value)
        internal.mergeInto(layered.merged, { serviceTypes: { [typeName]: patch } }, [], layered.provenance, (path) => ({
          origin: "env",
          key: path.length === 2 + field.path.length ? key : internal.pathKey(path),
          raw: raw.value
        }))
      }
    }
    return yield* finish(layered)
  })

// ---------------------------------------------------------------------------
// service

/**
 * The validated configuration of this environment; read by
 * `Policy.withResilience`.
 *
 * @since 0.1.0
 * @category tags
 */
export class ResilienceConfig extends Context.Tag("@effect-resilience/core/ResilienceConfig")<
  ResilienceConfig,
  Settings
>() {}

/**
 * `input` merged over the defaults, validated once when the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (input: Input = {}): Layer.Layer<ResilienceConfig, ResilienceConfigError> =>
  Layer.effect(ResilienceConfig, make(input))

/**
 * The defaults: the trading gateway's tables and the three profiles.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDefault: Layer.Layer<ResilienceConfig> = Layer.succeed(ResilienceConfig, defaults)

/**
 * The configuration from the current `ConfigProvider` (see `load`):
 * defaults, then `RESILIENCE_CONFIG_JSON`, then
 * `RESILIENCE_<SERVICE_TYPE>_<SETTING>` variables.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<ResilienceConfig, ResilienceConfigError> = Layer.effect(
  ResilienceConfig,
  load()
)
