import {
  Bulkhead,
  CircuitBreaker,
  RateLimiter,
  RateLimiterStore,
  ResilienceConfig,
  Retry,
  Timeout
} from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, FastCheck as fc, Schema } from "effect"

// One rule set, two encodings: code takes `Duration.DurationInput` (bare numbers are millis), configuration takes
// text with a unit. The values drawn here are the ones both encodings read the same way (numbers, literals,
// "<n> <unit>" with Effect's unit words, `Duration` values), so a difference in outcome is a difference in rules.

const numbers = fc.oneof(
  fc.integer({ min: -5, max: 2_000_000 }),
  fc.double({ noNaN: false }),
  fc.constantFrom(0, -0, 0.5, 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY)
)
const durations = fc.oneof(
  fc.tuple(fc.integer({ min: -10_000, max: 100_000 }), fc.constantFrom("millis", "seconds", "minutes"))
    .map(([n, unit]) => `${n} ${unit}`),
  fc.constantFrom(Duration.zero, Duration.infinity, Duration.millis(1), Duration.seconds(90))
)
const literals = (...valid: ReadonlyArray<string>) =>
  fc.oneof(fc.constantFrom(...valid), fc.stringMatching(/^[a-z]{0,8}$/))

type Made = Effect.Effect<unknown, { readonly option: string; readonly rule: string }>

interface Row {
  readonly path: ReadonlyArray<string>
  readonly values: fc.Arbitrary<unknown>
  /** what `make` is given besides the value: the same context the profile gives the config loader */
  readonly make: (value: unknown) => Made
  /** what the configuration's encoding adds to the rule's message (jitter's booleans) */
  readonly configSuffix?: string
}

const profile = ResilienceConfig.INTERNAL
const rateLimitBase = { tokensPerSecond: 10, burstSize: 10 }
const withStore = (made: Effect.Effect<unknown, any, RateLimiterStore.RateLimiterStore>): Made =>
  Effect.provide(made, RateLimiterStore.layerMemory())

const breaker = (field: string, values: fc.Arbitrary<unknown>): Row => ({
  path: ["breaker", field],
  values,
  make: (value) => CircuitBreaker.make({ service: "svc", resource: "res", ...profile.breaker, [field]: value })
})
const retry = (field: string, values: fc.Arbitrary<unknown>, configSuffix?: string): Row => ({
  path: ["retry", field],
  values,
  make: (value) => Retry.exponential({ ...profile.retry, [field]: value }),
  ...(configSuffix === undefined ? {} : { configSuffix })
})
const bulkhead = (field: string, values: fc.Arbitrary<unknown>): Row => ({
  path: ["bulkhead", field],
  values,
  make: (value) => Bulkhead.make({ name: "pool", ...profile.bulkhead, [field]: value })
})
const rateLimit = (field: string, values: fc.Arbitrary<unknown>): Row => ({
  path: ["rateLimit", field],
  values,
  make: (value) => withStore(RateLimiter.make({ name: "quota", ...rateLimitBase, [field]: value }))
})

const rows: ReadonlyArray<Row> = [
  // Infinity (the rule off) is code-only: JSON has none, and the environment refuses it (ResilienceConfig.test)
  breaker("failureThreshold", numbers.filter((n) => n !== Number.POSITIVE_INFINITY)),
  breaker("failureRateThreshold", numbers),
  breaker("slowCallRateThreshold", numbers),
  breaker("slowCallDuration", durations),
  breaker("windowType", literals("count", "time")),
  breaker("windowSize", numbers),
  breaker("minimumCalls", numbers),
  breaker("resetTimeout", durations),
  breaker("resetBackoffFactor", numbers),
  breaker("maxResetTimeout", durations),
  breaker("halfOpenMaxProbes", numbers),
  breaker("successThreshold", numbers),
  retry("maxRetries", numbers),
  retry("baseDelay", durations),
  retry("maxDelay", durations),
  retry("factor", numbers),
  retry("jitter", literals("full", "equal", "decorrelated", "none"), " (or true / false)"),
  bulkhead("maxConcurrent", numbers),
  bulkhead("maxWaiting", numbers),
  bulkhead("acquireTimeout", durations),
  {
    path: ["timeout"],
    values: durations,
    make: (value) => Timeout.make({ duration: value as Duration.DurationInput })
  },
  rateLimit("tokensPerSecond", numbers),
  rateLimit("burstSize", numbers),
  rateLimit("mode", literals("fail", "wait")),
  rateLimit("maxWait", durations)
]

