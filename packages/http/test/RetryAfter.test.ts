import { RetryAfter } from "@effect-resilience/http"
import { describe, expect, it } from "@effect/vitest"
import { Duration, FastCheck as fc, Option } from "effect"

const millis = (value: string | undefined, now = 0): number | undefined =>
  Option.getOrUndefined(Option.map(RetryAfter.parse(value, now), Duration.toMillis))

describe("RetryAfter", () => {
  it("reads delta-seconds, decimals included", () => {
    expect(millis("120")).toBe(120_000)
    expect(millis("0")).toBe(0)
    expect(millis("7")).toBe(7000)
    expect(millis(" 7 ")).toBe(7000) // surrounding whitespace is not part of the value
    expect(millis("1.5")).toBe(1500)
  })

  it("reads the three HTTP-date forms relative to now; a past date is zero", () => {
    const now = Date.UTC(2015, 9, 21, 7, 27, 58)
    expect(millis("Wed, 21 Oct 2015 07:28:00 GMT", now)).toBe(2000)
    expect(millis("Wed, 21 Oct 2015 07:28:00 GMT", Date.UTC(2016, 0, 1))).toBe(0)
    const before = Date.UTC(1994, 10, 6, 8, 49, 0)
    expect(millis("Sunday, 06-Nov-94 08:49:37 GMT", before)).toBe(37_000) // RFC 850
    expect(millis("Sun Nov  6 08:49:37 1994", before)).toBe(37_000) // asctime: GMT, whatever the machine's zone
  })

  it("anything else is None: the caller falls back to its own delay", () => {
    for (
      const value of [
        undefined,
        "",
        "soon",
        "-5",
        "1e3",
        "0x10",
        "Infinity",
        "12 seconds",
        "Wed 2", // Date.parse reads this as 2001-02-01
        "Foo 1",
        "2015-10-21T07:28:00Z", // ISO is not an HTTP-date
        "Wed, 32 Oct 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 25:28:00 GMT",
        "1".repeat(65) // longer than any real value: not even read
      ]
    ) {
      expect(RetryAfter.parse(value, 0), String(value)).toEqual(Option.none())
    }
  })

  it("fromHeaders reads the lower-case retry-after header", () => {
    expect(RetryAfter.fromHeaders({ "retry-after": "3" }, 0)).toEqual(Option.some(Duration.seconds(3)))
    expect(RetryAfter.fromHeaders({ "content-type": "text/plain" }, 0)).toEqual(Option.none())
  })

  it.prop("delta-seconds n is n seconds", { n: fc.nat() }, ({ n }) => {
    expect(millis(String(n))).toBe(n * 1000)
  })

  it.prop(
    "an IMF-fixdate is the time until it, never negative",
    {
      at: fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 0, 1) }),
      now: fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 0, 1) })
    },
    ({ at, now }) => {
      const seconds = Math.floor(at / 1000) * 1000 // an HTTP-date has whole seconds
      expect(millis(new Date(seconds).toUTCString(), now)).toBe(Math.max(0, seconds - now))
    }
  )

  it.prop("any string: never throws, and a result is a finite, non-negative duration", {
    value: fc.string({ maxLength: 80 }),
    now: fc.integer()
  }, ({ now, value }) => {
    const result = RetryAfter.parse(value, now)
    if (Option.isSome(result)) {
      expect(Duration.isFinite(result.value)).toBe(true)
      expect(Duration.toMillis(result.value)).toBeGreaterThanOrEqual(0)
    }
  })
})
