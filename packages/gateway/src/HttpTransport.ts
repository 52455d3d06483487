/**
 * The gateway's HTTP transport: the Node server and what guards every
 * request before the API sees it.
 *
 * - `makeServer`: a Node `http.Server` with deadlines and limits. The
 *   request's headers and body must arrive within `requestTimeout` (else a
 *   typed `408 RequestTimeout`, checked every second), its head within
 *   `maxHeaderBytes` (else `431 HeadersTooLarge`), and a malformed request
 *   gets a typed `400`; Node would answer these with a bare status line.
 * - `guard`: wraps the API's `HttpApp` (outside load shedding, so a slow
 *   upload never holds a load-shedding slot). A body must declare its
 *   `Content-Length` (`411`), be at most `maxBodyBytes` (`413`, refused
 *   before a byte is read), be `application/json` (`415`), well-formed
 *   (`400 InvalidBody`) and nest at most `maxJsonDepth` deep (`400`). The
 *   body is read (and cached for the API's own decoder) before the request
 *   goes further. Every error response without a body (an unknown route, a
 *   defect) gets the gateway's JSON error shape, and a defect is logged once.
 * - `stopListening` / `closeConnections`: the two halves of closing the
 *   server for a bounded shutdown (see `Gateway`), and `ownFiber`, which
 *   keeps a deadline working inside a scope finalizer.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Http from "node:http"
import * as Net from "node:net"
import type { Duplex } from "node:stream"
import * as HttpErrors from "./HttpErrors.js"

/**
 * The transport's limits (from `GatewayConfig.server`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  /** The largest request body, in bytes. */
  readonly maxBodyBytes: number
  /** How deep a JSON body may nest (`[[1]]` is 2). */
  readonly maxJsonDepth: number
  /** The deadline for a request's headers and body to arrive. */
  readonly requestTimeout: Duration.Duration
  /** The largest request head (request line and headers), in bytes. */
  readonly maxHeaderBytes: number
}

const reasons: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large"
}

const rawResponse = (status: number, json: string): string =>
  `HTTP/1.1 ${status} ${reasons[status]}\r\nContent-Type: application/json\r\n` +
  `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`

