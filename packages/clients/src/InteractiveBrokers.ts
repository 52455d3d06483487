/**
 * Interactive Brokers (Client Portal Web API, through the local Client
 * Portal Gateway) as a `BrokerClient`.
 *
 * The gateway (default `https://localhost:5000/v1/api`) holds the session,
 * so requests carry no key. The client follows IB's session rules (IBKR
 * Campus, Web API v1, "Trading Sessions" and "Pacing Limitations"):
 *
 * - **Session.** Before its first call, and again after any 401, the client
 *   reads `GET /iserver/auth/status`; when the brokerage session is not
 *   authenticated it asks for one (`POST /iserver/auth/ssodh/init`) and reads
 *   the status again; then it makes the prerequisite calls
 *   (`GET /iserver/accounts` before `/iserver` endpoints,
 *   `GET /portfolio/accounts` before `/portfolio` ones). A session that stays
 *   unauthenticated (or a 401 on the status itself: the gateway's login is
 *   gone) fails the call with `SessionExpiredError`, not retried: someone
 *   must log in through the gateway. While the layer lives, a fiber calls
 *   `POST /tickle` every `tickleInterval` (default 60 s) to keep the session
 *   alive, and marks it for re-checking when the tickle reports it
 *   unauthenticated.
 * - **Pacing**, owned by the client for every request it sends (confirm
 *   replies, read-backs and tickles included): 10 requests per second
 *   through the gateway, 1 per 5 s for `GET /iserver/account/orders` and
 *   `GET /portfolio/accounts`, 1 per second for `/tickle`, as wait-mode core
 *   `RateLimiter`s (one decision reserves a request's endpoint slot and its
 *   global slot together), with a 10 % margin (`pacingMargin`) for the
 *   jitter between a slot and the request's arrival. IB puts an IP that
 *   breaks them in a penalty box for 10 minutes, so the client never relies on
 *   a 429 to slow down. Reads of the
 *   orders list are shared: concurrent callers wait for one request (a
 *   caller that needs a list fetched after it asked, as a lookup does, waits
 *   for the next one; `listOpenOrders` / `getOrder` reuse one at most 5 s old).
 * - **Orders**: `POST /iserver/account/{accountId}/orders` with
 *   `{ orders: [{ acctId, conid, cOID, orderType, side, quantity, tif, price }] }`,
 *   one placement in flight per account (IB asks to wait for each
 *   acknowledgement). IB may answer with questions (`[{ id, message }]`)
 *   confirmed with `POST /iserver/reply/{replyId}` `{ confirmed: true }`, up to
 *   `maxConfirmations`; then `[{ order_id, order_status }]`. `tif` must be one
 *   of IB's GTC, OPG, DAY, IOC: `fok` and `cls` are rejected before sending.
 *   "Local order ID=… is already registered" means the `cOID` is already
 *   placed: the order is looked up and returned (if IB does not list it yet,
 *   the placement is in doubt, never rejected). The read-back of a placed
 *   order never resends it: if it fails, the order is reported as accepted
 *   from what was sent.
 * - An `{ error }` answer is a rejection (`InsufficientFundsError` when it
 *   names margin or funds). A symbol becomes a `conid` through
 *   `GET /iserver/secdef/search?symbol=…` (cached); no match →
 *   `UnknownSymbolError`. Cancels are
 *   `DELETE /iserver/account/{accountId}/order/{orderId}`, positions
 *   `GET /portfolio/{accountId}/positions/0`, the account
 *   `GET /portfolio/{accountId}/summary`.
 *
 * Policy: the broker profiles; IB's pacing lives in the client (above), so
 * the policy has no quota of its own.
 *
 * @since 0.1.0
 */
