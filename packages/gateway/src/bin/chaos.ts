/**
 * `pnpm chaos [url] [--clients N] [--phase-seconds S]`: drive a gateway
 * through normal traffic, a broker outage, recovery and a quota storm (see
 * `Chaos.ts`). Without a URL (argument or `GATEWAY_URL`) it uses the local
 * gateway at http://127.0.0.1:8080 when one answers, else starts one in this
 * process. Exits 1 if any order was duplicated.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
import * as Chaos from "../Chaos.js"
import * as Gateway from "../Gateway.js"
import * as GatewayConfig from "../GatewayConfig.js"

const args = process.argv.slice(2)
const flag = (name: string): number | undefined => {
  const i = args.indexOf(name)
  if (i === -1) return undefined
  const value = Number(args[i + 1])
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`${name} needs a positive number`)
    process.exit(2)
  }
  args.splice(i, 2)
  return value
}
const clients = flag("--clients")
const phaseSeconds = flag("--phase-seconds")
const explicit = args.find((a) => !a.startsWith("--")) ?? process.env["GATEWAY_URL"]
const local = "http://127.0.0.1:8080"

const answers = async (url: string) => {
  try {
    return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).ok
  } catch {
    return false
  }
}

const main = async () => {
  let url = explicit
  let scope: Scope.CloseableScope | undefined
  if (url === undefined) {
    if (await answers(local)) url = local
    else {
      console.log("No gateway at http://127.0.0.1:8080: starting one in this process (simulated providers).")
      scope = Effect.runSync(Scope.make())
      const config = await Effect.runPromise(GatewayConfig.config)
      const context = await Effect.runPromise(
        Layer.buildWithScope(
          // the policies' own log lines would drown the timeline: keep errors only
          Gateway.layer({
            ...config,
            port: 0,
            demoTraffic: 0,
            // each chaos client gets its own budget (without API_KEYS they would share their IP's)
            rateLimit: { ...config.rateLimit, apiKeys: [...config.rateLimit.apiKeys, ...Chaos.apiKeys(clients ?? 16)] }
          }).pipe(
            Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
          ),
          scope
        )
      )
      const { url: started } = Effect.runSync(Effect.provide(Gateway.GatewayServer, context))
      url = started
      console.log(`Gateway at ${url} (dashboard: ${url}/dashboard)`)
    }
  }
  console.log(`Chaos run against ${url}\n`)
  try {
    const report = await Chaos.run({ url, clients, phaseSeconds })
    process.exitCode = report.book?.duplicates === 0 ? 0 : 1
  } finally {
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
