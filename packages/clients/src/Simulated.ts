/**
 * Simulated broker and market-data providers, with fault injection you can
 * change while they run. They need no keys: the gateway uses them by
 * default, and tests use them as peers.
 *
 * The simulator implements the raw `BrokerApi` / `MarketDataApi` and is
 * wrapped by the same policy and idempotent-order code as the real
 * providers, so what a test shows about them holds for Alpaca and IB too.
 *
 * Faults (`SimulatedFaults`): an error rate (503 before the call is
 * processed), a latency distribution (base + uniform jitter + occasional
 * spikes), bursts of 429 with `Retry-After`, full outages (connection
 * refused), "timeout after accept" (the order is booked at the broker, then
 * the reply never comes: the caller sees its timeout), and slow quotes.
 * The outage, the 503s and the latency spikes are core's `FaultInjection`s
 * (`SimulatedInjections`), so they are counted and traced as any injection.
 * Everything runs on the fiber's `Clock` and a seeded `Random`, so a test
 * under `TestClock` is deterministic.
 *
 * The simulated broker rejects a second submission with a client order id it
 * already holds, as Alpaca does (422 `OrderRejectedError` with
 * `duplicate: true`), and counts those rejections (`duplicatesRejected`): a
 * second line of defence, whose firing a test can see. With
 * `rejectDuplicateClientOrderIds: false` it books every submission instead,
 * so a test can count duplicates in the book.
 *
 * The simulated data provider does work proportional to what it returns:
 * `bars` computes only the bars it answers with (at most `maxBarsPerCall`,
 * the latest of the range), whatever the range, and lets the event loop run
 * every `barsChunk` bars.
 *
 * @since 0.1.0
 */
import * as FaultInjection from "@effect-resilience/core/FaultInjection"
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import type { BrokerApi } from "./BrokerClient.js"
import { BrokerClient } from "./BrokerClient.js"
import {
  InsufficientFundsError,
  OrderNotFoundError,
  OrderRejectedError,
  ProviderBadRequestError,
  ProviderEntitlementError,
  type ProviderError,
  ProviderRateLimitedError,
  ProviderUnavailableError,
  UnknownSymbolError
} from "./ClientError.js"
import * as Http from "./internal/http.js"
import { makeBrokerClient, makeMarketDataClient } from "./internal/resilient.js"
import type { MarketDataApi } from "./MarketDataClient.js"
import { MarketDataClient } from "./MarketDataClient.js"
import { Account, Bar, isOpenStatus, Order, Position, Quote, type Timeframe } from "./Models.js"
import * as ProviderPolicy from "./ProviderPolicy.js"

/**
 * The latency of each simulated call: `base` + uniform `[0, jitter)` + (with
 * probability `spikeRate`) `spike`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Latency {
  readonly base: Duration.Duration
  readonly jitter: Duration.Duration
  readonly spikeRate: number
  readonly spike: Duration.Duration
}

/**
 * The faults in force.
 *
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  /** Probability that a call fails with a 503 before it is processed. @default 0 */
  readonly errorRate: number
  /** @default no latency */
  readonly latency: Latency
  /** The next this-many calls get a 429 with `rateLimitRetryAfter`. @default 0 */
  readonly rateLimitBurst: number
  /** @default 1 second */
  readonly rateLimitRetryAfter: Duration.Duration
  /** Every call fails as a refused connection. @default false */
  readonly outage: boolean
  /**
   * Probability that an order is booked and then its reply is lost: the call
   * hangs for `hangFor` and then fails as a connection reset. @default 0
   */
  readonly timeoutAfterAcceptRate: number
  /** How long a lost reply hangs (longer than the order timeout). @default 5 minutes */
  readonly hangFor: Duration.Duration
  /** Extra latency of every quote. @default 0 */
  readonly slowQuotes: Duration.Duration
  /**
   * Quotes are refused as a plan without them is (Polygon's 403
   * `NOT_AUTHORIZED`): `ProviderEntitlementError`. @default false
   */
  readonly notEntitled?: boolean | undefined
}

/**
 * No faults at all.
 *
 * @since 0.1.0
 * @category constants
 */