import * as RateLimiter from "@effect-resilience/core/RateLimiter"
import * as RateLimiterStore from "@effect-resilience/core/RateLimiterStore"
import { type InvalidOptionsError, RateLimitedError } from "@effect-resilience/core/ResilienceError"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { BrokerApi, OrderSubmission } from "./BrokerClient.js"
import {
  AuthenticationError,
  InsufficientFundsError,
  OrderNotFoundError,
  OrderRejectedError,
  ProviderBadRequestError,
  ProviderDecodeError,
  type ProviderError,
  ProviderRateLimitedError,
  ProviderUnavailableError,
  SessionExpiredError,
  UnknownSymbolError
} from "./ClientError.js"
import * as Http from "./internal/http.js"
import * as ProviderLayer from "./internal/providerLayer.js"
import { Account, isOpenStatus, Order, type OrderStatus, type OrderType, Position } from "./Models.js"
import * as ProviderPolicy from "./ProviderPolicy.js"

const provider = "interactive_brokers"

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://localhost:5000/v1/api"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The IB account id (`U1234567`, `DU…` for paper). */
  readonly accountId: string
  /** @default "https://localhost:5000/v1/api" */
  readonly baseUrl?: string | undefined
  /**
   * How many confirmation questions to answer `confirmed: true` for one
   * order before giving up with `OrderRejectedError`.
   *
   * @default 5
   */
  readonly maxConfirmations?: number | undefined
  /** How often the session is kept alive with `/tickle` (IB expects about once a minute). @default 60 seconds */
  readonly tickleInterval?: Duration.DurationInput | undefined
  /** The longest one request waits for its pacing before failing with `ProviderRateLimitedError`. @default 1 minute */
  readonly maxPacingWait?: Duration.DurationInput | undefined
  /**
   * Extra spacing on top of IB's pacing, as a fraction: IB counts requests as
   * they arrive, and a request can leave a little later than its slot (a busy
   * event loop, the network), so the client keeps a margin rather than touch
   * the limit. 0.1 spaces the orders list 5.5 s apart and the rest 110 ms.
   *
   * @default 0.1
   */
  readonly pacingMargin?: number | undefined
  readonly policy?: ProviderPolicy.Overrides | undefined
}

/**
 * IB's default policy: the broker profiles. IB's pacing is per request and
 * per endpoint, so the client owns it (see `pacing`), not the policy.
 *
 * @since 0.1.0
 * @category policy
 */
export const policy: ProviderPolicy.ProviderPolicy = ProviderPolicy.broker(provider)

/**
 * One pacing rule: at most `requests` per `per`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PacingRule {
  readonly requests: number
  readonly per: Duration.Duration
}

/**
 * IB's documented pacing (IBKR Campus, Web API v1, "Pacing Limitations"):
 * 10 requests/s through the Client Portal Gateway; 1 per 5 s for the orders
 * list and `/portfolio/accounts`; 1 per second for `/tickle`. Violators get
 * 429 and a 10-minute penalty box.
 *
 * @since 0.1.0
 * @category constants
 */
export const pacing: {
  readonly global: PacingRule
  readonly "/iserver/account/orders": PacingRule
  readonly "/portfolio/accounts": PacingRule
  readonly "/tickle": PacingRule
} = {
  global: { requests: 10, per: Duration.seconds(1) },
  "/iserver/account/orders": { requests: 1, per: Duration.seconds(5) },
  "/portfolio/accounts": { requests: 1, per: Duration.seconds(5) },
  "/tickle": { requests: 1, per: Duration.seconds(1) }
}

/**
 * The time-in-force values IB accepts (`tif`).
 *
 * @since 0.1.0
 * @category constants
 */
export const acceptedTimeInForce: ReadonlyArray<string> = ["GTC", "OPG", "DAY", "IOC"]

const NumberLike = Http.NumberLike

const PlacedOrConfirm = Schema.Union(
  Schema.Struct({ error: Schema.String }),
  Schema.Array(
    Schema.Union(
      Schema.Struct({
        order_id: Schema.Union(Schema.String, Schema.Number),
        order_status: Schema.optional(Schema.String)
      }),
      Schema.Struct({ id: Schema.String, message: Schema.Array(Schema.String) }),
      Schema.Struct({ error: Schema.String })
    )
  )
)

