/**
 * `pnpm start`: run the gateway with its configuration from the environment
 * (see README). A bad configuration stops start-up with a message naming the
 * variable; a port already in use stops it with one line naming the port and
 * how to pick another (exit 1, no stack trace); SIGINT / SIGTERM shut it down
 * gracefully and exit 0.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Gateway from "./Gateway.js"
import * as GatewayConfig from "./GatewayConfig.js"

/** The one line for a listen error the user can fix (the port is taken or not ours to bind), if that is what failed. */
const formatListenError = (cause: Cause.Cause<unknown>, config: GatewayConfig.GatewayConfig): Option.Option<string> => {
  for (const error of [...Cause.failures(cause), ...Cause.defects(cause)]) {
    const listen = typeof error === "object" && error !== null && "cause" in error ? error.cause : undefined
    const code = typeof listen === "object" && listen !== null && "code" in listen ? listen.code : undefined
    const where = `${config.host}:${config.port}`
    if (code === "EADDRINUSE") {
      return Option.some(
        `gateway: port ${config.port} is already in use (EADDRINUSE on ${where}): is another gateway running? ` +
          `Pick another port with PORT=${config.port + 1} pnpm start`
      )
    }
    if (code === "EACCES" || code === "EADDRNOTAVAIL") {
      return Option.some(
        `gateway: cannot listen on ${where} (${code}): pick another port with PORT=8080 or another host with HOST=127.0.0.1`
      )
    }
  }
  return Option.none()
}

const program = Effect.gen(function*() {
  const config = yield* GatewayConfig.config
  yield* Layer.launch(
    Layer.effectDiscard(Effect.gen(function*() {
      const { url } = yield* Gateway.GatewayServer
      yield* Console.log(
        [
          "",
          `  effect-resilience gateway  ${url}`,
          `  dashboard  ${url}/dashboard`,
          `  swagger    ${url}/docs        openapi ${url}/openapi.json`,
          `  status     ${url}/resilience/status   metrics ${url}/metrics`,
          `  providers  broker=${config.broker}  market data=${config.marketData}  ` +
          `rate limit=${Option.isSome(config.redisUrl) ? "redis" : "in-memory"}  ` +
          `breakers=${
            Option.isSome(config.fleet.breakerRedisUrl)
              ? `fleet-wide (redis, instance ${config.fleet.instanceId}, quorum ${config.fleet.quorum})`
              : "local"
          }`,
          ""
        ].join("\n")
      )
    })).pipe(Layer.provideMerge(Gateway.layer(config)))
  ).pipe(
    Effect.tapErrorCause((cause) =>
      Option.match(formatListenError(cause, config), {
        onNone: () =>
          // configuration errors are explained below; an interruption is a normal shutdown
          Cause.isInterruptedOnly(cause) || Option.isSome(GatewayConfig.formatError(cause))
            ? Effect.void
            : Effect.logError("gateway stopped", cause),
        onSome: (message) => Console.error(message)
      })
    )
  )
}).pipe(
  Effect.tapErrorCause((cause) =>
    Option.match(GatewayConfig.formatError(cause), {
      onNone: () => Effect.void,
      onSome: (message) => Console.error(message)
    })
  )
)

// pnpm forwards the terminal's Ctrl-C to its child, so one Ctrl-C can reach
// this process two or three times. `runMain` handles the first (graceful
// shutdown, then exit 0) and stops listening; without a listener of our own,
// a forwarded copy would kill the process by the signal mid-shutdown (and pnpm
// would print "Command failed with signal SIGINT"). Repeats within 2 s are
// that same Ctrl-C; a later one is the user insisting: exit at once.
let firstSignalAt: number | undefined
const onRepeatedSignal = (signal: NodeJS.Signals) => {
  const now = Date.now()
  if (firstSignalAt === undefined) firstSignalAt = now
  else if (now - firstSignalAt > 2_000) {
    process.stderr.write(`gateway: ${signal} again: exiting without waiting for the shutdown to finish\n`)
    process.exit(130)
  }
}
process.on("SIGINT", onRepeatedSignal)
process.on("SIGTERM", onRepeatedSignal)

NodeRuntime.runMain(program, {
  // every failure is reported above: a configuration or listen error in one line, anything else logged once
  disableErrorReporting: true
})
