// Fake providers that answer with the fixtures' bodies and enforce the providers' documented rules:
// IB's pacing (global and per endpoint, with the 10-minute penalty box), session and prerequisites, one
// placement at a time; Alpha Vantage's 1 request/s and 25/day; Polygon's 5/min; Yahoo's browser and crumb
// checks. Every broken rule is recorded in `violations`, so a test can assert that none was broken.
import { load, reply } from "./fixtures.js"
import type { Recorded, Reply } from "./server.js"

const ib = "interactive_brokers"

export interface IbOrderState {
  readonly orderId: number
  readonly cOID: string
  readonly placedAt: number
}

export interface IbFake {
  readonly handle: (r: Recorded, now: number) => Reply
  readonly violations: Array<string>
  /** Requests answered 429. */
  readonly throttled: () => number
  readonly requests: Array<{ readonly at: number; readonly method: string; readonly path: string }>
  readonly orders: Array<IbOrderState>
  /** POSTs of new orders IB booked (a duplicate cOID is not booked). */
  readonly booked: () => number
  authenticated: boolean
  canReauthenticate: boolean
  /** Ask one precautionary question per order. */
  questions: boolean
  /** Book the next placement, then answer 502 (the reply is lost). */
  loseNextReply: boolean
  /** An order shows in the orders list this long after it is booked. */
  listLag: number
  /** The orders list answers 500 (the read-back fails). */
  listFails: boolean
}

