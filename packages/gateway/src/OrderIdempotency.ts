/**
 * Idempotent order placement on the client's id: the gateway's first line of
 * defence against a duplicate order (the broker's own duplicate check, and
 * `IdempotentOrders`' lookup before any resend, are the second).
 *
 * A `POST /orders` carrying a `clientOrderId` the gateway has seen:
 *
 * - while the first placement with that id is still running, waits for it
 *   (single-flight per id: two simultaneous requests make one order at the
 *   broker) and answers with its outcome;
 * - after it succeeded, answers `200` with the order as it was first returned
 *   (same id, same body; the first request got `201`) and the header
 *   `Idempotent-Replayed: true`, without calling the broker;
 * - with a different order (symbol, side, qty, type, limitPrice,
 *   timeInForce), fails with `409 ClientOrderIdConflict` and places nothing.
 *
 * A placement that failed definitively (rejected, breaker open, bulkhead full,
 * throttled: the broker did not take it) forgets the id, so the client may
 * retry it. One whose outcome is unknown (a lost reply, `OrderStatusUnknown`,
 * a timeout, a 502) keeps it "in doubt": the next request with that id first
 * asks the broker for it and returns what the broker holds (`200`), placing
 * it only when the broker has none.
 *
 * Placements run in the service's scope, not the request's: a client that
 * disconnects does not interrupt an order half-way. One the scope interrupts
 * (shutdown) is answered `OrderStatusUnknown` and its id kept in doubt.
 *
 * Memory: at most `maxIds` ids are remembered (LRU over completed
 * placements; ~0.5 KB each, so the default 50,000 is ~25 MB). An id evicted
 * from the table is still protected by the broker's duplicate check, and the
 * order the broker returns is checked against the request (a different one
 * is a `409`).
 *
 * @since 0.1.0
 */
import { BrokerClient } from "@effect-resilience/clients/BrokerClient"
import type { Order, OrderRequest } from "@effect-resilience/clients/Models"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as HttpErrors from "./HttpErrors.js"

/**
 * What a placement answers: the order, and whether it is a replay of an
 * earlier request with the same client order id (`200`) or a new placement
 * (`201`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Placed {
  readonly order: Order
  readonly replayed: boolean
}

/**
 * The errors of an idempotent placement.
 *
 * @since 0.1.0
 * @category errors
 */
export type PlaceError = HttpErrors.OrderHttpError | HttpErrors.ClientOrderIdConflict

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Place an order at most once per client order id (see the module doc). */
  readonly place: (request: OrderRequest) => Effect.Effect<Placed, PlaceError>
  /** Ids remembered now (completed and in flight). */
  readonly size: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class OrderIdempotency
  extends Context.Tag("@effect-resilience/gateway/OrderIdempotency")<OrderIdempotency, Service>()
{}

/**
 * The default number of client order ids remembered.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxIds = 50_000

interface Entry {
  readonly fingerprint: string
  readonly result: Deferred.Deferred<Order, PlaceError>
  done: boolean
  inDoubt: boolean
}

/**
 * What makes two requests "the same order".
 *
 * @since 0.1.0
 * @category fingerprint
 */
export const fingerprint = (request: OrderRequest): string =>
  JSON.stringify([
    request.symbol,
    request.side,
    request.qty,
    request.type,
    request.type === "limit" ? request.limitPrice ?? null : null,
    request.timeInForce
  ])

const sameOrder = (order: Order, request: OrderRequest): boolean =>
  order.symbol === request.symbol && order.side === request.side && order.qty === request.qty &&
  order.type === request.type && order.timeInForce === request.timeInForce &&
  (request.type !== "limit" || order.limitPrice === request.limitPrice)

// Failures after which the order may exist at the broker.
const isInDoubt = (error: PlaceError): boolean =>
  error._tag === "OrderStatusUnknown" || error._tag === "UpstreamTimeout" || error._tag === "BadGateway"

const conflict = (clientOrderId: string) =>
  new HttpErrors.ClientOrderIdConflict({
    clientOrderId,
    message:
      `clientOrderId "${clientOrderId}" was already used for a different order; use a new id for a new order, or ` +
      `GET /orders/by-client-id/${clientOrderId}`
  })

const newClientOrderId = (): string => `gw-${crypto.randomUUID()}`

