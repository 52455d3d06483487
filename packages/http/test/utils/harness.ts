/**
 * Test harness: serve an HttpApi (or a plain HttpApp) with NodeHttpServer on
 * a free loopback port inside a scope, and make real HTTP requests to it with
 * node:http (so a test can pick its source address: 127.0.0.2, 127.0.0.3, …
 * are all loopback on Linux and give distinct client IPs).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"

const serverLayer = NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" })

const baseUrlOf = (context: Context.Context<HttpServer.HttpServer>): string => {
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return `http://127.0.0.1:${address.port}`
}

/** Serve an HttpApi layer (`HttpApiBuilder.api(...)` with its groups and middleware provided). */
export const serveApi = <E>(
  apiLayer: Layer.Layer<HttpApi.Api, E, never>,
  extra: Layer.Layer<never, E, never> = Layer.empty as any
): Effect.Effect<string, unknown, Scope.Scope> =>
  Effect.map(
    Layer.build(
      HttpApiBuilder.serve().pipe(
        Layer.provide(extra),
        Layer.provide(apiLayer),
        Layer.provideMerge(serverLayer)
      )
    ),
    baseUrlOf
  )

/** Serve a plain HttpApp (an upstream for the client tests). */
export const serveApp = <E>(app: HttpApp.Default<E, never>): Effect.Effect<string, unknown, Scope.Scope> =>
  Effect.map(Layer.build(HttpServer.serve(app).pipe(Layer.provideMerge(serverLayer))), baseUrlOf)

/** Serve a raw node:http handler (for connection resets and hangs). */
export const serveRaw = (
  handler: (req: Http.IncomingMessage, res: Http.ServerResponse) => void
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer(handler)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => {
    const address = server.address()
    if (address === null || typeof address === "string") throw new Error("expected a TCP address")
    return `http://127.0.0.1:${address.port}`
  }))

export interface Response {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
  readonly json: () => unknown
}

export interface RequestOptions {
  readonly method?: string
  /** A header may be repeated: give an array of values. */
  readonly headers?: Record<string, string | ReadonlyArray<string>>
  /** Source address, e.g. "127.0.0.2". */
  readonly from?: string
  readonly body?: string
}

// Many requests share a bounded pool of kept-alive connections (per source address), as a real client fleet would.
const agent = new Http.Agent({ keepAlive: true, maxSockets: 128 })

/** A real HTTP request; resolves with status, headers and body (never rejects on HTTP errors). */
export const request = (url: string, options: RequestOptions = {}): Effect.Effect<Response, Error> =>
  Effect.async<Response, Error>((resume) => {
    const req = Http.request(url, {
      method: options.method ?? "GET",
      agent,
      ...(options.from ? { localAddress: options.from } : {}),
      headers: options.headers as Http.OutgoingHttpHeaders
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8")
        resume(
          Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) })
        )
      })
      res.on("error", (e) => resume(Effect.fail(e)))
    })
    req.on("error", (e) => resume(Effect.fail(e)))
    if (options.body !== undefined) req.write(options.body)
    req.end()
  })