const IbOrder = Schema.Struct({
  orderId: Schema.Union(Schema.String, Schema.Number),
  order_ref: Schema.optional(Schema.String),
  ticker: Schema.optional(Schema.String),
  side: Schema.String,
  totalSize: Schema.optional(NumberLike),
  filledQuantity: Schema.optional(NumberLike),
  remainingQuantity: Schema.optional(NumberLike),
  price: Schema.optional(Schema.Union(NumberLike, Schema.Literal(""))),
  avgPrice: Schema.optional(NumberLike),
  orderType: Schema.String,
  timeInForce: Schema.optional(Schema.String),
  status: Schema.String,
  lastExecutionTime_r: Schema.optional(Schema.Number)
})
const Orders = Schema.Struct({ orders: Schema.optional(Schema.Array(IbOrder)) })

const IbPosition = Schema.Struct({
  ticker: Schema.optional(Schema.String),
  contractDesc: Schema.optional(Schema.String),
  position: NumberLike,
  avgCost: Schema.optional(NumberLike),
  avgPrice: Schema.optional(NumberLike),
  mktValue: Schema.optional(NumberLike),
  mktPrice: Schema.optional(NumberLike),
  unrealizedPnl: Schema.optional(NumberLike)
})

const Amount = Schema.Struct({ amount: NumberLike, currency: Schema.optional(Schema.NullOr(Schema.String)) })
const Summary = Schema.Struct({
  totalcashvalue: Amount,
  buyingpower: Amount,
  netliquidation: Amount
})

const SecdefSearch = Schema.Array(Schema.Struct({ conid: Schema.Union(Schema.String, Schema.Number) }))
const CancelReply = Schema.Union(
  Schema.Struct({ error: Schema.String }),
  Schema.Struct({
    msg: Schema.optional(Schema.String),
    order_id: Schema.optional(Schema.Union(Schema.String, Schema.Number))
  })
)
const ErrorBody = Schema.Struct({ error: Schema.String })
const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)

const statusOf = (status: string): OrderStatus => {
  switch (status) {
    case "PendingSubmit":
    case "ApiPending":
      return "pending"
    case "Filled":
      return "filled"
    case "Cancelled":
    case "ApiCancelled":
    case "PendingCancel":
      return "canceled"
    case "Inactive":
      return "rejected"
    default:
      return "accepted"
  }
}

// IB spells order types both ways ("Limit" / "LMT", "Stop Limit" / "STP LMT", "Trailing Stop" / "TRAIL").
const typeOf = (orderType: string): OrderType => {
  const t = orderType.toUpperCase().replace(/_/g, " ")
  if (t.startsWith("TRAIL")) return "trailing_stop"
  if (t === "STOP LIMIT" || t === "STP LMT") return "stop_limit"
  if (t === "STOP" || t === "STP") return "stop"
  if (t === "LIMIT" || t === "LMT") return "limit"
  return "market"
}

const toOrder = (o: typeof IbOrder.Type): Order => {
  const total = o.totalSize ?? (o.filledQuantity ?? 0) + (o.remainingQuantity ?? 0)
  const filled = o.filledQuantity ?? 0
  const tif = (o.timeInForce ?? "DAY").toLowerCase()
  const price = o.price === "" ? undefined : o.price
  const status = o.status === "Submitted" && filled > 0 && filled < total ? "partially_filled" : statusOf(o.status)
  return new Order({
    id: String(o.orderId),
    clientOrderId: o.order_ref ?? "",
    symbol: o.ticker ?? "",
    side: o.side.toUpperCase().startsWith("B") ? "buy" : "sell",
    qty: total,
    type: typeOf(o.orderType),
    ...(price !== undefined ? { limitPrice: price } : {}),
    timeInForce: tif === "gtc" || tif === "ioc" || tif === "opg" ? tif : "day",
    status,
    brokerStatus: o.status,
    filledQty: filled,
    ...(o.avgPrice !== undefined ? { filledAvgPrice: o.avgPrice } : {}),
    ...(o.lastExecutionTime_r !== undefined ? { submittedAt: new Date(o.lastExecutionTime_r) } : {})
  })
}