export const makeIbFake = (accountId = "DU123"): IbFake => {
  const file = load(ib) as unknown as {
    readonly pacing: {
      readonly globalPerSecond: number
      readonly perEndpoint: Readonly<Record<string, number>>
      readonly penaltyBoxMillis: number
    }
  }
  const pacing = file.pacing
  const recent: Array<number> = []
  const last = new Map<string, number>()
  let penaltyUntil = -Infinity
  let throttled = 0
  let booked = 0
  let nextOrderId = 1_000_001
  let iserverAccounts = false
  let portfolioAccounts = false
  let pending: { readonly cOID: string; readonly tif: string } | undefined
  const violations: Array<string> = []
  const requests: IbFake["requests"] = []
  const orders: Array<IbOrderState> = []
  const tooMany = (): Reply => {
    throttled++
    return reply(ib, "too.many.requests")
  }
  const orderTemplate = JSON.stringify(
    (load(ib).fixtures["orders.list"]!.response.body as { orders: ReadonlyArray<unknown> }).orders[0]
  )
  const book = (cOID: string, now: number) => {
    const order = { orderId: nextOrderId++, cOID, placedAt: now }
    orders.push(order)
    booked++
    return order
  }
  const fake: IbFake = {
    violations,
    requests,
    orders,
    throttled: () => throttled,
    booked: () => booked,
    authenticated: true,
    canReauthenticate: true,
    questions: false,
    loseNextReply: false,
    listLag: 0,
    listFails: false,
    handle: (r, now) => {
      requests.push({ at: now, method: r.method, path: r.path })
      // Pacing: the penalty box first, then the global window, then the endpoint's own rule.
      if (now < penaltyUntil) {
        violations.push(`${r.method} ${r.path} at ${now}: in the penalty box`)
        return tooMany()
      }
      while (recent.length > 0 && recent[0]! <= now - 1000) recent.shift()
      const key = r.path === "/tickle" ? "/tickle" : `${r.method} ${r.path}`
      const window = pacing.perEndpoint[key]
      const previous = last.get(key)
      if (recent.length >= pacing.globalPerSecond) {
        violations.push(`${key} at ${now}: more than ${pacing.globalPerSecond} requests in a second`)
        penaltyUntil = now + pacing.penaltyBoxMillis
        return tooMany()
      }
      if (window !== undefined && previous !== undefined && now - previous < window) {
        violations.push(`${key} at ${now}: ${now - previous} ms after the previous one (limit 1 per ${window} ms)`)
        penaltyUntil = now + pacing.penaltyBoxMillis
        return tooMany()
      }
      recent.push(now)
      if (window !== undefined) last.set(key, now)

      const vars = { accountId }
      // Session.
      if (r.path === "/iserver/auth/status") {
        return reply(ib, fake.authenticated ? "auth.status.authenticated" : "auth.status.unauthenticated")
      }
      if (r.path === "/iserver/auth/ssodh/init") {
        if (fake.canReauthenticate) {
          fake.authenticated = true
          iserverAccounts = false
          portfolioAccounts = false
        }
        return reply(ib, "auth.ssodh.init")
      }
      if (r.path === "/tickle") {
        const body = JSON.parse(reply(ib, "tickle").text!)
        body.iserver.authStatus.authenticated = fake.authenticated
        return { text: JSON.stringify(body) }
      }
      if (!fake.authenticated) return reply(ib, "unauthorized")
      if (r.path === "/iserver/accounts") {
        iserverAccounts = true
        return reply(ib, "iserver.accounts", vars)
      }
      if (r.path === "/portfolio/accounts") {
        portfolioAccounts = true
        return reply(ib, "portfolio.accounts", vars)
      }
      if (r.path.startsWith("/iserver/account") && !iserverAccounts) {
        violations.push(`${key} before /iserver/accounts`)
      }
      if (r.path.startsWith(`/portfolio/${accountId}`) && !portfolioAccounts) {
        violations.push(`${key} before /portfolio/accounts`)
      }
      if (r.path === "/iserver/secdef/search") {
        return reply(ib, r.query.get("symbol") === "AAPL" ? "secdef.search.AAPL" : "secdef.search.unknown")
      }
      if (r.method === "POST" && r.path === `/iserver/account/${accountId}/orders`) {
        const order = JSON.parse(r.body).orders[0] as { cOID: string; tif: string }
        if (pending !== undefined) violations.push(`placement of ${order.cOID} before ${pending.cOID} was acknowledged`)
        if (!["GTC", "OPG", "DAY", "IOC"].includes(order.tif)) violations.push(`tif ${order.tif} sent`)
        if (orders.some((o) => o.cOID === order.cOID)) {
          return reply(ib, "orders.place.duplicate", { cOID: order.cOID })
        }
        if (fake.questions) {
          pending = order
          return reply(ib, "orders.place.question")
        }
        const placed = book(order.cOID, now)
        if (fake.loseNextReply) {
          fake.loseNextReply = false
          return { status: 502, text: "Bad Gateway" }
        }
        return reply(ib, "orders.reply.placed", { orderId: placed.orderId })
      }
      if (r.method === "POST" && r.path.startsWith("/iserver/reply/")) {
        if (pending === undefined) return { status: 400, json: { error: "reply id not found" } }
        const placed = book(pending.cOID, now)
        pending = undefined
        return reply(ib, "orders.reply.placed", { orderId: placed.orderId })
      }
      if (r.method === "GET" && r.path === "/iserver/account/orders") {
        if (fake.listFails) return { status: 500, json: { error: "internal error" } }
        const visible = orders.filter((o) => o.placedAt + fake.listLag <= now)
        return {
          json: {
            orders: visible.map((o) =>
              JSON.parse(
                // IB sends orderId as a JSON number: the quoted placeholder becomes a bare number.
                orderTemplate.replace(/"\{\{orderId\}\}"/g, String(o.orderId)).replace(
                  /\{\{(\w+)\}\}/g,
                  (_, k: string) => k === "cOID" ? o.cOID : accountId
                )
              )
            ),
            snapshot: true
          }
        }
      }
      if (r.path === `/portfolio/${accountId}/positions/0`) return { json: [] }
      if (r.path === `/portfolio/${accountId}/summary`) {
        return {
          json: {
            totalcashvalue: { amount: 5000, currency: "USD" },
            buyingpower: { amount: 20000, currency: "USD" },
            netliquidation: { amount: 9100, currency: "USD" }
          }
        }
      }
      return { status: 404, json: { error: `no route ${r.method} ${r.path}` } }
    }
  }
  return fake
}

const av = "alpha_vantage"

