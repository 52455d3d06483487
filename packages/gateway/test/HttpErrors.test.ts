import { ClientError } from "@effect-resilience/clients"
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
