/**
 * Demo traffic: the gateway calling itself over loopback (quotes, bars,
 * small orders, positions) at a configurable rate, so that a newcomer who
 * opens the dashboard sees breakers, bulkheads and limiters move without
 * writing a client. Only with simulated providers (it places orders).
 *
 * @since 0.1.0
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Telemetry } from "./Telemetry.js"

const symbols = ["AAPL", "MSFT", "SPY", "TSLA"]

/**
 * The API key demo traffic is limited under (its own bucket).
 *
 * @since 0.1.0
 * @category constants
 */
export const apiKey = "demo-traffic"

/**
 * Start the generator at `initialRps` (changeable at run time through
 * `POST /admin/traffic`); it stops when shutdown begins. With `sendKey`
 * false it sends no API key, and is keyed by its (loopback) IP like any
 * anonymous client: the gateway does, since `apiKey` is not a configured key.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (initialRps: number, apiKeyHeader = "x-api-key", sendKey = true) =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const telemetry = yield* Telemetry
    const server = yield* HttpServer.HttpServer
    const address = server.address
    if (address._tag !== "TcpAddress") return
    const host = address.hostname === "0.0.0.0" ? "127.0.0.1" : address.hostname.includes(":")
      ? `[${address.hostname === "::" ? "::1" : address.hostname}]`
      : address.hostname
    const base = `http://${host}:${address.port}`
    telemetry.setTraffic(initialRps)
    let n = 0
    let inFlight = 0
    const fire = () => {
      if (inFlight >= 50) return
      n++
      const symbol = symbols[n % symbols.length]!
      const r = n % 20
      let path = `/marketdata/quote/${symbol}`
      let init: RequestInit = {}
      if (r < 4) path = `/marketdata/bars/${symbol}?timeframe=1h&limit=24`
      else if (r < 7) {
        path = "/orders"
        init = {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ symbol, side: n % 2 === 0 ? "buy" : "sell", qty: 1, type: "market" })
        }
      } else if (r === 7) path = "/positions"
      else if (r === 8) path = "/account"
      inFlight++
      fetch(base + path, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string> | undefined),
          ...(sendKey ? { [apiKeyHeader]: apiKey } : {})
        },
        signal: AbortSignal.timeout(15_000)
      }).then((res) => res.arrayBuffer()).catch(() => undefined).finally(() => {
        inFlight--
      })
    }
    const loop = Effect.gen(function*() {
      while (true) {
        const rps = telemetry.traffic()
        if (rps <= 0) {
          yield* Effect.sleep("250 millis")
          continue
        }
        yield* Effect.sync(fire)
        yield* Effect.sleep(Math.max(5, Math.round(1000 / rps)))
      }
    })
    yield* Effect.forkScoped(Effect.raceFirst(loop, Deferred.await(telemetry.shutdown)))
  }))
