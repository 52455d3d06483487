/**
 * Helpers of `ResilienceConfig`: the environment variables derived from the
 * profile schema, layered merging with provenance (which source set which
 * key) and the mapping of Schema issues back to the key a user must fix.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as AST from "effect/SchemaAST"
import * as options from "./options.js"

/** One setting a service type takes from the environment. @internal */
export interface EnvField {
  /** `<SETTING>` in `RESILIENCE_<SERVICE_TYPE>_<SETTING>` */
  readonly suffix: string
  /** where it goes in a profile: `["breaker", "failureThreshold"]`, `["timeout"]` */
  readonly path: ReadonlyArray<string>
  /** the setting's schema: how its text is read */
  readonly ast: AST.AST
}

// Flat names (no BREAKER_/RETRY_ segment) because every setting is unique across the sections; the exceptions: the
// rate limit's keep a RATE_LIMIT_ segment (`MAX_WAIT` alone reads like the bulkhead's `MAX_WAITING`), and retry's
// `factor` is BACKOFF_FACTOR (beside the breaker's RESET_BACKOFF_FACTOR).
const sectionPrefix: Record<string, string> = { rateLimit: "RATE_LIMIT_" }
const renamed: Record<string, string> = { "retry.factor": "BACKOFF_FACTOR" }

const upperSnake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()

const structOf = (ast: AST.AST): AST.TypeLiteral | undefined =>
  AST.isTypeLiteral(ast) ? ast : AST.isRefinement(ast) ? structOf(ast.from) : undefined

/**
 * Every setting of a profile schema with its variable suffix: a walk over
 * the property signatures of the profile and of each section, so a field
 * added to a policy's options schema (and so to its section) has its
 * variable.
 *
 * @internal
 */
export const envFieldsOf = (profile: AST.AST): ReadonlyArray<EnvField> => {
  const fields: Array<EnvField> = []
  for (const section of structOf(profile)?.propertySignatures ?? []) {
    const sectionName = String(section.name)
    const struct = structOf(section.type)
    if (struct === undefined) {
      fields.push({ suffix: renamed[sectionName] ?? upperSnake(sectionName), path: [sectionName], ast: section.type })
      continue
    }
    for (const field of struct.propertySignatures) {
      const name = String(field.name)
      fields.push({
        suffix: renamed[`${sectionName}.${name}`] ?? `${sectionPrefix[sectionName] ?? ""}${upperSnake(name)}`,
        path: [sectionName, name],
        ast: field.type
      })
    }
  }
  return fields
}

// The shapes a setting's encoded side may take (a union's members, flattened).
const encodedShapes = (ast: AST.AST): ReadonlyArray<AST.AST["_tag"]> => {
  const encoded = AST.encodedAST(ast)
  return AST.isUnion(encoded) ? encoded.types.flatMap(encodedShapes) : [encoded._tag]
}

/**
 * Environment text to the encoded setting, by the shape the setting's
 * schema encodes to: a list (comma-separated), a boolean-or-literal (the
 * seeds' `true` / `false`, case-insensitive), a number (text that does not
 * parse becomes NaN, so the schema names the rule; the raw text is kept for
 * the message), else the text (a duration keeps its unit).
 *
 * @internal
 */
export const fromEnvText = (ast: AST.AST, raw: string): unknown => {
  const text = raw.trim()
  const shapes = encodedShapes(ast)
  if (shapes.includes("TupleType")) return text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
  if (shapes.includes("BooleanKeyword")) {
    const lower = text.toLowerCase()
    return lower === "true" ? true : lower === "false" ? false : lower
  }
  if (shapes.includes("NumberKeyword")) return text === "" ? Number.NaN : Number(text)
  return text
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
export const valueAt = options.valueAt

/** `options.show`, naming a missing value. @internal */
export const show = (value: unknown): string => value === undefined ? "(missing)" : options.show(value)

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
  issue: ParseResult.ArrayFormatterIssue,
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
  // the words `make` uses, plus the one issue only configuration has: a key no schema knows (a typo)
  const rule = issue._tag === "Unexpected" ? "is not a known setting" : options.ruleOf(issue)
  return { key, origin, value, rule }
}
