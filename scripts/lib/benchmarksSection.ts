/**
 * BENCHMARKS.md holds sections other scripts write (`pnpm soak --write`)
 * beside what `pnpm bench` writes: each between `<!-- name:start -->` and
 * `<!-- name:end -->`, replaced in place by its writer and carried over when
 * `pnpm bench` rewrites the file.
 */
import { existsSync, readFileSync } from "node:fs"

const pattern = /<!-- ([a-z0-9-]+):start -->[\s\S]*?<!-- \1:end -->\n?/g

/** Every marked section of the file (empty when there is none or no file). */
export const markedSections = (file: string): ReadonlyArray<string> =>
  existsSync(file) ? [...readFileSync(file, "utf8").matchAll(pattern)].map((m) => m[0].trimEnd() + "\n") : []

/** The file's text with section `name` replaced by `body` (appended when absent). */
export const withSection = (file: string, name: string, body: string): string => {
  const text = existsSync(file) ? readFileSync(file, "utf8") : ""
  const section = `<!-- ${name}:start -->\n${body.trimEnd()}\n<!-- ${name}:end -->\n`
  const existing = new RegExp(`<!-- ${name}:start -->[\\s\\S]*?<!-- ${name}:end -->\\n?`)
  return existing.test(text) ? text.replace(existing, section) : `${text.trimEnd()}\n\n${section}`
}