export const noFaults: Faults = {
  errorRate: 0,
  latency: { base: Duration.zero, jitter: Duration.zero, spikeRate: 0, spike: Duration.zero },
  rateLimitBurst: 0,
  rateLimitRetryAfter: Duration.seconds(1),
  outage: false,
  timeoutAfterAcceptRate: 0,
  hangFor: Duration.minutes(5),
  slowQuotes: Duration.zero
}

/**
 * Change the simulators' faults at run time.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultInjector {
  readonly get: Effect.Effect<Faults>
  /** Merge a patch into the faults in force. */
  readonly set: (patch: Partial<Faults>) => Effect.Effect<void>
  /** Back to `noFaults` (or the layer's initial faults). */
  readonly reset: Effect.Effect<void>
  /** The next `calls` calls get a 429 with this `Retry-After`. */
  readonly rateLimitBurst: (calls: number, retryAfter: Duration.DurationInput) => Effect.Effect<void>
  /** Start (`true`) or end a full outage. */
  readonly outage: (on: boolean) => Effect.Effect<void>
  /** Core's `FaultInjection`s that carry the random faults in force (see `SimulatedInjections`). */
  readonly injections: Effect.Effect<SimulatedInjections>
}

/**
 * The simulators' random faults as core's `FaultInjection` policies, so they
 * report as any injection does (`resilience_fault_injections_total` with
 * `service` `simulated-outage`, `simulated-errors` or `simulated-latency-spikes`,
 * and a span event): `outage` a failure at rate 1 switched by its `Ref`,
 * `errors` the 503s at `errorRate`, `spikes` the latency spikes at
 * `latency.spikeRate`. An injection's rate is fixed, so `errors` and `spikes`
 * are rebuilt when their rate or spike changes.
 *
 * @since 0.2.0
 * @category models
 */
export interface SimulatedInjections {
  readonly outage: FaultInjection.FaultInjection<ProviderUnavailableError>
  readonly errors: FaultInjection.FaultInjection<ProviderUnavailableError>
  readonly spikes: FaultInjection.FaultInjection
}

/**
 * The fault injector shared by the simulated providers of an environment.
 *
 * @since 0.1.0
 * @category tags
 */
export class SimulatedFaults extends Context.Tag("@effect-resilience/clients/Simulated/SimulatedFaults")<
  SimulatedFaults,
  FaultInjector
>() {}

/**
 * Make a fault injector starting from `initial` (merged over `noFaults`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFaults = (initial: Partial<Faults> = {}): Effect.Effect<FaultInjector> =>
  Effect.gen(function*() {
    const start: Faults = { ...noFaults, ...initial }
    const provider = "simulated"
    // the admin routes validate rates; a direct `set` out of [0, 1] keeps its old meaning (never / always)
    const clamp = (rate: number) => rate > 1 ? 1 : rate > 0 ? rate : 0
    const errorsAt = (rate: number) =>
      Effect.orDie(FaultInjection.failure({
        rate: clamp(rate),
        enabled: rate > 0,
        name: "simulated-errors",
        error: () =>
          new ProviderUnavailableError({ provider, reason: "503 Service Unavailable", status: 503, sent: true })
      }))
    const spikesOf = (latency: Latency) =>
      Effect.orDie(FaultInjection.latency({
        rate: clamp(latency.spikeRate),
        latency: latency.spike,
        enabled: latency.spikeRate > 0,
        name: "simulated-latency-spikes"
      }))
    const outage = yield* Effect.orDie(FaultInjection.failure({
      rate: 1,
      enabled: start.outage,
      name: "simulated-outage",
      error: () => new ProviderUnavailableError({ provider, reason: "connection refused (outage)", sent: false })
    }))
    let current = start
    let injections: SimulatedInjections = {
      outage,
      errors: yield* errorsAt(start.errorRate),
      spikes: yield* spikesOf(start.latency)
    }
    const lock = yield* Effect.makeSemaphore(1)
    // One change at a time: the state and the injections built from it move together.
    const apply = (next: (faults: Faults) => Faults) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const before = current
        const after = next(before)
        current = after
        if (after.outage !== before.outage) yield* Ref.set(outage.enabled, after.outage)
        if (after.errorRate !== before.errorRate) {
          injections = { ...injections, errors: yield* errorsAt(after.errorRate) }
        }
        if (
          after.latency.spikeRate !== before.latency.spikeRate ||
          !Duration.equals(after.latency.spike, before.latency.spike)
        ) {
          injections = { ...injections, spikes: yield* spikesOf(after.latency) }
        }
      }))
    return {
      get: Effect.sync(() => current),
      set: (patch) => apply((faults) => ({ ...faults, ...patch })),
      reset: apply(() => start),
      rateLimitBurst: (calls, retryAfter) =>
        apply((faults) => ({ ...faults, rateLimitBurst: calls, rateLimitRetryAfter: Duration.decode(retryAfter) })),
      outage: (on) => apply((faults) => ({ ...faults, outage: on })),
      injections: Effect.sync(() => injections)
    }
  })

/**
 * The fault injector as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFaults = (initial: Partial<Faults> = {}): Layer.Layer<SimulatedFaults> =>
  Layer.effect(SimulatedFaults, makeFaults(initial))

/**
 * What the simulated broker holds, for tests and dashboards.
 *
 * @since 0.1.0
 * @category models
 */
