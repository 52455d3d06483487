import { ClientError } from "@effect-resilience/clients"
import { CircuitOpenError } from "@effect-resilience/core/ResilienceError"
import { HttpErrors } from "@effect-resilience/gateway"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Schema } from "effect"

describe("HttpErrors.toHttpError", () => {
  it("a throttled call keeps its exact retryAfter in the body (milliseconds on the wire); the header rounds up", () => {
    const { error, retryAfter } = HttpErrors.toHttpError(
      new ClientError.ProviderRateLimitedError({
        provider: "polygon",
        retryAfter: Duration.millis(1500),
        reason: "429"
      })
    )
    expect(error).toMatchObject({ _tag: "UpstreamRateLimited", provider: "polygon", retryAfter: Duration.millis(1500) })
    expect(retryAfter).toBe(2)
    expect(Schema.encodeSync(HttpErrors.UpstreamRateLimited)(error as HttpErrors.UpstreamRateLimited)).toMatchObject({
      retryAfter: 1500
    })
  })

  it("an isolated breaker (retryAfter infinite) sends no retryAfter and no Retry-After; an open one sends both", () => {
    const isolated = HttpErrors.toHttpError(
      new CircuitOpenError({ breaker: "alpaca/orders", state: "Isolated", retryAfter: Duration.infinity })
    )
    expect(isolated.retryAfter).toBeUndefined()
    const body = Schema.encodeSync(HttpErrors.CircuitOpen)(isolated.error as HttpErrors.CircuitOpen)
    expect(body).toMatchObject({ _tag: "CircuitOpen", state: "Isolated" })
    expect("retryAfter" in body).toBe(false)
    expect(JSON.stringify(body)).not.toMatch(/null|Infinity/)

    const open = HttpErrors.toHttpError(
      new CircuitOpenError({ breaker: "alpaca/orders", state: "Open", retryAfter: Duration.millis(2500) })
    )
    expect(open.retryAfter).toBe(3)
    expect(Schema.encodeSync(HttpErrors.CircuitOpen)(open.error as HttpErrors.CircuitOpen)).toMatchObject({
      retryAfter: 2500
    })
  })

  it("a provider's bad-parameter refusal is the caller's 400, not an upstream failure", () => {
    const { error } = HttpErrors.toHttpError(
      new ClientError.ProviderBadRequestError({ provider: "fred", status: 400, reason: "Variable sort_order is bad" })
    )
    expect(error._tag).toBe("BadRequest")
    expect(error.message).toContain("sort_order")
  })

  it("an entitlement refusal is a 502 that names the plan and what it needs; a dead session is a 502 too", () => {
    const { error } = HttpErrors.toHttpError(
      new ClientError.ProviderEntitlementError({
        provider: "polygon",
        plan: "basic",
        requires: "the Advanced plan (quotes)",
        reason: "You are not entitled to this data."
      })
    )
    expect(error).toMatchObject({
      _tag: "BadGateway",
      provider: "polygon",
      reason: "not entitled on plan \"basic\": needs the Advanced plan (quotes)"
    })
    const session = HttpErrors.toHttpError(
      new ClientError.SessionExpiredError({ provider: "interactive_brokers", reason: "log in" })
    )
    expect(session.error).toMatchObject({ _tag: "BadGateway", reason: "session expired" })
  })
})
