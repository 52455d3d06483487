/**
 * Bundles the benchmark entry points with esbuild into scripts/bench/dist/
 * (git-ignored), so `pnpm bench` measures our packages as compiled
 * JavaScript, the way a published build runs, beside peers that ship
 * JavaScript. Under tsx every closure our code creates would also pay for a
 * `__name(fn, "name")` call (tsx compiles with esbuild's `keepNames`): +25%
 * client CPU per decision on the Redis path, measured.
 *
 * Workspace packages (`@effect-resilience/*`) are bundled from source;
 * everything from node_modules stays external and loads as installed.
 *
 *   tsx scripts/bench/build.ts        (run by `pnpm bench` before the suite)
 */
import { build, type Plugin } from "esbuild"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const benchDir = path.dirname(fileURLToPath(import.meta.url))

// The suite and the files it runs in child processes, plus the CPU-time tools.
const entryPoints = [
  "index.ts",
  "memory-child.ts",
  "http-server.ts",
  "limiterCpu.ts",
  "policyCpu.ts",
  "redis-ab.ts",
  "http-ab.ts",
  "http-prof-server.ts",
  "fleet.ts"
].map((file) => path.join(benchDir, file))

const installedPackagesExternal: Plugin = {
  name: "installed-packages-external",
  setup(build) {
    build.onResolve(
      { filter: /^[^./]/ },
      (args) => args.path.startsWith("@effect-resilience/") ? undefined : { path: args.path, external: true }
    )
  }
}

await build({
  entryPoints,
  outdir: path.join(benchDir, "dist"),
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  logLevel: "warning",
  plugins: [installedPackagesExternal]
})