export interface BrokerState {
  /** Every order booked, in booking order (duplicates included). */
  readonly orders: Effect.Effect<ReadonlyArray<Order>>
  /** Calls that reached the broker (after outage / 429 / error faults), by method. */
  readonly calls: Effect.Effect<Readonly<Record<string, number>>>
  /** Submissions refused because their client order id was already booked. */
  readonly duplicatesRejected: Effect.Effect<number>
}

/**
 * The simulated broker's book.
 *
 * @since 0.1.0
 * @category tags
 */
export class SimulatedBroker extends Context.Tag("@effect-resilience/clients/Simulated/SimulatedBroker")<
  SimulatedBroker,
  BrokerState
>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Seed of the simulator's `Random`. @default 42 */
  readonly seed?: number | undefined
  /** Symbols the simulator knows, with their reference prices. @default a few US equities and FX pairs */
  readonly symbols?: Readonly<Record<string, number>> | undefined
  /** @default 100,000 */
  readonly startingCash?: number | undefined
  /**
   * Fractional quantities are accepted. When `false`, a fractional order is
   * refused as Alpaca refuses it (403, code 40310000): `OrderRejectedError`
   * with that code. @default true
   */
  readonly fractionalTrading?: boolean | undefined
  readonly policy?: ProviderPolicy.Overrides | undefined
  /**
   * Refuse a submission whose client order id is already booked (422
   * `OrderRejectedError`, `duplicate: true`), as Alpaca does. `false` books
   * it again: a witness for tests that count duplicates.
   *
   * @default true
   */
  readonly rejectDuplicateClientOrderIds?: boolean | undefined
}

/**
 * What the simulated data provider has done, for tests and the gateway's
 * admin API.
 *
 * @since 0.1.0
 * @category models
 */
export interface MarketDataState {
  /** Bars computed since start (every bar returned is computed once; nothing else is). */
  readonly barsGenerated: Effect.Effect<number>
  /** `bars` calls that reached the simulator. */
  readonly barsCalls: Effect.Effect<number>
}

/**
 * The simulated data provider's counters.
 *
 * @since 0.1.0
 * @category tags
 */
export class SimulatedMarketData extends Context.Tag("@effect-resilience/clients/Simulated/SimulatedMarketData")<
  SimulatedMarketData,
  MarketDataState
>() {}

/**
 * The most bars one simulated `bars` call computes and returns: the latest
 * ones of the range when it holds more.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxBarsPerCall = 10_000

/**
 * The simulated `bars` call lets the event loop run after computing this many
 * bars (a few milliseconds of work), so a large answer never holds it for long.
 *
 * @since 0.1.0
 * @category constants
 */
export const barsChunk = 250

/**
 * Let the event loop run (timers, I/O: other requests) before going on: a
 * macrotask, unlike `Effect.yieldNow`, which Effect's scheduler resumes on a
 * microtask. Independent of the `Clock`, so it works under `TestClock`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * The grid of bars a query answers with, without computing any bar: the
 * timestamp of the first one and how many there are (the latest `limit`, at
 * most `maxBarsPerCall`, of the bars in `[from, to]` on the timeframe's
 * grid). O(1) whatever the range.
 *
 * @since 0.1.0
 * @category constructors
 */
