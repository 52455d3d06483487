/**
 * The naming rule for services (core README, "Conventions"), checked over
 * every package's `src`: a Tag class is named for what it provides (no
 * `Service` / `Tag` suffix), its key is the path a user imports it by
 * (`@effect-resilience/<package>/<Module>`, plus `/<Name>` when the class is
 * not the module's namesake), and its shape is a named type, never an inline
 * object: the module's `Service` interface for the namesake Tag.
 */
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const packagesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

/** Namesake Tags that hold data rather than operations: their shape is the data's type. */
const dataShapes: ReadonlySet<string> = new Set(["ResilienceConfig.ResilienceConfig"])

interface TagDecl {
  readonly name: string
  readonly key: string
  readonly shape: string | undefined
}

const contextTag = /export class (\w+)\s+extends Context\.Tag\("([^"]*)"\)<\s*(\w+)\s*,\s*([^>]*?)\s*>\(\)/g
const middlewareTag = /export class (\w+) extends HttpApiMiddleware\.Tag<\w+>\(\)\(\s*"([^"]*)"/g

const tagsOf = (source: string): Array<TagDecl> => [
  ...Array.from(source.matchAll(contextTag), (m) => ({ name: m[1]!, key: m[2]!, shape: m[4]! })),
  ...Array.from(source.matchAll(middlewareTag), (m) => ({ name: m[1]!, key: m[2]!, shape: undefined }))
]

/** `where: what is wrong` for every Tag of `module` in package `pkg` that breaks the rule. */
const violations = (pkg: string, module: string, source: string): Array<string> =>
  tagsOf(source).flatMap(({ key, name, shape }) => {
    const where = `${pkg}/${module}.${name}`
    const namesake = name === module
    const expectedKey = `@effect-resilience/${pkg}/${module}${namesake ? "" : `/${name}`}`
    const found: Array<string> = []
    if (/(Service|Tag)$/.test(name)) found.push(`${where}: a Tag is named for what it provides, without a suffix`)
    if (key !== expectedKey) found.push(`${where}: key ${key}, expected ${expectedKey}`)
    if (shape !== undefined && shape.startsWith("{")) found.push(`${where}: an inline shape; export it as a named type`)
    if (namesake && shape !== undefined && shape !== "Service" && !dataShapes.has(`${module}.${name}`)) {
      found.push(`${where}: the namesake Tag's shape is ${shape}, expected the module's Service interface`)
    }
    return found
  })

const modules = (): Array<{ readonly pkg: string; readonly module: string; readonly file: string }> =>
  readdirSync(packagesDir).flatMap((pkg) => {
    const src = path.join(packagesDir, pkg, "src")
    let entries: Array<string>
    try {
      entries = readdirSync(src)
    } catch {
      return []
    }
    return entries.filter((file) => file.endsWith(".ts")).map((file) => ({
      pkg,
      module: file.slice(0, -3),
      file: path.join(src, file)
    }))
  })

describe("service naming rule", () => {
  it("the checker flags each way of breaking the rule, and passes the rule's own examples", () => {
    const source = [
      "export class RateLimiter extends Context.Tag(\"@effect-resilience/core/RateLimiter\")<RateLimiter, Service>() {}",
      "export class Cost extends Context.Tag(\"@effect-resilience/core/RateLimiter/Cost\")<Cost, number>() {}",
      "export class Middleware extends HttpApiMiddleware.Tag<Middleware>()(\"@effect-resilience/core/RateLimiter/Middleware\", {",
      "export class RateLimiterService extends Context.Tag(\"@effect-resilience/core/RateLimiter\")<",
      "  RateLimiterService,",
      "  RateLimiter",
      ">() {}",
      "export class Other extends Context.Tag(\"@effect-resilience/core/Other\")<Other, Shape>() {}",
      "export class Inline extends Context.Tag(\"@effect-resilience/core/RateLimiter/Inline\")<Inline, {",
      "  readonly url: string",
      "}>() {}"
    ].join("\n")
    expect(violations("core", "RateLimiter", source)).toEqual([
      "core/RateLimiter.RateLimiterService: a Tag is named for what it provides, without a suffix",
      "core/RateLimiter.RateLimiterService: key @effect-resilience/core/RateLimiter, expected @effect-resilience/core/RateLimiter/RateLimiterService",
      "core/RateLimiter.Other: key @effect-resilience/core/Other, expected @effect-resilience/core/RateLimiter/Other",
      "core/RateLimiter.Inline: an inline shape; export it as a named type"
    ])
    expect(
      violations(
        "core",
        "Registry",
        "export class Registry extends Context.Tag(\"@effect-resilience/core/Registry\")<Registry, Registry2>() {}"
      )
    )
      .toEqual([
        "core/Registry.Registry: the namesake Tag's shape is Registry2, expected the module's Service interface"
      ])
  })

  it("finds the Tags of every package", () => {
    const found = modules().flatMap(({ file, module, pkg }) =>
      tagsOf(readFileSync(file, "utf8")).map((tag) => `${pkg}/${module}.${tag.name}`)
    )
    expect(found).toEqual(expect.arrayContaining([
      "core/RateLimiter.RateLimiter",
      "core/Policy.Resilience",
      "core/CircuitBreakerRegistry.CircuitBreakerRegistry",
      "http/RateLimit.Middleware",
      "clients/BrokerClients.BrokerClients",
      "gateway/Gateway.GatewayServer"
    ]))
  })

  it("every Tag in every package follows it", () => {
    const found = modules().flatMap(({ file, module, pkg }) => violations(pkg, module, readFileSync(file, "utf8")))
    expect(found).toEqual([])
  })
})
