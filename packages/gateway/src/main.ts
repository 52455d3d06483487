/**
 * `pnpm start`: run the gateway with its configuration from the environment
 * (see README). A bad configuration stops start-up with a message naming the
 * variable; SIGINT / SIGTERM shut it down gracefully.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Gateway from "./Gateway.js"
import * as GatewayConfig from "./GatewayConfig.js"

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
          `rate limit=${Option.isSome(config.redisUrl) ? "redis" : "in-memory"}`,
          ""
        ].join("\n")
      )
    })).pipe(Layer.provideMerge(Gateway.layer(config)))
  )
}).pipe(
  Effect.tapErrorCause((cause) =>
    Option.match(GatewayConfig.formatError(cause), {
      onNone: () => Effect.void,
      onSome: (message) => Console.error(message)
    })
  )
)

NodeRuntime.runMain(program, {
  disableErrorReporting: false
})