/**
 * A Node HTTP server enforcing the limits. `clientError`s (a deadline
 * missed, an oversized head, a malformed request) are answered with the
 * gateway's typed JSON when no response has started on the connection, then
 * the connection is closed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeServer = (limits: Limits): Http.Server => {
  const timeoutMillis = Math.max(1, Math.round(Duration.toMillis(limits.requestTimeout)))
  const server = Http.createServer({
    requestTimeout: timeoutMillis,
    headersTimeout: timeoutMillis,
    // Node checks the two deadlines on this period (default 30 s): a 10 s deadline would fire after up to 40 s.
    connectionsCheckingInterval: Math.min(1000, timeoutMillis),
    maxHeaderSize: limits.maxHeaderBytes
  })
  // The response open on each connection: a clientError must not write into a response already started.
  const responses = new WeakMap<Duplex, Http.ServerResponse>()
  server.on("request", (request: Http.IncomingMessage, response: Http.ServerResponse) => {
    responses.set(request.socket, response)
  })
  server.on("clientError", (error: Error & { readonly code?: string }, socket: Duplex) => {
    const open = responses.get(socket)
    if (socket.writable && (open === undefined || !open.headersSent) && error.code !== "ECONNRESET") {
      const json = error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [
          408,
          HttpErrors.transportErrorJson(
            new HttpErrors.RequestTimeout({
              timeoutMillis,
              message: `The request's headers and body did not arrive within ${timeoutMillis} ms`
            })
          )
        ] as const
        : error.code === "HPE_HEADER_OVERFLOW"
        ? [
          431,
          HttpErrors.transportErrorJson(
            new HttpErrors.HeadersTooLarge({ message: `The request's head exceeds ${limits.maxHeaderBytes} bytes` })
          )
        ] as const
        : [
          400,
          HttpErrors.transportErrorJson(
            new HttpErrors.BadRequest({ message: `Malformed HTTP request (${error.code ?? error.message})` })
          )
        ] as const
      socket.end(rawResponse(json[0], json[1]))
      // end() flushes the answer; a peer that never reads it must not hold the socket.
      setTimeout(() => socket.destroy(), 1000).unref()
    } else {
      socket.destroy()
    }
  })
  return server
}

/**
 * Run `effect` interruptibly in a fiber of its own and wait for it. A drain
 * runs in a scope finalizer (uninterruptible: a timeout there could never
 * interrupt what it waits for) of a fiber that is usually interrupted
 * already (SIGTERM interrupts the main fiber: `Effect.interruptible` there
 * would end the drain at once). A fresh fiber keeps its deadlines.
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const ownFiber = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.flatMap(Effect.forkDaemon(Effect.interruptible(effect)), Fiber.join)

/**
 * Stop accepting connections, keeping the open ones (idle keep-alive ones
 * included: a request already on the wire is read and answered, 503 while
 * draining, instead of being reset). Returns a `Deferred` completed once
 * every connection has closed.
 *
 * `http.Server#close` would also destroy every idle keep-alive connection at
 * once (Node ≥ 19), resetting a request that was sent but not yet read, and
 * stop the request deadlines; `net.Server#close` only stops the listener.
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const stopListening = (server: Http.Server): Effect.Effect<Deferred.Deferred<void>> =>
  Effect.flatMap(Deferred.make<void>(), (closed) =>
    Effect.sync(() => {
      if (!server.listening) {
        Deferred.unsafeDone(closed, Effect.void)
        return closed
      }
      Net.Server.prototype.close.call(server, () => Deferred.unsafeDone(closed, Effect.void))
      return closed
    }))

/**
 * Close what remains once no request is in flight: idle connections at once,
 * and after `grace` every connection still open (a half-sent body, a peer
 * that never reads). The grace holds inside a finalizer (see `ownFiber`).
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const closeConnections = (
  server: Http.Server,
  closed: Deferred.Deferred<void>,
  grace: Duration.DurationInput
): Effect.Effect<void> =>
  Effect.gen(function*() {
    server.closeIdleConnections()
    const all = yield* ownFiber(Effect.timeoutOption(Deferred.await(closed), grace))
    if (Option.isNone(all)) server.closeAllConnections()
  })

const hasBody = (method: string): boolean => method !== "GET" && method !== "HEAD" && method !== "OPTIONS"

/**
 * How deep `text` (JSON) nests, counting brackets outside strings; stops
 * counting past `limit`. Linear, no recursion.
 *
 * @since 0.1.0
 * @category json
 */
export const jsonDepth = (text: string, limit: number): number => {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) {
      inString = true
    } else if (c === 91 || c === 123) {
      depth++
      if (depth > max) {
        max = depth
        if (max > limit) return max
      }
    } else if (c === 93 || c === 125) {
      depth--
    }
  }
  return max
}

const error = (e: HttpErrors.TransportError, status: number, headers?: Record<string, string>) =>
  HttpErrors.transportErrorResponse(e, status, headers)

// Answered before the body is read: the connection closes behind the answer (the unread body is discarded).
const refuse = (e: HttpErrors.TransportError, status: number) => error(e, status, { connection: "close" })

// A body refused as too large but declared at most this long is read and discarded (Node drains an unread
// request body once the answer is written) instead of closing the connection under it: clients such as `fetch`
// read the answer only once they have sent the whole body, and a connection closed mid-upload gives them EPIPE,
// not the 413. Draining costs CPU, never memory, and stays under the request deadline; beyond this, close.
const drainRefusedBytes = 8 * 1024 * 1024

/**
 * Check and read the body of a request: `None` when it may go on (its body,
 * if any, read and cached), `Some(response)` when it is refused.
 *
 * @since 0.1.0
 * @category guard
 */