export const barGrid = (
  step: number,
  window: { readonly from: number; readonly to: number },
  limit: number | undefined
): { readonly start: number; readonly count: number } => {
  if (!Number.isFinite(window.from) || !Number.isFinite(window.to) || !(step > 0)) return { start: 0, count: 0 }
  const first = Math.ceil(window.from / step) * step
  const last = Math.floor(window.to / step) * step
  if (last < first) return { start: 0, count: 0 }
  const inRange = Math.floor((last - first) / step) + 1
  const cap = limit === undefined || Number.isNaN(limit) ? maxBarsPerCall : Math.max(0, Math.floor(limit))
  const count = Math.min(inRange, cap, maxBarsPerCall)
  return { start: last - (count - 1) * step, count }
}

/**
 * Default symbols and reference prices.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSymbols: Readonly<Record<string, number>> = {
  AAPL: 190,
  MSFT: 410,
  SPY: 500,
  TSLA: 240,
  EURUSD: 1.09,
  GBPUSD: 1.27,
  USDJPY: 150
}

/**
 * The simulators' default policy: the broker profiles, no quota.
 *
 * @since 0.1.0
 * @category policy
 */
export const brokerPolicy: ProviderPolicy.ProviderPolicy = ProviderPolicy.broker("simulated")

/**
 * The simulated data provider's default policy: market_data retry and
 * timeout, no quota.
 *
 * @since 0.1.0
 * @category policy
 */
export const marketDataPolicy: ProviderPolicy.ProviderPolicy = ProviderPolicy.dataProvider("simulated")

// A deterministic price path: a slow wave plus a hash-seeded phase per symbol.
const priceAt = (reference: number, symbol: string, millis: number): number => {
  let h = 0
  for (let i = 0; i < symbol.length; i++) h = (h * 31 + symbol.charCodeAt(i)) | 0
  const t = millis / 3_600_000
  return reference * (1 + 0.02 * Math.sin(t / 7 + h) + 0.005 * Math.sin(t * 1.7 + h / 3))
}

const round = (n: number, reference: number) => {
  const digits = reference < 10 ? 5 : 2
  return Number(n.toFixed(digits))
}

/**
 * Apply the call-level faults every simulated call sees. The outage, the 503s
 * and the latency spikes are core's `FaultInjection`s (a rate and a switch);
 * the 429 burst stays here: it is a countdown of calls (state beyond a rate),
 * which no fixed-rate injection expresses. The base latency and jitter are
 * the simulated network, not a fault.
 */
const faulted = <A, E>(
  injector: FaultInjector,
  random: Random.Random,
  provider: string,
  extraLatency: (faults: Faults) => Duration.Duration,
  self: Effect.Effect<A, E>
): Effect.Effect<A, E | ProviderError> =>
  Effect.flatMap(injector.injections, ({ errors, outage, spikes }) =>
    // the outage draws from the fiber's Random (at rate 1 the draw decides nothing); the others from the
    // simulator's seeded one, in the order the simulator always drew (jitter, spike, error)
    outage.execute(Effect.gen(function*() {
      const faults = yield* injector.get
      if (faults.rateLimitBurst > 0) {
        yield* injector.set({ rateLimitBurst: faults.rateLimitBurst - 1 })
        return yield* new ProviderRateLimitedError({ provider, retryAfter: faults.rateLimitRetryAfter, reason: "429" })
      }
      const l = faults.latency
      let delay = Duration.toMillis(l.base) + Duration.toMillis(extraLatency(faults))
      if (Duration.toMillis(l.jitter) > 0) delay += (yield* random.next) * Duration.toMillis(l.jitter)
      if (delay > 0) yield* Effect.sleep(Duration.millis(delay))
      return yield* Effect.withRandom(spikes.execute(errors.execute(self)), random)
    })))

// The refusals the real providers answer with (test/fixtures/*.json), so that callers of the simulators
// (the gateway) meet the same typed errors as against the real APIs.
const withOrderRules = (api: BrokerApi, options: Options): BrokerApi =>
  options.fractionalTrading === false
    ? {
      ...api,
      submitOrder: (order) =>
        Number.isInteger(order.qty)
          ? api.submitOrder(order)
          : Effect.fail(
            new OrderRejectedError({
              provider: api.provider,
              reason: "fractional trading is not enabled for this account",
              code: 40310000,
              clientOrderId: order.clientOrderId
            })
          )
    }
    : api

