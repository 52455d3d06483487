/**
 * Helpers of `ResilienceConfig`: the duration parser, the environment
 * variable table, layered merging with provenance (which source set which
 * key) and the mapping of Schema issues back to the key a user must fix.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"

/** @internal */
export const DURATION_RULE = "must be a duration > 0 with a unit, e.g. \"10 seconds\", \"10s\" or \"500ms\""

const units: Record<string, number> = {
  ms: 1,
  milli: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1_000,
  sec: 1_000,
  secs: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000
}

const durationPattern = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i

/**
 * Parses "10 seconds", "10s", "1.5 s", "500ms", "2 minutes". A bare number is
 * rejected on purpose: the seeds speak seconds, Effect speaks millis, and a
 * 10 ms broker timeout written as `10` would fail every call.
 *
 * @internal
 */
export const parseDuration = (input: string): Duration.Duration | undefined => {
  const match = durationPattern.exec(input)
  if (match === null) return undefined
  const factor = units[match[2]!.toLowerCase()]
  if (factor === undefined) return undefined
  const millis = Number(match[1]) * factor
  return Number.isFinite(millis) ? Duration.millis(millis) : undefined
}

/** How an environment variable's text becomes a setting. @internal */
export type EnvKind = "int" | "number" | "duration" | "jitter" | "list" | "string"

/** One setting a service type can take from the environment. @internal */
export interface EnvField {
  readonly suffix: string
  readonly path: readonly [string, string] | readonly [string]
  readonly kind: EnvKind
}

/**
 * `RESILIENCE_<SERVICE_TYPE>_<SUFFIX>`: flat names (no BREAKER_/RETRY_
 * segment) because every suffix is unique across the sections; the rate
 * limit's keep a RATE_LIMIT_ segment (`MAX_WAIT` alone reads like the
 * bulkhead's `MAX_WAITING`).
 *
 * @internal
 */
export const envFields: ReadonlyArray<EnvField> = [
  { suffix: "FAILURE_THRESHOLD", path: ["breaker", "failureThreshold"], kind: "int" },
  { suffix: "RESET_TIMEOUT", path: ["breaker", "resetTimeout"], kind: "duration" },
  { suffix: "FAILURE_RATE_THRESHOLD", path: ["breaker", "failureRateThreshold"], kind: "number" },
  { suffix: "SLOW_CALL_RATE_THRESHOLD", path: ["breaker", "slowCallRateThreshold"], kind: "number" },
  { suffix: "SLOW_CALL_DURATION", path: ["breaker", "slowCallDuration"], kind: "duration" },
  { suffix: "WINDOW_TYPE", path: ["breaker", "windowType"], kind: "string" },
  { suffix: "WINDOW_SIZE", path: ["breaker", "windowSize"], kind: "int" },
  { suffix: "MINIMUM_CALLS", path: ["breaker", "minimumCalls"], kind: "int" },
  { suffix: "RESET_BACKOFF_FACTOR", path: ["breaker", "resetBackoffFactor"], kind: "number" },
  { suffix: "MAX_RESET_TIMEOUT", path: ["breaker", "maxResetTimeout"], kind: "duration" },
  { suffix: "HALF_OPEN_MAX_PROBES", path: ["breaker", "halfOpenMaxProbes"], kind: "int" },
  { suffix: "SUCCESS_THRESHOLD", path: ["breaker", "successThreshold"], kind: "int" },
  { suffix: "MAX_RETRIES", path: ["retry", "maxRetries"], kind: "int" },
  { suffix: "BASE_DELAY", path: ["retry", "baseDelay"], kind: "duration" },
  { suffix: "MAX_DELAY", path: ["retry", "maxDelay"], kind: "duration" },
  { suffix: "BACKOFF_FACTOR", path: ["retry", "factor"], kind: "number" },
  { suffix: "JITTER", path: ["retry", "jitter"], kind: "jitter" },
  { suffix: "RETRY_ON", path: ["retry", "retryOn"], kind: "list" },
  { suffix: "MAX_CONCURRENT", path: ["bulkhead", "maxConcurrent"], kind: "int" },
  { suffix: "MAX_WAITING", path: ["bulkhead", "maxWaiting"], kind: "int" },
  { suffix: "ACQUIRE_TIMEOUT", path: ["bulkhead", "acquireTimeout"], kind: "duration" },
  { suffix: "TIMEOUT", path: ["timeout"], kind: "duration" },
  { suffix: "RATE_LIMIT_TOKENS_PER_SECOND", path: ["rateLimit", "tokensPerSecond"], kind: "number" },
  { suffix: "RATE_LIMIT_BURST_SIZE", path: ["rateLimit", "burstSize"], kind: "int" },
  { suffix: "RATE_LIMIT_MAX_WAIT", path: ["rateLimit", "maxWait"], kind: "duration" },
  { suffix: "RATE_LIMIT_MODE", path: ["rateLimit", "mode"], kind: "string" }
]