export const checkBody = (
  request: HttpServerRequest.HttpServerRequest,
  limits: Limits
): Effect.Effect<Option.Option<HttpServerResponse.HttpServerResponse>, HttpServerError.RequestError> => {
  if (!hasBody(request.method)) return Effect.succeedNone
  const headers = request.headers
  const declared = headers["content-length"]
  if (declared === undefined) {
    if (headers["transfer-encoding"] === undefined) return Effect.succeedNone
    return Effect.succeedSome(refuse(
      new HttpErrors.LengthRequired({
        message: "A request body needs a Content-Length header (chunked bodies are refused)"
      }),
      411
    ))
  }
  // Node has already rejected a malformed or repeated Content-Length.
  const length = Number(declared)
  if (length > limits.maxBodyBytes) {
    const tooLarge = new HttpErrors.PayloadTooLarge({
      limitBytes: limits.maxBodyBytes,
      message: `The body (${length} bytes) is larger than the limit of ${limits.maxBodyBytes} bytes`
    })
    return Effect.succeedSome(length <= drainRefusedBytes ? error(tooLarge, 413) : refuse(tooLarge, 413))
  }
  if (length === 0) return Effect.succeedNone
  const contentType = headers["content-type"]
  const mediaType = contentType === undefined ? "application/json" : contentType.split(";")[0]!.trim().toLowerCase()
  if (mediaType !== "application/json") {
    return Effect.succeedSome(refuse(
      new HttpErrors.UnsupportedMediaType({
        contentType: contentType!.slice(0, 200),
        message: `Bodies must be application/json, not ${mediaType.slice(0, 100)}`
      }),
      415
    ))
  }
  return Effect.map(
    // `text` is cached on the request: the API's decoder reads the same string, not the socket again.
    HttpIncomingMessage.withMaxBodySize(request.text, Option.some(limits.maxBodyBytes)),
    (text) => {
      if (jsonDepth(text, limits.maxJsonDepth) > limits.maxJsonDepth) {
        return Option.some(error(
          new HttpErrors.InvalidBody({
            reason: "too-deep",
            message: `The JSON body nests deeper than ${limits.maxJsonDepth} levels`
          }),
          400
        ))
      }
      try {
        JSON.parse(text)
        return Option.none()
      } catch (e) {
        return Option.some(error(
          new HttpErrors.InvalidBody({
            reason: "invalid-json",
            message: `The body is not valid JSON: ${e instanceof Error ? e.message.slice(0, 200) : "parse error"}`
          }),
          400
        ))
      }
    }
  )
}

const messages: Record<number, string> = {
  400: "Bad request",
  404: "No such route",
  405: "Method not allowed",
  500: "Internal server error: the failure has been logged",
  503: "Service unavailable"
}

const typedError = (
  request: HttpServerRequest.HttpServerRequest,
  status: number
): HttpServerResponse.HttpServerResponse => {
  const path = request.url.split("?")[0]!.slice(0, 200)
  if (status === 404) {
    return HttpErrors.transportErrorResponse(
      new HttpErrors.NotFound({ resource: "route", id: `${request.method} ${path}`, message: messages[404]! }),
      404
    )
  }
  return HttpErrors.transportErrorResponse(
    new HttpErrors.ServerError({ status, message: messages[status] ?? `HTTP ${status}` }),
    status
  )
}

const isEmpty = (response: HttpServerResponse.HttpServerResponse): boolean => response.body._tag === "Empty"

/**
 * Guard an `HttpApp` (the API): check and read every request body first
 * (`checkBody`), and turn every error response without a body into the
 * gateway's typed JSON. A defect or an unexpected failure is answered
 * `500 ServerError` and logged once, with its cause.
 *
 * @since 0.1.0
 * @category guard
 */
export const guard = (limits: Limits) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<never, R> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const answer = (cause: Cause.Cause<unknown>): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
      // A client that went away: nobody reads the answer; keep the interruption.
      if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      return Effect.flatMap(HttpServerError.causeResponse(cause), ([response, stripped]) => {
        const typed = isEmpty(response) && response.status >= 400 ? typedError(request, response.status) : response
        return response.status >= 500 && !Cause.isEmpty(stripped)
          ? Effect.as(
            Effect.logError(`${request.method} ${request.url.slice(0, 200)} answered ${response.status}`, stripped),
            typed
          )
          : Effect.succeed(typed)
      })
    }
    return checkBody(request, limits).pipe(
      Effect.flatMap(Option.match({ onNone: () => app, onSome: Effect.succeed })),
      Effect.catchAllCause(answer)
    )
  })