const withParameterChecks = (injector: FaultInjector, api: MarketDataApi): MarketDataApi => ({
  ...api,
  // A range that ends before it starts: Polygon answers 400, so does the simulator.
  bars: (symbol, timeframe, query) =>
    query?.from !== undefined && query.to !== undefined && query.from.getTime() > query.to.getTime()
      ? Effect.fail(
        new ProviderBadRequestError({
          provider: api.provider,
          status: 400,
          reason: `from (${query.from.toISOString()}) is after to (${query.to.toISOString()})`
        })
      )
      : api.bars(symbol, timeframe, query),
  latestQuote: (symbol) =>
    Effect.flatMap(injector.get, (faults) =>
      faults.notEntitled === true
        ? Effect.fail(
          new ProviderEntitlementError({
            provider: api.provider,
            plan: "simulated",
            requires: "a plan with quotes",
            reason: "You are not entitled to this data. Please upgrade your plan"
          })
        )
        : api.latestQuote(symbol))
})

/**
 * The raw simulated broker and its book.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeBrokerApi = (
  options: Options = {}
): Effect.Effect<{ readonly api: BrokerApi; readonly state: BrokerState }, never, SimulatedFaults> =>
  Effect.gen(function*() {
    const injector = yield* SimulatedFaults
    const random = Random.make(options.seed ?? 42)
    const symbols = options.symbols ?? defaultSymbols
    const provider = "simulated"
    const book: Array<Order> = []
    const byId = new Map<string, Order>()
    const byClientId = new Map<string, Order>()
    // Kept as orders are booked, so reads cost what they return, not the size of the book.
    const open = new Map<string, Order>()
    const bookIndex = new Map<string, number>()
    const net = new Map<string, { qty: number; cost: number }>()
    const rejectDuplicates = options.rejectDuplicateClientOrderIds ?? true
    let duplicatesRejected = 0
    const calls: Record<string, number> = {}
    let cash = options.startingCash ?? 100_000
    let nextId = 1

    const hit = (method: string) =>
      Effect.sync(() => {
        calls[method] = (calls[method] ?? 0) + 1
      })
    const guard = <A, E>(method: string, self: Effect.Effect<A, E>) =>
      faulted(injector, random, provider, () => Duration.zero, Effect.zipRight(hit(method), self))

    const api: BrokerApi = {
      provider,
      submitOrder: (request) =>
        guard(
          "submitOrder",
          Effect.gen(function*() {
            const reference = symbols[request.symbol]
            if (reference === undefined) return yield* new UnknownSymbolError({ provider, symbol: request.symbol })
            if (rejectDuplicates && byClientId.has(request.clientOrderId)) {
              duplicatesRejected++
              return yield* new OrderRejectedError({
                provider,
                reason: "client_order_id must be unique",
                clientOrderId: request.clientOrderId,
                duplicate: true
              })
            }
            const now = yield* Clock.currentTimeMillis
            const market = round(priceAt(reference, request.symbol, now), reference)
            const fills = request.type === "market" ||
              (request.side === "buy" ? request.limitPrice! >= market : request.limitPrice! <= market)
            const price = request.type === "market" ? market : request.limitPrice!
            if (!Number.isFinite(request.qty * price)) {
              return yield* new OrderRejectedError({ provider, reason: "the order's notional value is not finite" })
            }
            if (request.side === "buy" && request.qty * price > cash) {
              return yield* new InsufficientFundsError({
                provider,
                reason: `order needs ${(request.qty * price).toFixed(2)}, cash is ${cash.toFixed(2)}`
              })
            }
            if (fills) cash += (request.side === "buy" ? -1 : 1) * request.qty * price
            const order = new Order({
              id: `sim-${nextId++}`,
              clientOrderId: request.clientOrderId,
              symbol: request.symbol,
              side: request.side,
              qty: request.qty,
              type: request.type,
              ...(request.limitPrice !== undefined ? { limitPrice: request.limitPrice } : {}),
              timeInForce: request.timeInForce,
              status: fills ? "filled" : "accepted",
              filledQty: fills ? request.qty : 0,
              ...(fills ? { filledAvgPrice: price } : {}),
              submittedAt: new Date(now)
            })
            bookIndex.set(order.id, book.length)
            book.push(order)
            byId.set(order.id, order)
            if (isOpenStatus(order.status)) open.set(order.id, order)
            if (fills) {
              const p = net.get(order.symbol) ?? { qty: 0, cost: 0 }
              const signed = order.side === "buy" ? order.qty : -order.qty
              net.set(order.symbol, { qty: p.qty + signed, cost: p.cost + signed * price })
            }
            if (!byClientId.has(order.clientOrderId)) byClientId.set(order.clientOrderId, order)
            // Not a FaultInjection: the order is booked first, then the reply is lost (state beyond a rate,
            // and the fault sits inside the call, not around it).
            const faults = yield* injector.get
            if (faults.timeoutAfterAcceptRate > 0 && (yield* random.next) < faults.timeoutAfterAcceptRate) {
              // Booked, but the reply is lost: the caller's own timeout fires first.
              yield* Effect.sleep(faults.hangFor)
              return yield* new ProviderUnavailableError({
                provider,
                reason: "connection reset after the order was accepted",
                sent: true
              })
            }
            return order
          })
        ),
      cancelOrder: (orderId) =>
        guard(
          "cancelOrder",
          Effect.suspend((): Effect.Effect<void, ProviderError> => {
            const order = byId.get(orderId)
            if (order === undefined) return Effect.fail(new OrderNotFoundError({ provider, orderId }))
            if (!isOpenStatus(order.status)) {
              return Effect.fail(new OrderRejectedError({ provider, reason: `order is ${order.status}` }))
            }
            const canceled = new Order({ ...order, status: "canceled" })
            byId.set(orderId, canceled)
            open.delete(orderId)
            if (byClientId.get(order.clientOrderId) === order) byClientId.set(order.clientOrderId, canceled)
            book[bookIndex.get(orderId)!] = canceled
            return Effect.void
          })
        ),
      getOrder: (orderId) =>
        guard(
          "getOrder",
          Effect.suspend(() => {
            const order = byId.get(orderId)
            return order === undefined
              ? Effect.fail(new OrderNotFoundError({ provider, orderId }))
              : Effect.succeed(order)
          })
        ),
      getOrderByClientOrderId: (clientOrderId) =>
        guard(
          "getOrderByClientOrderId",
          Effect.sync(() => Option.fromNullable(byClientId.get(clientOrderId)))
        ),
      listOpenOrders: guard("listOpenOrders", Effect.sync(() => [...open.values()])),
      positions: guard(
        "positions",
        Effect.map(Clock.currentTimeMillis, (now) =>
          [...net].filter(([, p]) => p.qty !== 0).map(([symbol, p]) => {
            const reference = symbols[symbol] ?? 1
            const current = round(priceAt(reference, symbol, now), reference)
            const avg = p.cost / p.qty
            return new Position({
              symbol,
              qty: p.qty,
              side: p.qty < 0 ? "short" : "long",
              avgEntryPrice: avg,
              currentPrice: current,
              marketValue: p.qty * current,
              unrealizedPnl: p.qty * (current - avg)
            })
          }))
      ),
      account: guard(
        "account",
        Effect.sync(() =>
          new Account({ id: "SIM-0001", currency: "USD", cash, buyingPower: cash, equity: cash, status: "ACTIVE" })
        )
      )
    }
    const state: BrokerState = {
      orders: Effect.sync(() => [...book]),
      calls: Effect.sync(() => ({ ...calls })),
      duplicatesRejected: Effect.sync(() => duplicatesRejected)
    }
    return { api: withOrderRules(api, options), state }
  })

/**
 * The raw simulated data provider and its counters.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMarketData = (
  options: Options = {}
): Effect.Effect<{ readonly api: MarketDataApi; readonly state: MarketDataState }, never, SimulatedFaults> =>
  Effect.gen(function*() {
    const injector = yield* SimulatedFaults
    const random = Random.make((options.seed ?? 42) + 1)
    const symbols = options.symbols ?? defaultSymbols
    const provider = "simulated"
    let barsGenerated = 0
    let barsCalls = 0
    const known = (symbol: string) =>
      symbols[symbol] === undefined
        ? Effect.fail(new UnknownSymbolError({ provider, symbol }))
        : Effect.succeed(symbols[symbol]!)
    const barAt = (symbol: string, timeframe: Timeframe, reference: number, step: number, t: number): Bar => {
      const open = priceAt(reference, symbol, t)
      const close = priceAt(reference, symbol, t + step)
      const wiggle = Math.abs(close - open) * 0.5 + reference * 0.0005
      // Built from finite numbers we computed: skip the constructor's validation (most of a bar's cost).
      return new Bar({
        symbol,
        timeframe,
        timestamp: new Date(t),
        open: round(open, reference),
        high: round(Math.max(open, close) + wiggle, reference),
        low: round(Math.min(open, close) - wiggle, reference),
        close: round(close, reference),
        volume: Math.round(1000 + 1000 * Math.abs(Math.sin(t / step)))
      }, true)
    }
    const api: MarketDataApi = {
      provider,
      bars: (symbol, timeframe, query = {}) =>
        faulted(
          injector,
          random,
          provider,
          () => Duration.zero,
          Effect.gen(function*() {
            const reference = yield* known(symbol)
            barsCalls++
            const step = Http.timeframeMillis[timeframe]
            const window = yield* Http.windowOf(timeframe, query)
            // Only the bars answered are computed: O(limit), never O(range).
            const { count, start } = barGrid(step, window, query.limit)
            const bars: Array<Bar> = new Array(count)
            for (let i = 0; i < count; i++) {
              if (i > 0 && i % barsChunk === 0) yield* yieldToEventLoop
              bars[i] = barAt(symbol, timeframe, reference, step, start + i * step)
              barsGenerated++
            }
            return bars
          })
        ),
      latestQuote: (symbol) =>
        faulted(
          injector,
          random,
          provider,
          (faults) => faults.slowQuotes,
          Effect.gen(function*() {
            const reference = yield* known(symbol)
            const now = yield* Clock.currentTimeMillis
            const price = priceAt(reference, symbol, now)
            const half = reference * 0.0001
            return new Quote({
              symbol,
              bid: round(price - half, reference),
              ask: round(price + half, reference),
              price: round(price, reference),
              bidSize: 100,
              askSize: 100,
              timestamp: new Date(now)
            })
          })
        )
    }
    const state: MarketDataState = {
      barsGenerated: Effect.sync(() => barsGenerated),
      barsCalls: Effect.sync(() => barsCalls)
    }
    return { api, state }
  })

/**
 * The raw simulated data provider.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMarketDataApi = (options: Options = {}): Effect.Effect<MarketDataApi, never, SimulatedFaults> =>
  Effect.map(makeMarketData(options), ({ api }) => api)

/**
 * The simulated `BrokerClient` and its book (`SimulatedBroker`), with the
 * broker policy (overridable). Needs `SimulatedFaults`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerBroker = (
  options: Options = {}
): Layer.Layer<BrokerClient | SimulatedBroker, InvalidOptionsError, SimulatedFaults> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const { api, state } = yield* makeBrokerApi(options)
      const client = yield* makeBrokerClient(api, brokerPolicy, options.policy)
      return Context.make(BrokerClient, client).pipe(Context.add(SimulatedBroker, state))
    })
  )

/**
 * The simulated `MarketDataClient` and its counters
 * (`SimulatedMarketData`). Needs `SimulatedFaults`. It refuses as the real
 * providers do (a reversed range, the `notEntitled` fault).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMarketData = (
  options: Options = {}
): Layer.Layer<MarketDataClient | SimulatedMarketData, InvalidOptionsError, SimulatedFaults> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const { api, state } = yield* makeMarketData(options)
      const client = yield* makeMarketDataClient(
        withParameterChecks(yield* SimulatedFaults, api),
        marketDataPolicy,
        options.policy
      )
      return Context.make(MarketDataClient, client).pipe(Context.add(SimulatedMarketData, state))
    })
  )

/**
 * Both simulated providers sharing one fault injector (also provided).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options & {
    readonly faults?: Partial<Faults> | undefined
    readonly marketDataPolicy?: ProviderPolicy.Overrides | undefined
  } = {}
): Layer.Layer<
  BrokerClient | SimulatedBroker | MarketDataClient | SimulatedMarketData | SimulatedFaults,
  InvalidOptionsError
> =>
  Layer.mergeAll(
    layerBroker(options),
    layerMarketData({ ...options, policy: options.marketDataPolicy })
  ).pipe(Layer.provideMerge(layerFaults(options.faults)))