/**
 * IB's answer to a second placement with a `cOID` it already has.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isDuplicateOrderIdMessage = (message: string): boolean =>
  /local order id\s*=.*already registered/i.test(message) || /duplicate (order|cOID)/i.test(message)

const rejection = (message: string, clientOrderId?: string): ProviderError =>
  /insufficient|margin|buying power|equity with loan/i.test(message)
    ? new InsufficientFundsError({ provider, reason: message })
    : new OrderRejectedError({
      provider,
      reason: message,
      ...(clientOrderId !== undefined ? { clientOrderId } : {}),
      ...(isDuplicateOrderIdMessage(message) ? { duplicate: true } : {})
    })

const errorOf = (response: Http.RawResponse, clientOrderId?: string): Effect.Effect<never, ProviderError> => {
  const message = Option.match(decodeErrorBody(Http.parseLenient(response.text)), {
    onNone: () => response.text.slice(0, 200) || `HTTP ${response.status}`,
    onSome: (b) => b.error
  })
  if (response.status === 401) return Effect.fail(new SessionExpiredError({ provider, reason: message }))
  const common = Http.commonStatusError(provider, response, message, Duration.seconds(1))
  if (common !== undefined) return common
  if (clientOrderId !== undefined && (response.status === 400 || response.status === 403)) {
    return Effect.fail(rejection(message, clientOrderId))
  }
  if (response.status === 400) {
    return Effect.fail(new ProviderBadRequestError({ provider, status: 400, reason: message }))
  }
  if (response.status === 403) return Effect.fail(new AuthenticationError({ provider, reason: message }))
  return Effect.fail(new ProviderUnavailableError({ provider, reason: message, status: response.status, sent: true }))
}

const AuthStatus = Schema.Struct({
  authenticated: Schema.Boolean,
  connected: Schema.optional(Schema.Boolean),
  competing: Schema.optional(Schema.Boolean),
  message: Schema.optional(Schema.String)
})
const Tickle = Schema.Struct({
  iserver: Schema.optional(Schema.Struct({ authStatus: Schema.optional(AuthStatus) }))
})
const decodeTickle = Schema.decodeUnknownOption(Tickle)

type Endpoint = keyof typeof pacing

const endpointOf = (method: string, path: string): Endpoint | undefined =>
  method === "GET" && path === "/iserver/account/orders"
    ? "/iserver/account/orders"
    : method === "GET" && path === "/portfolio/accounts"
    ? "/portfolio/accounts"
    : path === "/tickle"
    ? "/tickle"
    : undefined

/**
 * The raw IB Client Portal API (no resilience policy, but IB's own rules:
 * session, pacing, one placement at a time). Scoped: the tickle fiber lives
 * as long as the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeApi = (
  options: Options
): Effect.Effect<BrokerApi, InvalidOptionsError, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const base = Http.trimBase(options.baseUrl ?? defaultBaseUrl)
    const account = encodeURIComponent(options.accountId)
    const maxConfirmations = options.maxConfirmations ?? 5
    const maxWait = Duration.decode(options.maxPacingWait ?? Duration.minutes(1))
    const conids = new Map<string, string>()

    // Pacing: one wait-mode bucket per rule plus the global one, decided together (one store decision
    // reserves both, so waiting for one never spends the other early). The limiters share a name, hence
    // the global bucket; each endpoint has its own key, hence its own bucket.
    const store = yield* RateLimiterStore.makeMemory()
    const margin = 1 + Math.max(0, options.pacingMargin ?? 0.1)
    const perSecond = (rule: PacingRule) => rule.requests / (Duration.toSeconds(rule.per) * margin)
    const limiterOf = (rule: PacingRule) =>
      Effect.provideService(
        RateLimiter.make({
          name: `clients/${provider}/pacing`,
          mode: "wait",
          tokensPerSecond: perSecond(rule),
          burstSize: 1,
          global: { tokensPerSecond: perSecond(pacing.global), burstSize: 1 },
          maxWait
        }),
        RateLimiterStore.RateLimiterStore,
        store
      )
    const limiters: Record<Endpoint, RateLimiter.Service> = {
      global: yield* limiterOf(pacing.global),
      "/iserver/account/orders": yield* limiterOf(pacing["/iserver/account/orders"]),
      "/portfolio/accounts": yield* limiterOf(pacing["/portfolio/accounts"]),
      "/tickle": yield* limiterOf(pacing["/tickle"])
    }
    const paced = <A, E>(endpoint: Endpoint, self: Effect.Effect<A, E>) =>
      limiters[endpoint].execute(self, { key: endpoint }).pipe(
        Effect.catchIf(
          (e): e is RateLimitedError => e instanceof RateLimitedError,
          (e) =>
            Effect.fail(
              new ProviderRateLimitedError({ provider, retryAfter: e.retryAfter, reason: "IB pacing (client side)" })
            )
        ),
        Effect.catchIf(
          (e): e is RateLimiterStore.RateLimiterStoreError => e instanceof RateLimiterStore.RateLimiterStoreError,
          Effect.die
        )
      ) as Effect.Effect<A, E | ProviderRateLimitedError>

    // One raw request, paced by its endpoint's rule and the global one; `onSend` runs when it leaves.
    const raw = (request: HttpClientRequest.HttpClientRequest, onSend?: () => void) => {
      const http = Http.send(
        client,
        provider,
        request.pipe(HttpClientRequest.prependUrl(base), HttpClientRequest.acceptJson)
      )
      return paced(
        endpointOf(request.method, request.url) ?? "global",
        onSend === undefined ? http : Effect.zipRight(Effect.sync(onSend), http)
      )
    }
    const ok = (r: Http.RawResponse) => r.status >= 200 && r.status < 300

    // --- session -------------------------------------------------------------
    let established = false
    const sessionLock = yield* Effect.makeSemaphore(1)
    const decodeStatus = Http.decodeJson(AuthStatus, provider, "auth/status")
    const readStatus = Effect.gen(function*() {
      const r = yield* raw(HttpClientRequest.get("/iserver/auth/status"))
      if (r.status === 401) {
        return yield* new SessionExpiredError({ provider, reason: "the gateway is not logged in (401 on auth/status)" })
      }
      if (!ok(r)) return yield* errorOf(r)
      return yield* decodeStatus(r.text)
    })
    const prerequisite = (path: string) =>
      Effect.flatMap(raw(HttpClientRequest.get(path)), (r) =>
        r.status === 401
          ? Effect.fail(new SessionExpiredError({ provider, reason: `401 on ${path}` }))
          : ok(r)
          ? Effect.void
          : errorOf(r))
    const establish = Effect.gen(function*() {
      let status = yield* readStatus
      if (!status.authenticated) {
        // Ask the gateway for a brokerage session on its live login, then look again.
        const init = yield* raw(
          HttpClientRequest.post("/iserver/auth/ssodh/init").pipe(
            HttpClientRequest.bodyUnsafeJson({ publish: true, compete: true })
          )
        )
        if (init.status === 401) {
          return yield* new SessionExpiredError({ provider, reason: "the gateway is not logged in" })
        }
        status = yield* readStatus
        if (!status.authenticated) {
          return yield* new SessionExpiredError({
            provider,
            reason: `brokerage session not authenticated${status.message ? `: ${status.message}` : ""}`
          })
        }
      }
      yield* prerequisite("/iserver/accounts")
      yield* prerequisite("/portfolio/accounts")
      established = true
    })
    const ensureSession = Effect.suspend(() =>
      established
        ? Effect.void
        : sessionLock.withPermits(1)(Effect.suspend(() => established ? Effect.void : establish))
    )
    // A call in a live session; a 401 re-checks the session once and repeats the call.
    const call = (
      request: HttpClientRequest.HttpClientRequest,
      onSend?: () => void
    ): Effect.Effect<Http.RawResponse, ProviderError> =>
      Effect.gen(function*() {
        yield* ensureSession
        const first = yield* raw(request, onSend)
        if (first.status !== 401) return first
        established = false
        yield* ensureSession
        return yield* raw(request, onSend)
      })

    // Keep the session alive while the layer lives.
    const tickle = raw(HttpClientRequest.post("/tickle")).pipe(
      Effect.tap((r) =>
        Effect.sync(() => {
          const body = decodeTickle(Http.parseLenient(r.text))
          const authenticated = Option.getOrUndefined(body)?.iserver?.authStatus?.authenticated
          if (r.status === 401 || authenticated === false) established = false
        })
      ),
      Effect.catchAll((error) => Effect.logDebug("IB tickle failed", error))
    )
    const tickleEvery = Duration.decode(options.tickleInterval ?? Duration.seconds(60))
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(tickleEvery), tickle)))

    // --- orders list: shared, paced ----------------------------------------------
    const decodePlaced = Http.decodeJson(PlacedOrConfirm, provider, "placeOrder")
    const decodeOrders = Http.decodeJson(Orders, provider, "orders")
    const decodePositions = Http.decodeJson(Schema.Array(IbPosition), provider, "positions")
    const decodeSummary = Http.decodeJson(Summary, provider, "account")
    const decodeSearch = Http.decodeJson(SecdefSearch, provider, "secdef")
    const decodeCancel = Http.decodeJson(CancelReply, provider, "cancelOrder")

    // One orders-list request at a time, shared: `sentAt` is when it left (after its pacing wait).
    interface Snapshot {
      sentAt: number | undefined
      readonly result: Deferred.Deferred<ReadonlyArray<Order>, ProviderError>
    }
    let latest: Snapshot | undefined
    // The orders list as of a request sent at or after `notBefore`: joins one not sent yet or sent
    // recently enough, else starts the next (which waits for its pacing).
    const ordersSince = (notBefore: number): Effect.Effect<ReadonlyArray<Order>, ProviderError> =>
      Effect.suspend(() => {
        const current = latest
        if (current !== undefined && (current.sentAt === undefined || current.sentAt >= notBefore)) {
          return Deferred.await(current.result)
        }
        const snapshot: Snapshot = {
          sentAt: undefined,
          result: Deferred.unsafeMake<ReadonlyArray<Order>, ProviderError>(FiberId.none)
        }
        latest = snapshot
        const fetch = Effect.flatMap(
          Clock.clockWith((clock) =>
            call(HttpClientRequest.get("/iserver/account/orders"), () => {
              snapshot.sentAt = clock.unsafeCurrentTimeMillis()
            })
          ),
          (r) => ok(r) ? Effect.map(decodeOrders(r.text), (b) => (b.orders ?? []).map(toOrder)) : errorOf(r)
        ).pipe(
          // A failed list is not reused: the next caller asks again.
          Effect.tapError(() =>
            Effect.sync(() => {
              if (latest === snapshot) latest = undefined
            })
          )
        )
        return Effect.zipRight(
          // Detached from this caller, so that an interrupted caller cannot strand the others.
          Effect.forkDaemon(Effect.intoDeferred(fetch, snapshot.result)),
          Deferred.await(snapshot.result)
        )
      })
    const recentOrders = Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => ordersSince(now - Duration.toMillis(pacing["/iserver/account/orders"].per))
    )
    const freshOrders = Effect.flatMap(Clock.currentTimeMillis, (now) => ordersSince(now))
    const lookupByClientOrderId = (clientOrderId: string) =>
      Effect.map(freshOrders, (orders) => Option.fromNullable(orders.find((o) => o.clientOrderId === clientOrderId)))

    const conidOf = (symbol: string): Effect.Effect<string, ProviderError> => {
      const cached = conids.get(symbol)
      if (cached !== undefined) return Effect.succeed(cached)
      return Effect.gen(function*() {
        const r = yield* call(
          HttpClientRequest.get("/iserver/secdef/search").pipe(
            HttpClientRequest.setUrlParams({ symbol, secType: "STK" })
          )
        )
        // An unknown symbol is an empty list, or a 400/500 with { error }, depending on the gateway version.
        if (!ok(r) && r.status !== 400 && r.status !== 500) return yield* errorOf(r)
        const found = ok(r) ? yield* decodeSearch(r.text) : []
        const first = found[0]
        if (first === undefined) return yield* new UnknownSymbolError({ provider, symbol })
        const conid = String(first.conid)
        conids.set(symbol, conid)
        return conid
      })
    }

    // Answer IB's precautionary questions until the order is placed (or rejected).
    const settle = (
      order: OrderSubmission,
      r: Http.RawResponse,
      confirmations: number
    ): Effect.Effect<string, ProviderError> =>
      Effect.gen(function*() {
        if (!ok(r)) return yield* errorOf(r, order.clientOrderId)
        const body = yield* decodePlaced(r.text)
        if (!Array.isArray(body)) {
          return yield* Effect.fail(rejection((body as { error: string }).error, order.clientOrderId))
        }
        const first = body[0]
        if (first === undefined) {
          return yield* new ProviderDecodeError({ provider, operation: "placeOrder", issue: "empty reply" })
        }
        if ("order_id" in first) return String(first.order_id)
        if ("error" in first) return yield* Effect.fail(rejection(first.error, order.clientOrderId))
        if (confirmations >= maxConfirmations) {
          return yield* new OrderRejectedError({
            provider,
            reason: `unconfirmed after ${maxConfirmations} questions: ${first.message.join(" ")}`,
            clientOrderId: order.clientOrderId
          })
        }
        const next = yield* call(
          HttpClientRequest.post(`/iserver/reply/${encodeURIComponent(first.id)}`).pipe(
            HttpClientRequest.bodyUnsafeJson({ confirmed: true })
          )
        )
        return yield* settle(order, next, confirmations + 1)
      })

    // IB: wait for each order's acknowledgement before sending the next.
    const placement = yield* Effect.makeSemaphore(1)

    const sent = (order: OrderSubmission, id: string) =>
      new Order({
        id,
        clientOrderId: order.clientOrderId,
        symbol: order.symbol,
        side: order.side,
        qty: order.qty,
        type: order.type,
        ...(order.limitPrice !== undefined ? { limitPrice: order.limitPrice } : {}),
        timeInForce: order.timeInForce,
        status: "accepted",
        filledQty: 0
      })

    return {
      provider,
      submitOrder: (order) =>
        Effect.gen(function*() {
          const tif = order.timeInForce.toUpperCase()
          if (!acceptedTimeInForce.includes(tif)) {
            return yield* new OrderRejectedError({
              provider,
              reason: `IB accepts tif ${acceptedTimeInForce.join(", ")}; not ${tif}`,
              clientOrderId: order.clientOrderId
            })
          }
          const conid = yield* conidOf(order.symbol)
          const placed = yield* placement.withPermits(1)(
            Effect.flatMap(
              call(
                HttpClientRequest.post(`/iserver/account/${account}/orders`).pipe(
                  HttpClientRequest.bodyUnsafeJson({
                    orders: [{
                      acctId: options.accountId,
                      conid: Number(conid),
                      cOID: order.clientOrderId,
                      orderType: order.type === "limit" ? "LMT" : "MKT",
                      side: order.side === "buy" ? "BUY" : "SELL",
                      quantity: order.qty,
                      tif,
                      ...(order.limitPrice !== undefined ? { price: order.limitPrice } : {})
                    }]
                  })
                )
              ),
              (r) => settle(order, r, 0)
            ).pipe(Effect.either)
          )
          if (placed._tag === "Left") {
            const error = placed.left
            // Already placed under this cOID: the order is the one IB has.
            if (error instanceof OrderRejectedError && error.duplicate === true) {
              const found = yield* lookupByClientOrderId(order.clientOrderId)
              if (Option.isSome(found)) return found.value
              return yield* new ProviderUnavailableError({
                provider,
                reason: `IB has cOID ${order.clientOrderId} registered but does not list it yet: ${error.reason}`,
                sent: true
              })
            }
            return yield* Effect.fail(error)
          }
          // The read-back is best effort and never resends: the order is placed. It wants a list
          // fetched after IB acknowledged the order.
          const acknowledgedAt = yield* Clock.currentTimeMillis
          const readBack = yield* ordersSince(acknowledgedAt).pipe(
            Effect.map((orders) => Option.fromNullable(orders.find((o) => o.id === placed.right))),
            Effect.orElseSucceed(() => Option.none<Order>())
          )
          return Option.getOrElse(readBack, () => sent(order, placed.right))
        }),
      cancelOrder: (orderId) =>
        Effect.gen(function*() {
          const r = yield* call(
            HttpClientRequest.del(`/iserver/account/${account}/order/${encodeURIComponent(orderId)}`)
          )
          if (r.status === 404) return yield* new OrderNotFoundError({ provider, orderId })
          if (!ok(r)) return yield* errorOf(r)
          const body = yield* decodeCancel(r.text)
          if ("error" in body) {
            return yield* /not found|doesn't exist|does not exist/i.test(body.error)
              ? Effect.fail(new OrderNotFoundError({ provider, orderId }))
              : Effect.fail(new OrderRejectedError({ provider, reason: body.error }))
          }
        }),
      getOrder: (orderId) =>
        Effect.flatMap(recentOrders, (orders) => {
          const found = orders.find((o) => o.id === orderId)
          return found !== undefined
            ? Effect.succeed(found)
            : Effect.fail(new OrderNotFoundError({ provider, orderId }))
        }),
      getOrderByClientOrderId: lookupByClientOrderId,
      listOpenOrders: Effect.map(recentOrders, (orders) => orders.filter((o) => isOpenStatus(o.status))),
      positions: Effect.flatMap(
        call(HttpClientRequest.get(`/portfolio/${account}/positions/0`)),
        (r) =>
          ok(r)
            ? Effect.map(decodePositions(r.text), (ps) =>
              ps.filter((p) => p.position !== 0).map((p) =>
                new Position({
                  symbol: p.ticker ?? p.contractDesc ?? "",
                  qty: p.position,
                  side: p.position < 0 ? "short" : "long",
                  avgEntryPrice: p.avgPrice ?? p.avgCost ?? 0,
                  ...(p.mktValue !== undefined ? { marketValue: p.mktValue } : {}),
                  ...(p.unrealizedPnl !== undefined ? { unrealizedPnl: p.unrealizedPnl } : {}),
                  ...(p.mktPrice !== undefined ? { currentPrice: p.mktPrice } : {})
                })
              ))
            : errorOf(r)
      ),
      account: Effect.flatMap(
        call(HttpClientRequest.get(`/portfolio/${account}/summary`)),
        (r) =>
          ok(r)
            ? Effect.map(decodeSummary(r.text), (s) =>
              new Account({
                id: options.accountId,
                currency: s.netliquidation.currency ?? "USD",
                cash: s.totalcashvalue.amount,
                buyingPower: s.buyingpower.amount,
                equity: s.netliquidation.amount,
                status: "ACTIVE"
              }))
            : errorOf(r)
      )
    } satisfies BrokerApi
  })

/**
 * The IB `BrokerClient`. Point `baseUrl` at the gateway; a gateway with a
 * self-signed certificate needs an `HttpClient` that trusts it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = ProviderLayer.broker(makeApi, policy)

/**
 * `IB_ACCOUNT_ID` and `IB_GATEWAY_URL` (optional).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  accountId: Config.string("IB_ACCOUNT_ID"),
  baseUrl: ProviderLayer.optionalString("IB_GATEWAY_URL")
})

/**
 * The IB `BrokerClient` from configuration.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = ProviderLayer.layerConfig(config, layer)
