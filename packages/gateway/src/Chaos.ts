/**
 * The chaos driver behind `pnpm chaos`: concurrent clients drive a running
 * gateway through phases (normal, broker outage, recovery, quota storm)
 * using its fault API, while a once-a-second timeline records what the
 * policies did (status codes, breaker states, retries, rejections). It ends
 * with a summary whose duplicate count comes from the simulated broker's own
 * book (`GET /admin/broker/book`) and must be 0.
 *
 * Bounded in time (phases × `phaseSeconds`) and in requests (`maxRequests`).
 *
 * @since 0.1.0
 */

/**
 * The API keys a run with `clients` clients sends: `chaos-admin` (fault API,
 * status) and `chaos-<i>` per client. Configure them on the gateway
 * (`API_KEYS`) so that each client has its own budget, as the in-process
 * gateway of `pnpm chaos` does; a gateway without `API_KEYS` keys every
 * client by its IP, so the clients of one machine share one budget.
 *
 * @since 0.1.0
 * @category constants
 */
export const apiKeys = (clients = 16): ReadonlyArray<string> => [
  "chaos-admin",
  ...Array.from({ length: clients }, (_, i) => `chaos-${i}`)
]

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The gateway's base URL. */
  readonly url: string
  /** Concurrent clients (each with its own API key). @default 16 */
  readonly clients?: number | undefined
  /** Length of each phase. @default 12 */
  readonly phaseSeconds?: number | undefined
  /** Hard cap on requests. @default 50,000 */
  readonly maxRequests?: number | undefined
  /** Where the timeline goes, line by line. @default console.log */
  readonly log?: ((line: string) => void) | undefined
}

/**
 * Counts by outcome.
 *
 * @since 0.1.0
 * @category models
 */
export interface Counts {
  requests: number
  ok: number
  rateLimited: number
  unavailable: number
  timeouts: number
  otherErrors: number
  failedToConnect: number
  ordersPlaced: number
}

/**
 * One row of the timeline.
 *
 * @since 0.1.0
 * @category models
 */
export interface Row {
  readonly second: number
  readonly phase: string
  /** This run's requests that ended during this second. */
  readonly counts: Counts
  readonly breakers: Readonly<Record<string, string>>
  /** The gateway's provider retries during this second (every client's, not only this run's). */
  readonly retries: number
  /** The gateway's breaker, bulkhead and limiter rejections during this second. */
  readonly rejections: number
}

/**
 * What `run` returns.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly timeline: ReadonlyArray<Row>
  readonly phases: ReadonlyArray<{ readonly name: string; readonly counts: Counts }>
  readonly total: Counts
  readonly book: { readonly orders: number; readonly duplicates: number } | undefined
  readonly breakerTransitions: number
}

interface Phase {
  readonly name: string
  readonly enter: (url: string) => Promise<void>
  /** Pause between a client's requests. */
  readonly thinkMillis: number
  /** Requests a client has in flight at once. */
  readonly parallel: number
}

const zero = (): Counts => ({
  requests: 0,
  ok: 0,
  rateLimited: 0,
  unavailable: 0,
  timeouts: 0,
  otherErrors: 0,
  failedToConnect: 0,
  ordersPlaced: 0
})

const send = async (url: string, method: string, path: string, body?: unknown): Promise<Response> =>
  fetch(url + path, {
    method,
    headers: body === undefined ? { "x-api-key": "chaos-admin" } : {
      "content-type": "application/json",
      "x-api-key": "chaos-admin"
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000)
  })