// Settings that exist only in configuration: code's `retryOn` also takes predicates and error classes.
const configOnly = ["retry.retryOn"]

const patchAt = (path: ReadonlyArray<string>, value: unknown): Record<string, unknown> => {
  const [section, field] = path
  const base = section === "rateLimit" ? rateLimitBase : {}
  return field === undefined ? { [section!]: value } : { [section!]: { ...base, [field]: value } }
}

const variableOf = (path: ReadonlyArray<string>): string =>
  ResilienceConfig.environmentVariables("internal").find((v) => v.path.join(".") === path.join("."))!.name

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runSync(Effect.either(effect))

describe("one options schema per policy", () => {
  it("every profile setting shared with a policy is checked below (a new setting needs a row here)", () => {
    const settings = ResilienceConfig.environmentVariables("internal").map((v) => v.path.join("."))
    expect(rows.map((row) => row.path.join(".")).sort()).toEqual(
      settings.filter((path) => !configOnly.includes(path)).sort()
    )
  })

  for (const row of rows) {
    const key = row.path.join(".")
    it.prop(`${key}: make and the config loader accept the same values and refuse the rest with the same rule`, [
      row.values
    ], ([value]) => {
      const made = run(row.make(value))
      const input = { serviceTypes: { internal: patchAt(row.path, value) } } as ResilienceConfig.Input
      const fromCode = run(ResilienceConfig.make(input))
      expect(Either.isRight(fromCode)).toBe(Either.isRight(made))
      if (Either.isLeft(made) && Either.isLeft(fromCode)) {
        // the same option is named (a rule between fields may name the other one: maxDelay below baseDelay)
        const section = row.path.length === 2 ? `${row.path[0]}.` : ""
        const option = made.left.option === "duration" ? "timeout" : made.left.option
        expect(fromCode.left.key).toBe(`serviceTypes.internal.${section}${option}`)
        expect(fromCode.left.rule).toBe(made.left.rule + (row.configSuffix ?? ""))
      }
      // the environment's text of the same value, over the same profile
      if (typeof value === "number" || typeof value === "string") {
        const base = row.path[0] === "rateLimit" ? { serviceTypes: { internal: { rateLimit: rateLimitBase } } } : {}
        const fromEnv = run(
          ResilienceConfig.load(base).pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map([[variableOf(row.path), String(value)]])))
          )
        )
        expect(Either.isRight(fromEnv)).toBe(Either.isRight(made))
        if (Either.isLeft(made) && Either.isLeft(fromEnv)) {
          // named by the variable when its own setting broke the rule, by the dotted path of another one otherwise
          const codeKey = Either.isLeft(fromCode) ? fromCode.left.key : ""
          expect(fromEnv.left.key).toBe(
            codeKey === `serviceTypes.internal.${key}` ? variableOf(row.path) : codeKey
          )
          expect(fromEnv.left.rule).toBe(made.left.rule + (row.configSuffix ?? ""))
        }
      }
    })
  }

  it("each policy's OptionsSchema is what its make decodes: the first issue is the error", () => {
    const decode = Schema.decodeUnknownEither(Bulkhead.OptionsSchema)
    expect(Either.isLeft(decode({ name: "pool", maxConcurrent: 0 }))).toBe(true)
    const made = run(Bulkhead.make({ name: "pool", maxConcurrent: 0 }))
    expect(Either.isLeft(made) && [made.left.option, made.left.rule]).toEqual([
      "maxConcurrent",
      "must be an integer >= 1"
    ])
    const decoded = Schema.decodeUnknownSync(Retry.OptionsSchema)({ baseDelay: 250, maxDelay: "2 seconds" })
    expect(decoded.baseDelay).toEqual(Duration.millis(250))
    expect(Either.isLeft(Schema.decodeUnknownEither(CircuitBreaker.OptionsSchema)({ service: "s" }))).toBe(true)
    const nested = run(withStore(RateLimiter.make({ name: "q", tokensPerSecond: 1, global: { tokensPerSecond: -1 } })))
    expect(Either.isLeft(nested) && nested.left.option).toBe("global.tokensPerSecond")
    expect(Either.isLeft(Schema.decodeUnknownEither(Timeout.OptionsSchema)({ duration: "5" }))).toBe(true)
  })

  it("options that are not an object, or a default a rule between fields breaks, are named too", () => {
    const notObject = run(Bulkhead.make(null as unknown as Bulkhead.Options))
    expect(Either.isLeft(notObject) && [notObject.left.option, notObject.left.rule]).toEqual([
      "options",
      "must be an object"
    ])
    const byDefault = run(Retry.exponential({ baseDelay: "2 minutes" }))
    expect(Either.isLeft(byDefault) && [byDefault.left.option, byDefault.left.rule]).toEqual([
      "maxDelay",
      "must be >= baseDelay (2m); unset, it defaults to 1m"
    ])
  })
})

