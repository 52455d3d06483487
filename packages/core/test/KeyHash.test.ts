import { RateLimiter, RateLimiterStore } from "@effect-resilience/core"
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"

// The one key-hashing scheme (core's RateLimiter, the memory store and the
// Redis store all go through it), seen through the public API.

const BUCKET_ALPHABET = /^[A-Za-z0-9_.:@/+=#|*-]+$/
const CLIENT_ALPHABET = /^[A-Za-z0-9_.:@/+=-]*$/

const hostile = [
  "",
  "}{",
  "{tag}",
  "with space",
  "new\nline\r\n*1\r\n$4\r\nPING",
  "\u0000nul",
  "é✓🚀",
  "\ud800", // a lone surrogate
  "x".repeat(100_000),
  "x".repeat(100_001),
  "~#0123456789abcdef.5"
]

// any string: unicode (lone surrogates included), control characters, the alphabets' edges
const anyKey = fc.oneof(
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.string({ unit: fc.constantFrom("a", "|", "#", "*", "{", "}", "~", " ", "\u0000", "é"), maxLength: 20 }),
  fc.string({ unit: "grapheme-ascii", minLength: 500, maxLength: 700 })
)

describe("RateLimiterStore.hashKey", () => {
  it("is stable across versions and processes: the format Redis keys and logs hold", () => {
    expect(RateLimiterStore.hashKey("10.0.0.1")).toBe("#227162a26562185b.8")
    expect(RateLimiterStore.hashKey("")).toBe("#ab3e7c0bebb6c228.0")
  })

  it.prop("is short, printable and ends with the length", [anyKey], ([key]) => {
    const hashed = RateLimiterStore.hashKey(key)
    expect(hashed).toMatch(/^#[0-9a-f]{16}\.[0-9a-z]+$/)
    expect(hashed.endsWith("." + key.length.toString(36))).toBe(true)
    expect(RateLimiterStore.hashKey(key)).toBe(hashed)
  })

  it.prop("tells distinct keys apart", [fc.uniqueArray(anyKey, { minLength: 2, maxLength: 50 })], ([keys]) => {
    expect(new Set(keys.map(RateLimiterStore.hashKey)).size).toBe(keys.length)
  })
})

describe("RateLimiterStore.storeKey", () => {
  it("keeps every key RateLimiter builds as it is", () => {
    for (const key of ["api|10.0.0.1", "api|*", "api|", "api|#227162a26562185b.8", "a".repeat(512)]) {
      expect(RateLimiterStore.storeKey(key)).toBe(key)
    }
  })

  it("hashes hostile keys into short, brace-free, distinct keys", () => {
    const stored = hostile.map(RateLimiterStore.storeKey)
    for (const key of stored) {
      expect(key.startsWith("~#")).toBe(true)
      expect(key.length).toBeLessThanOrEqual(25)
      expect(key).not.toMatch(/[{}\s]/)
    }
    expect(new Set(stored).size).toBe(hostile.length)
  })

  it.prop(
    "is verbatim exactly for 1 to 512 characters of the bucket alphabet; a hashed key never equals a verbatim one",
    [anyKey],
    ([key]) => {
      const stored = RateLimiterStore.storeKey(key)
      const verbatim = key.length >= 1 && key.length <= 512 && BUCKET_ALPHABET.test(key)
      expect(stored === key).toBe(verbatim)
      if (!verbatim) expect(stored).toBe("~" + RateLimiterStore.hashKey(key))
      // `~` is outside the alphabet: what is stored is never mistaken for another key's verbatim form
      expect(BUCKET_ALPHABET.test(stored)).toBe(verbatim)
    }
  )
})

describe("RateLimiter.clientKey", () => {
  it.prop(
    "keeps short printable keys, hashes the rest with hashKey; the result is a bucket-alphabet key",
    [anyKey],
    ([key]) => {
      const client = RateLimiter.clientKey(key)
      const verbatim = key.length >= 1 && key.length <= 64 && CLIENT_ALPHABET.test(key)
      expect(client).toBe(verbatim ? key : RateLimiterStore.hashKey(key))
      // so the store keeps "name|" + client verbatim
      expect(RateLimiterStore.storeKey("api|" + client)).toBe("api|" + client)
    }
  )
})