/**
 * Build the service over the environment's `BrokerClient`; placements run in
 * the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: { readonly maxIds?: number | undefined } = {}
): Effect.Effect<Service, never, BrokerClient | Scope.Scope> =>
  Effect.gen(function*() {
    const broker = yield* BrokerClient
    const scope = yield* Effect.scope
    const maxIds = Math.max(1, Math.floor(options.maxIds ?? defaultMaxIds))
    // Insertion order is recency order: a hit is deleted and re-set.
    const table = new Map<string, Entry>()

    const evict = () => {
      if (table.size <= maxIds) return
      // Oldest first; entries still in flight are skipped (their number is bounded by the broker's bulkhead).
      let scanned = 0
      for (const [id, entry] of table) {
        if (table.size <= maxIds || scanned++ >= 64) break
        if (entry.done) table.delete(id)
      }
    }

    const placeNew = (request: OrderRequest & { readonly clientOrderId: string }) =>
      broker.placeOrder(request).pipe(Effect.catchAll(HttpErrors.fromOrderError))

    const lookupThenPlace = (request: OrderRequest & { readonly clientOrderId: string }, found: () => void) =>
      broker.getOrderByClientOrderId(request.clientOrderId).pipe(
        Effect.catchAll(HttpErrors.fromClientError),
        Effect.flatMap(Option.match({
          onNone: () => placeNew(request),
          onSome: (order) => Effect.as(Effect.sync(found), order)
        }))
      )

    // Uninterruptible from the table's update to the fork (an entry always gets its placement); waiting is
    // interruptible (`restore`).
    const place = (request: OrderRequest): Effect.Effect<Placed, PlaceError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          if (request.clientOrderId === undefined) {
            // The gateway's own id is new by construction: nothing to remember.
            return restore(Effect.map(
              placeNew({ ...request, clientOrderId: newClientOrderId() }),
              (order): Placed => ({ order, replayed: false })
            ))
          }
          const id = request.clientOrderId
          const print = fingerprint(request)
          const known = table.get(id)
          if (known !== undefined) {
            if (known.fingerprint !== print) return Effect.fail(conflict(id))
            if (!known.inDoubt) {
              table.delete(id)
              table.set(id, known)
              return restore(Effect.map(Deferred.await(known.result), (order): Placed => ({ order, replayed: true })))
            }
          }
          const lookupFirst = known !== undefined && known.inDoubt
          const entry: Entry = {
            fingerprint: print,
            result: Deferred.unsafeMake<Order, PlaceError>(FiberId.none),
            done: false,
            inDoubt: false
          }
          table.delete(id)
          table.set(id, entry)
          evict()
          const submission = { ...request, clientOrderId: id }
          let foundAtBroker = false
          const placement = (lookupFirst
            ? lookupThenPlace(submission, () => {
              foundAtBroker = true
            })
            : placeNew(submission)).pipe(
              // The broker may answer with an order it already had under this id (its duplicate check): it must be
              // this order.
              Effect.flatMap((order): Effect.Effect<Order, PlaceError> =>
                sameOrder(order, request) ? Effect.succeed(order) : Effect.fail(conflict(id))
              )
            )
          // The observer sees every end of the placement, an interruption before it even started included (a
          // scope closing at shutdown): the waiters are always answered and the table always updated.
          const settle = (exit: Exit.Exit<Order, PlaceError>) => {
            entry.done = true
            if (Exit.isSuccess(exit)) return Deferred.unsafeDone(entry.result, exit)
            if (Cause.isInterruptedOnly(exit.cause)) {
              // Stopped half-way (the gateway shutting down): the order may have reached the broker.
              entry.inDoubt = true
              return Deferred.unsafeDone(
                entry.result,
                Exit.fail(
                  new HttpErrors.OrderStatusUnknown({
                    clientOrderId: id,
                    message: `The placement of "${id}" was interrupted; look it up (GET /orders/by-client-id/${id}) ` +
                      "or send it again with the same clientOrderId"
                  })
                )
              )
            }
            const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
            if (failure !== undefined && isInDoubt(failure)) entry.inDoubt = true
            else if (table.get(id) === entry) table.delete(id)
            Deferred.unsafeDone(entry.result, exit)
          }
          // interruptible again inside: the scope closing, and the policies' timeouts, can interrupt it
          return Effect.flatMap(Effect.forkIn(Effect.interruptible(placement), scope), (fiber) => {
            fiber.addObserver(settle)
            return restore(
              Effect.map(Deferred.await(entry.result), (order): Placed => ({ order, replayed: foundAtBroker }))
            )
          })
        })
      )

    return { place, size: Effect.sync(() => table.size) }
  })

/**
 * The service as a layer (needs a `BrokerClient`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: { readonly maxIds?: number | undefined } = {}
): Layer.Layer<OrderIdempotency, never, BrokerClient> => Layer.scoped(OrderIdempotency, make(options))