/**
 * Environment text to the encoded setting. Numbers that do not parse become
 * NaN so that the Schema names the rule; the raw text is kept for the message.
 *
 * @internal
 */
export const fromEnvText = (kind: EnvKind, raw: string): unknown => {
  const text = raw.trim()
  switch (kind) {
    case "int":
    case "number":
      return text === "" ? Number.NaN : Number(text)
    case "jitter": {
      const lower = text.toLowerCase()
      return lower === "true" ? true : lower === "false" ? false : lower
    }
    case "list":
      return text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
    case "duration":
    case "string":
      return text
  }
}

/** `broker_api` → `BROKER_API`. @internal */
export const envSegment = (name: string): string => name.toUpperCase()

/** Where a key's value came from. @internal */
export interface Provenance {
  /** "defaults", "layer", "env", or the JSON variable's name */
  readonly origin: string
  /** the name to show: the env var, or the dotted path */
  readonly key: string
  readonly raw: unknown
}

/** @internal */
export const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  Predicate.isObject(u) && !Array.isArray(u) && !Duration.isDuration(u) && Object.getPrototypeOf(u) === Object.prototype

/**
 * Deep-merges `patch` into `target` (mutating it), recording for every key
 * it sets who set it. Arrays and Durations are leaves.
 *
 * @internal
 */
export const mergeInto = (
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
  path: ReadonlyArray<string>,
  provenance: Map<string, Provenance>,
  describe: (path: ReadonlyArray<string>, raw: unknown) => Provenance
): void => {
  for (const key of Object.keys(patch)) {
    const value = patch[key]
    if (value === undefined) continue
    const childPath = [...path, key]
    const current = target[key]
    if (isPlainObject(value) && isPlainObject(current)) {
      mergeInto(current, value, childPath, provenance, describe)
      continue
    }
    if (isPlainObject(value)) {
      const fresh: Record<string, unknown> = {}
      target[key] = fresh
      provenance.set(pathKey(childPath), describe(childPath, value))
      mergeInto(fresh, value, childPath, provenance, describe)
      continue
    }
    target[key] = value
    provenance.set(pathKey(childPath), describe(childPath, value))
  }
}

/** @internal */
export const pathKey = (path: ReadonlyArray<PropertyKey>): string => path.map(String).join(".")

/** @internal */
export const valueAt = (root: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current: unknown = root
  for (const segment of path) {
    if (!Predicate.isObject(current)) return undefined
    current = (current as Record<PropertyKey, unknown>)[segment]
  }
  return current
}

/** @internal */
export const show = (value: unknown): string => {
  if (value === undefined) return "(missing)"
  if (typeof value === "string") return JSON.stringify(value)
  if (Duration.isDuration(value)) return Duration.format(value)
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** One broken rule, named by the key to fix. @internal */
export interface Issue {
  readonly key: string
  readonly origin: string
  readonly value: string
  readonly rule: string
}

/**
 * Names a Schema issue: the provenance of the path itself, or of the nearest
 * ancestor that some source introduced (a service type added in JSON that
 * lacks a field is named by its JSON path).
 *
 * @internal
 */
export const nameIssue = (
  issue: { readonly _tag: string; readonly path: ReadonlyArray<PropertyKey>; readonly message: string },
  merged: unknown,
  provenance: ReadonlyMap<string, Provenance>
): Issue => {
  const exact = provenance.get(pathKey(issue.path))
  let origin = exact?.origin ?? "defaults"
  if (exact === undefined) {
    for (let n = issue.path.length - 1; n >= 0; n--) {
      const ancestor = provenance.get(pathKey(issue.path.slice(0, n)))
      if (ancestor !== undefined) {
        origin = ancestor.origin
        break
      }
    }
  }
  const key = exact?.key ?? pathKey(issue.path)
  const value = show(exact !== undefined ? exact.raw : valueAt(merged, issue.path))
  const rule = issue._tag === "Missing"
    ? "is required"
    : issue._tag === "Unexpected"
    ? "is not a known setting"
    : issue.message
  return { key, origin, value, rule }
}
