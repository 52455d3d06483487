/**
 * DESIGN.md, rule 1: every package's `src` uses Effect's public API only. This
 * test reads each source file and lists the lines that reach into Effect's
 * run loop or private fields, or change process-wide state: the patterns
 * below never appear in code written against the public API.
 */
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const packagesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

/** What each pattern reaches for. */
const forbidden: ReadonlyArray<readonly [RegExp, string]> = [
  [/\b_op\b/, "a primitive's or fiber's private `_op` tag"],
  [/\bpushStack\b/, "the run loop's continuation stack"],
  [/\beffect_instruction/, "a primitive's private `effect_instruction_*` fields"],
  [/\b_fiberRefs\b/, "a fiber's private FiberRefs field"],
  [/\.constructor\b/, "a constructor reached through an instance (e.g. building fibers by hand)"],
  [/\bstackTraceLimit\b/, "process-wide `Error.stackTraceLimit`"],
  [/\bsetFiberRef\s*\(/, "a fiber's private `setFiberRef` (use `FiberRef.set` / `Effect.locally`)"],
  [/[!=]==?\s*Effect\.(un)?interruptible\b/, "a mask's `restore` compared with Effect's own functions"],
  [/Symbol\.for\(\s*["']effect\//, "one of Effect's private symbols"]
]

/** A line that is only a comment (doc comments included): prose may name what the code must not do. */
const isComment = (line: string): boolean => {
  const trimmed = line.trimStart()
  return trimmed.startsWith("//") || trimmed.startsWith("*") || trimmed.startsWith("/*")
}

/** `file:line: why: code` for every offending line of `source`. */
const offenders = (file: string, source: string): Array<string> => {
  const found: Array<string> = []
  source.split("\n").forEach((line, i) => {
    if (isComment(line)) return
    for (const [pattern, why] of forbidden) {
      if (pattern.test(line)) found.push(`${file}:${i + 1}: ${why}: ${line.trim()}`)
    }
  })
  return found
}

const sourceFiles = (): Array<string> =>
  readdirSync(packagesDir).flatMap((pkg) => {
    const src = path.join(packagesDir, pkg, "src")
    let entries: Array<string>
    try {
      entries = readdirSync(src, { recursive: true, encoding: "utf8" })
    } catch {
      return []
    }
    return entries.filter((file) => file.endsWith(".ts")).map((file) => path.join(src, file))
  })

describe("public API only", () => {
  it("the matcher flags each pattern, and not comments or clean code", () => {
    const sample = [
      "const ok = Effect.succeed(1)",
      "// a comment may say pushStack or _op",
      " * so may a doc comment: parent.constructor, Error.stackTraceLimit",
      "if (handler._op === \"OnSuccessAndFailure\") {}",
      "fiber.pushStack(frame)",
      "typeof flags.effect_instruction_i0 === \"number\"",
      "const refs = parent._fiberRefs",
      "const Ctor = parent.constructor",
      "Error.stackTraceLimit = 0",
      "fiber.setFiberRef(ref, value)",
      "yield* Effect.setFiberRefs(refs)",
      "if (restore !== Effect.interruptible) return restore(self)",
      "const id = Symbol.for(\"effect/Fiber\")",
      "const restored = Effect.interruptible(self)"
    ].join("\n")
    expect(offenders("sample.ts", sample).map((line) => line.split(":")[1])).toEqual([
      "4",
      "5",
      "6",
      "7",
      "8",
      "9",
      "10",
      "12",
      "13"
    ])
  })

  it("finds the sources of every package", () => {
    const files = sourceFiles().map((file) => path.relative(packagesDir, file))
    for (const pkg of ["core", "redis", "http", "clients", "gateway"]) {
      expect(files.some((file) => file.startsWith(`${pkg}${path.sep}src${path.sep}`))).toBe(true)
    }
    expect(files).toContain(path.join("core", "src", "internal", "timeout.ts"))
  })

  it("no package's src touches Effect's internals", () => {
    const found = sourceFiles().flatMap((file) =>
      offenders(path.relative(packagesDir, file), readFileSync(file, "utf8"))
    )
    expect(found).toEqual([])
  })
})
