/**
 * Hedging against a real HTTP server on a loopback port: the losing
 * attempt's request is really aborted (the server sees its connection
 * close). Live clock: the test asserts order and outcome only, never how
 * long anything took.
 */
import { Hedge } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

// The first request hangs until its client goes away; every later one is answered at once.
const hangingThenFastServer = Effect.acquireRelease(
  Effect.gen(function*() {
    const firstAborted = yield* Deferred.make<void>()
    let requests = 0
    const server = http.createServer((_req, res) => {
      const n = ++requests
      if (n === 1) {
        res.on("close", () => {
          if (!res.writableEnded) Deferred.unsafeDone(firstAborted, Effect.void)
        })
        return
      }
      res.end(`answer ${n}`)
    })
    yield* Effect.async<void>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.void))
    })
    const port = (server.address() as AddressInfo).port
    return { server, url: `http://127.0.0.1:${port}/quote`, firstAborted, requests: () => requests }
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

const get = (url: string) => Effect.tryPromise((signal) => fetch(url, { signal }).then((response) => response.text()))

describe("Hedge on a loopback HTTP server", () => {
  it.live("the hedge answers for a hung request, and the hung request is aborted", () =>
    Effect.scoped(
      Effect.gen(function*() {
        const { firstAborted, requests, url } = yield* hangingThenFastServer
        const hedge = yield* Hedge.make({ delay: "20 millis", maxHedgedAttempts: 1, idempotent: true })
        expect(yield* hedge.execute(get(url))).toBe("answer 2")
        // the loser is interrupted in the background: its fetch is aborted and the server sees the close
        yield* Deferred.await(firstAborted)
        expect(requests()).toBe(2)
      })
    ))
})