describe("environment variables derived from the profile schema", () => {
  const sections: Record<string, Readonly<Record<string, unknown>>> = {
    breaker: ResilienceConfig.BreakerSettings.from.fields,
    retry: ResilienceConfig.RetrySettings.from.fields,
    bulkhead: ResilienceConfig.BulkheadSettings.fields,
    rateLimit: ResilienceConfig.RateLimitSettings.fields
  }
  const schemaPaths = Object.keys(ResilienceConfig.ServiceProfile.fields).flatMap((name) =>
    sections[name] === undefined ? [name] : Object.keys(sections[name]).map((field) => `${name}.${field}`)
  )

  it("every field of ServiceProfile has exactly one RESILIENCE_<TYPE>_<SETTING> variable, names unique", () => {
    const variables = ResilienceConfig.environmentVariables("market_data")
    expect(variables.map((v) => v.path.join(".")).sort()).toEqual([...schemaPaths].sort())
    expect(new Set(variables.map((v) => v.name)).size).toBe(variables.length)
    for (const v of variables) expect(v.name).toMatch(/^RESILIENCE_MARKET_DATA_[A-Z_]+$/)
    // the names the seeds' documentation and deployments use
    const names = variables.map((v) => v.name.replace("RESILIENCE_MARKET_DATA_", ""))
    for (
      const name of [
        "FAILURE_THRESHOLD",
        "RESET_TIMEOUT",
        "BACKOFF_FACTOR",
        "RESET_BACKOFF_FACTOR",
        "MAX_RETRIES",
        "RETRY_ON",
        "MAX_WAITING",
        "TIMEOUT",
        "RATE_LIMIT_MAX_WAIT",
        "RATE_LIMIT_TOKENS_PER_SECOND"
      ]
    ) expect(names).toContain(name)
  })

  it.effect("every variable round-trips: a profile written as environment text reads back as the same profile", () =>
    Effect.gen(function*() {
      const sample: ResilienceConfig.ServiceProfile = {
        breaker: {
          failureThreshold: 7,
          failureRateThreshold: 0.5,
          slowCallRateThreshold: 0.75,
          slowCallDuration: Duration.seconds(2),
          windowType: "time",
          windowSize: 30,
          minimumCalls: 12,
          resetTimeout: Duration.seconds(20),
          resetBackoffFactor: 1.5,
          maxResetTimeout: Duration.minutes(3),
          halfOpenMaxProbes: 2,
          successThreshold: 3
        },
        retry: {
          maxRetries: 0,
          baseDelay: Duration.millis(250),
          factor: 3,
          jitter: "decorrelated",
          maxDelay: Duration.seconds(4),
          retryOn: ["ConnectionError", "TimeoutError"]
        },
        bulkhead: { maxConcurrent: 6, maxWaiting: 0, acquireTimeout: Duration.millis(1500) },
        timeout: Duration.seconds(8),
        rateLimit: { tokensPerSecond: 0.5, burstSize: 4, mode: "wait", maxWait: Duration.seconds(45) }
      }
      const encoded = Schema.encodeSync(ResilienceConfig.ServiceProfile)(sample) as Record<string, any>
      const env = new Map<string, string>()
      for (const v of ResilienceConfig.environmentVariables("internal")) {
        const [section, field] = v.path
        const value = field === undefined ? encoded[section!] : encoded[section!]?.[field]
        // the sample sets every setting, so that every variable is exercised
        expect(value === undefined || value === null, v.name).toBe(false)
        env.set(v.name, Array.isArray(value) ? value.join(",") : String(value))
      }
      const settings = yield* ResilienceConfig.load().pipe(Effect.withConfigProvider(ConfigProvider.fromMap(env)))
      expect(settings.serviceTypes["internal"]).toEqual(sample)
    }))
})
