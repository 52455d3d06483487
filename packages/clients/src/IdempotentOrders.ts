/**
 * Order placement that never produces a duplicate order. Every broker client
 * places orders through `placeOrder` here; it is the one place this logic
 * lives.
 *
 * The rules:
 * 1. A logical order gets one client order id, generated once (from the
 *    fiber's `Random`) unless the caller gave one, and every retry reuses it.
 * 2. A failure after which the order may have reached the broker (a
 *    per-attempt timeout, a connection lost or a 5xx after the request was
 *    sent: `ClientError.isAmbiguous`) puts the order "in doubt". Before
 *    anything is resent, the broker is asked for the client order id; the
 *    order found is the result. It is resent only when the broker has none.
 * 3. A failure that proves the broker did not take the order (429, a refused
 *    connection) is retried directly; a non-transient one (rejected, funds,
 *    auth) is never retried.
 * 4. The bulkhead is taken once around the whole placement and the breaker
 *    guards each attempt, so a full bulkhead or an open breaker rejects
 *    before anything is sent.
 * 5. When retries run out with the order in doubt, one last lookup settles
 *    it; if that fails too the caller gets `OrderStatusUnknownError` with the
 *    client order id, never a silent "failed" for an order that may exist.
 * 6. A broker that itself rejects a duplicate client order id (Alpaca) is
 *    answered with the order it already has.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type { BrokerApi, BrokerError, OrderSubmission } from "./BrokerClient.js"
import { isAmbiguous, OrderRejectedError, OrderStatusUnknownError } from "./ClientError.js"
import type { Order } from "./Models.js"
import { OrderRequest } from "./Models.js"

/**
 * A policy wrapper: adds its rejections to the error channel.
 *
 * @since 0.1.0
 * @category models
 */
export type Guard<X> = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | X, R>

/**
 * The policy pieces placement needs, built once per client.
 *
 * @since 0.1.0
 * @category models
 */
export interface Guards<X> {
  /** Around the whole placement (the order_execution bulkhead). */
  readonly isolate: Guard<X>
  /** Around each send (breaker, quota, per-attempt timeout); no retry. */
  readonly attempt: Guard<X>
  /** Around each lookup (the reads' breaker, quota and timeout); no retry. */
  readonly lookup: Guard<X>
  /** Retries the "lookup if in doubt, then send" unit on transient errors. */
  readonly retry: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

const hex = (n: number): string => (n >>> 0).toString(16).padStart(8, "0")

/**
 * A fresh client order id: 128 random bits from the fiber's `Random` (so a
 * seeded `Random` makes it reproducible in tests), as 32 hex digits after an
 * `er-` prefix. Fits Alpaca's 128-character and IB's `cOID` limits.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateClientOrderId: Effect.Effect<string> = Effect.map(
  Effect.all([
    Random.nextIntBetween(0, 0x100000000),
    Random.nextIntBetween(0, 0x100000000),
    Random.nextIntBetween(0, 0x100000000),
    Random.nextIntBetween(0, 0x100000000)
  ]),
  ([a, b, c, d]) => `er-${hex(a)}${hex(b)}${hex(c)}${hex(d)}`
)

const decodeRequest = Schema.decodeUnknown(OrderRequest)

/**
 * Validate an order request; an invalid one is rejected before anything is
 * sent.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = (provider: string, request: OrderRequest): Effect.Effect<OrderRequest, OrderRejectedError> =>
  Effect.mapError(decodeRequest(request), (error) =>
    new OrderRejectedError({
      provider,
      reason: `invalid order request: ${ParseResult.TreeFormatter.formatErrorSync(error)}`
    }))

/**
 * Place an order at most once (see the module doc for the rules).
 *
 * @since 0.1.0
 * @category placement
 */
export const placeOrder = <X>(
  api: BrokerApi,
  guards: Guards<X>,
  request: OrderRequest
): Effect.Effect<Order, BrokerError | X> =>
  guards.isolate(
    Effect.flatMap(validate(api.provider, request), (valid) =>
      Effect.flatMap(
        valid.clientOrderId === undefined ? generateClientOrderId : Effect.succeed(valid.clientOrderId),
        (clientOrderId) => placeWithId(api, guards, { ...valid, clientOrderId } as OrderSubmission)
      ))
  )

const placeWithId = <X>(
  api: BrokerApi,
  guards: Guards<X>,
  order: OrderSubmission
): Effect.Effect<Order, BrokerError | X> => {
  // Per logical order, shared by every attempt of this placement.
  let inDoubt = false
  const lookup = guards.lookup(api.getOrderByClientOrderId(order.clientOrderId))
  const send = guards.attempt(api.submitOrder(order)).pipe(
    Effect.catchIf(
      (error): error is OrderRejectedError => error instanceof OrderRejectedError && error.duplicate === true,
      (error) =>
        Effect.flatMap(lookup, (found) => Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail(error))
    ),
    Effect.tapError((error) =>
      Effect.sync(() => {
        if (isAmbiguous(error)) inDoubt = true
      })
    )
  )
  const unit = Effect.suspend(() =>
    inDoubt
      ? Effect.flatMap(lookup, (found) => {
        if (Option.isSome(found)) return Effect.succeed(found.value)
        inDoubt = false
        return send
      })
      : send
  )
  return guards.retry(unit).pipe(
    Effect.catchAll((error) =>
      inDoubt
        ? lookup.pipe(
          Effect.matchEffect({
            onFailure: (lookupError) =>
              Effect.fail(
                new OrderStatusUnknownError({
                  provider: api.provider,
                  clientOrderId: order.clientOrderId,
                  reason: `${describe(error)}; lookup failed: ${describe(lookupError)}`
                })
              ),
            onSuccess: (found) => Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail(error)
          })
        )
        : Effect.fail(error)
    )
  )
}

const describe = (error: unknown): string =>
  error !== null && typeof error === "object" && "message" in error && typeof error.message === "string"
    ? error.message
    : String(error)