const admin = async (url: string, method: string, path: string, body?: unknown): Promise<void> => {
  const res = await send(url, method, path, body)
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`)
  await res.arrayBuffer()
}

const json = async <A>(url: string, path: string): Promise<A | undefined> => {
  try {
    const res = await send(url, "GET", path)
    return res.ok ? (await res.json() as A) : undefined
  } catch {
    return undefined
  }
}

/**
 * The phases: normal traffic, a broker outage, recovery (faults cleared:
 * breakers probe and close), and a quota storm (the market-data provider
 * answers 429 while clients fire without pause, past their own rate limit).
 *
 * @since 0.1.0
 * @category constants
 */
export const phases: ReadonlyArray<Phase> = [
  { name: "normal", enter: async () => {}, thinkMillis: 60, parallel: 1 },
  {
    name: "broker outage",
    enter: (url) => admin(url, "POST", "/admin/faults", { target: "broker", kind: "outage" }),
    thinkMillis: 60,
    parallel: 1
  },
  { name: "recovery", enter: (url) => admin(url, "DELETE", "/admin/faults"), thinkMillis: 60, parallel: 1 },
  {
    name: "quota storm",
    enter: (url) =>
      admin(url, "POST", "/admin/faults", {
        target: "marketdata",
        kind: "429-storm",
        calls: 400,
        retryAfterMillis: 500
      }),
    // bursts of 8 at once, back to back: far past each client's own rate limit
    thinkMillis: 20,
    parallel: 8
  }
]

const symbols = ["AAPL", "MSFT", "SPY", "TSLA"]

const SHORT: Record<string, string> = {
  Closed: "closed",
  Open: "OPEN",
  HalfOpen: "half",
  Isolated: "isol",
  Disabled: "off"
}

const pad = (s: string | number, n: number) => String(s).padStart(n)
const padEnd = (s: string | number, n: number) => String(s).padEnd(n)

interface StatusBody {
  readonly breakers: ReadonlyArray<{ readonly name: string; readonly state: string; readonly rejections: number }>
}
interface StateBody {
  readonly state: {
    readonly providerStats: ReadonlyArray<{
      readonly retries: number
      readonly breakerRejections: number
      readonly bulkheadRejections: number
      readonly limiterRejections: number
    }>
    readonly history: Readonly<Record<string, ReadonlyArray<unknown>>>
  }
}

/**
 * Run the phases against `options.url` and return the report (the timeline
 * is also logged as it happens).
 *
 * @since 0.1.0
 * @category run
 */
export const run = async (options: Options): Promise<Report> => {
  const url = options.url.replace(/\/$/, "")
  const log = options.log ?? ((line: string) => console.log(line))
  const clients = options.clients ?? 16
  const phaseMillis = Math.round((options.phaseSeconds ?? 12) * 1000)
  const maxRequests = options.maxRequests ?? 50_000

  const health = await json<{ broker: string; marketData: string }>(url, "/health")
  if (health === undefined) throw new Error(`No gateway answers at ${url}/health`)
  if (health.broker !== "simulated" || health.marketData !== "simulated") {
    throw new Error(
      `The chaos run needs the simulated providers (this gateway uses ${health.broker} / ${health.marketData})`
    )
  }
  await admin(url, "DELETE", "/admin/faults")
  await admin(url, "POST", "/admin/breakers/reset")
  const bookBefore = await json<{ orders: number; duplicates: number }>(url, "/admin/broker/book")

  const total = zero()
  const phaseCounts = phases.map((p) => ({ name: p.name, counts: zero() }))
  let window = zero()
  let phaseIndex = 0
  let stopped = false
  let sent = 0
  const timeline: Array<Row> = []

  const record = (outcome: (c: Counts) => void) => {
    for (const c of [total, phaseCounts[phaseIndex]!.counts, window]) {
      c.requests++
      outcome(c)
    }
  }

  const client = async (i: number) => {
    let n = i * 1000
    while (!stopped && sent < maxRequests) {
      const batch = phases[phaseIndex]!.parallel
      await Promise.all(Array.from({ length: batch }, () => one(i, ++n)))
      const think = phases[phaseIndex]!.thinkMillis
      if (think > 0) await new Promise((resolve) => setTimeout(resolve, think))
    }
  }

  const one = async (i: number, n: number) => {
    const key = `chaos-${i}`
    {
      sent++
      const symbol = symbols[n % symbols.length]!
      const r = n % 20
      let path = `/marketdata/quote/${symbol}`
      let init: RequestInit = { headers: { "x-api-key": key } }
      const isOrder = r >= 12 && r < 16
      if (r < 3) path = `/marketdata/bars/${symbol}?timeframe=1h&limit=10`
      else if (isOrder) {
        path = "/orders"
        init = {
          method: "POST",
          headers: { "x-api-key": key, "content-type": "application/json" },
          body: JSON.stringify({ symbol, side: n % 2 === 0 ? "buy" : "sell", qty: 1, type: "market" })
        }
      } else if (r === 16) path = "/account"
      else if (r === 17) path = "/positions"
      try {
        const res = await fetch(url + path, { ...init, signal: AbortSignal.timeout(15_000) })
        await res.arrayBuffer()
        const status = res.status
        record((c) => {
          if (status < 400) {
            c.ok++
            if (isOrder && status === 201) c.ordersPlaced++
          } else if (status === 429) c.rateLimited++
          else if (status === 503) c.unavailable++
          else if (status === 504) c.timeouts++
          else c.otherErrors++
        })
      } catch {
        record((c) => c.failedToConnect++)
      }
    }
  }

  const header = `${padEnd("t(s)", 5)}${padEnd("phase", 15)}${pad("req", 6)}${pad("2xx", 6)}${pad("429", 6)}${
    pad("503", 6)
  }${pad("504", 5)}${pad("err", 5)}${pad("retry", 7)}${
    pad("rejct", 7)
  }   breakers (broker reads / orders / market data)`
  log(header)
  log("-".repeat(header.length))

  // The gateway's retry and rejection counters are cumulative since it
  // started (demo traffic, earlier runs): every row, the first included, shows
  // what changed during its own second.
  const providerTotals = async () => {
    const state = await json<StateBody>(url, "/dashboard/state")
    let retries = 0
    let rejections = 0
    for (const p of state?.state.providerStats ?? []) {
      retries += p.retries
      rejections += p.breakerRejections + p.bulkheadRejections + p.limiterRejections
    }
    return { retries, rejections }
  }
  let { rejections: lastRejections, retries: lastRetries } = await providerTotals()
  const started = Date.now()
  // the phase this second started in (a phase begins on a tick)
  let rowPhase = phases[0]!.name
  const sampler = async (second: number) => {
    // this second's requests and phase, taken at the tick (the reads below take time)
    const counts = window
    window = zero()
    const phase = rowPhase
    rowPhase = phases[phaseIndex]!.name
    const status = await json<StatusBody>(url, "/resilience/status")
    const { rejections, retries } = await providerTotals()
    const breakers: Record<string, string> = {}
    for (const b of status?.breakers ?? []) breakers[b.name] = b.state
    const row: Row = {
      second,
      phase,
      counts,
      breakers,
      retries: retries - lastRetries,
      rejections: rejections - lastRejections
    }
    lastRetries = retries
    lastRejections = rejections
    timeline.push(row)
    const states = ["simulated/broker_api", "simulated/order_execution", "simulated/market_data"]
      .map((name) => padEnd(SHORT[breakers[name] ?? ""] ?? "-", 6)).join(" ")
    const c = row.counts
    log(
      `${padEnd(second, 5)}${padEnd(row.phase, 15)}${pad(c.requests, 6)}${pad(c.ok, 6)}${pad(c.rateLimited, 6)}${
        pad(c.unavailable, 6)
      }${pad(c.timeouts, 5)}${pad(c.otherErrors + c.failedToConnect, 5)}${pad(row.retries, 7)}${
        pad(row.rejections, 7)
      }   ${states}`
    )
  }

  const workers = Array.from({ length: clients }, (_, i) => client(i))
  let second = 0
  const ticker = setInterval(() => {
    second++
    void sampler(second)
  }, 1000)
  try {
    for (let i = 0; i < phases.length; i++) {
      phaseIndex = i
      await phases[i]!.enter(url)
      await new Promise((resolve) => setTimeout(resolve, phaseMillis))
      if (sent >= maxRequests) break
    }
  } finally {
    stopped = true
    clearInterval(ticker)
    await Promise.all(workers)
    await admin(url, "DELETE", "/admin/faults").catch(() => undefined)
  }
  const bookAfter = await json<{ orders: number; duplicates: number }>(url, "/admin/broker/book")
  const state = await json<StateBody>(url, "/dashboard/state")
  const transitions = Object.values(state?.state.history ?? {}).reduce((n, list) => n + list.length, 0)
  const book = bookAfter === undefined ? undefined : {
    orders: bookAfter.orders - (bookBefore?.orders ?? 0),
    duplicates: bookAfter.duplicates - (bookBefore?.duplicates ?? 0)
  }

  log("")
  log(
    `${padEnd("phase", 15)}${pad("requests", 9)}${pad("2xx", 7)}${pad("429", 7)}${pad("503", 7)}${pad("504", 6)}${
      pad("other", 7)
    }${pad("orders", 8)}`
  )
  for (const p of [...phaseCounts, { name: "total", counts: total }]) {
    const c = p.counts
    log(
      `${padEnd(p.name, 15)}${pad(c.requests, 9)}${pad(c.ok, 7)}${pad(c.rateLimited, 7)}${pad(c.unavailable, 7)}${
        pad(c.timeouts, 6)
      }${pad(c.otherErrors + c.failedToConnect, 7)}${pad(c.ordersPlaced, 8)}`
    )
  }
  log("")
  log(`Summary (${((Date.now() - started) / 1000).toFixed(1)} s, ${clients} clients):`)
  log(
    `  requests ${total.requests} · 2xx ${total.ok} · 429 ${total.rateLimited} · 503 ${total.unavailable} · 504 ${total.timeouts} · other ${
      total.otherErrors + total.failedToConnect
    }`
  )
  log(
    `  orders placed (201) ${total.ordersPlaced} · orders in the broker's book ${
      book?.orders ?? "?"
    } · breaker transitions ${transitions}`
  )
  log(
    `  duplicate orders ${book?.duplicates ?? "?"} ${
      book?.duplicates === 0 ? "(none: every logical order was placed at most once)" : "(MUST be 0)"
    }`
  )
  return { timeline, phases: phaseCounts, total, book, breakerTransitions: transitions }
}
