// A loopback HTTP server for provider tests: records every request and
// answers with the handler the test sets.
import * as Effect from "effect/Effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

export interface Recorded {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

export interface Reply {
  readonly status?: number
  readonly headers?: Record<string, string>
  readonly json?: unknown
  readonly text?: string
}

export interface TestServer {
  url: string
  readonly requests: Array<Recorded>
  handler: (request: Recorded) => Reply
}

export const makeServer = (handler: (request: Recorded) => Reply) =>
  Effect.acquireRelease(
    Effect.async<{ readonly state: TestServer; readonly server: http.Server }>((resume) => {
      const state: TestServer = { url: "", requests: [], handler }
      const server = http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const url = new URL(req.url ?? "/", "http://127.0.0.1")
          const recorded: Recorded = {
            method: req.method ?? "GET",
            path: decodeURIComponent(url.pathname),
            query: url.searchParams,
            headers: req.headers,
            body: Buffer.concat(chunks).toString("utf8")
          }
          state.requests.push(recorded)
          const reply = state.handler(recorded)
          const body = reply.text ?? (reply.json === undefined ? "" : JSON.stringify(reply.json))
          res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers })
          res.end(body)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
        resume(Effect.succeed({ state, server }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ state }) => state))