export interface AlphaVantageFake {
  readonly handle: (r: Recorded, now: number) => Reply
  /** Throttle messages served (burst or daily): a client that paces itself never sees one. */
  readonly throttled: Array<string>
  readonly requests: Array<{ readonly at: number; readonly fn: string | null }>
  premiumKey: boolean
}

/** Alpha Vantage's free tier: 1 request per second, 25 per UTC day, premium functions refused. */
export const makeAlphaVantageFake = (): AlphaVantageFake => {
  let lastAt = -Infinity
  const perDay = new Map<number, number>()
  const fake: AlphaVantageFake = {
    throttled: [],
    requests: [],
    premiumKey: false,
    handle: (r, now) => {
      const fn = r.query.get("function")
      fake.requests.push({ at: now, fn })
      const day = Math.floor(now / 86_400_000)
      const used = perDay.get(day) ?? 0
      if (!fake.premiumKey && used >= 25) {
        fake.throttled.push("daily")
        return reply(av, "information.daily")
      }
      if (!fake.premiumKey && now - lastAt < 1000) {
        fake.throttled.push("burst")
        return reply(av, "information.burst")
      }
      lastAt = now
      perDay.set(day, used + 1)
      if (!fake.premiumKey && (fn === "FX_INTRADAY" || r.query.get("outputsize") === "full")) {
        return reply(av, "information.premium_endpoint")
      }
      if (fn === "FX_DAILY") return reply(av, "fx_daily.EURUSD")
      if (fn === "FX_INTRADAY") return reply(av, "fx_intraday.EURUSD.60min")
      if (fn === "CURRENCY_EXCHANGE_RATE") return reply(av, "currency_exchange_rate.USDJPY")
      if (fn === "GLOBAL_QUOTE") {
        return reply(av, r.query.get("symbol") === "IBM" ? "global_quote.IBM" : "global_quote.unknown")
      }
      if (fn === "TIME_SERIES_INTRADAY") {
        return reply(av, r.query.get("symbol") === "IBM" ? "time_series_intraday.IBM.5min" : "error.invalid_call")
      }
      return reply(av, "error.invalid_call")
    }
  }
  return fake
}

export interface YahooFake {
  readonly handle: (r: Recorded, now: number) => Reply
  readonly requests: Array<Recorded>
  /** A new crumb: the old one is answered 401 "Invalid Crumb". */
  rotateCrumb: () => void
}

/** Yahoo: 429 "Edge: Too Many Requests" without a browser User-Agent; 401 without the session's cookie and crumb. */
export const makeYahooFake = (): YahooFake => {
  let crumb = reply("yahoo", "getcrumb").text ?? ""
  const cookie = "A3=d=AQABBKW8o2UCEHSgU7h6X9lrT8v0bX0jv5sFEgEBAQFOpWWuZdwo0iMA_eMAAA&S=AQAAAqC9VVBcz9cR9Qmn6kDPAbA"
  const fake: YahooFake = {
    requests: [],
    rotateCrumb: () => {
      crumb = `${crumb}x`
    },
    handle: (r) => {
      fake.requests.push(r)
      const agent = String(r.headers["user-agent"] ?? "")
      if (!agent.startsWith("Mozilla/")) return reply("yahoo", "edge.too_many_requests")
      if (r.path === "/cookie") return reply("yahoo", "cookie.fc")
      const sentCookie = String(r.headers["cookie"] ?? "")
      if (r.path === "/v1/test/getcrumb") {
        return sentCookie === cookie ? { text: crumb } : reply("yahoo", "unauthorized.invalid_crumb")
      }
      if (sentCookie !== cookie || r.query.get("crumb") !== crumb) return reply("yahoo", "unauthorized.invalid_crumb")
      if (r.path === "/v8/finance/chart/EURUSD=X") return reply("yahoo", "chart.EURUSD=X.60m")
      if (r.query.get("interval") === "7m") return reply("yahoo", "chart.bad_request")
      if (r.path === "/v8/finance/chart/OLD") return reply("yahoo", "chart.unprocessable")
      return reply("yahoo", "chart.not_found")
    }
  }
  return fake
}
