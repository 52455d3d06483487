import { ClientKey } from "@effect-resilience/http"
import * as Headers from "@effect/platform/Headers"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, FastCheck as fc } from "effect"

const req = (remoteAddress: string | undefined, headers: Record<string, string> = {}) => {
  // Headers as a Node server hands them over, unvalidated (a web Request would refuse control characters)
  const request = HttpServerRequest.fromWeb(new Request("http://localhost/x")).modify({
    headers: Headers.unsafeFromRecord(headers)
  })
  return remoteAddress === undefined ? request : request.modify({ remoteAddress })
}

const make = (options: ClientKey.Options = {}) => Effect.runSync(ClientKey.make(options))
const empty = Context.empty()

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join("."))
const v6Groups = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 })
const v6 = v6Groups.map((g) => g.map((x) => x.toString(16)).join(":"))

describe("ClientKey", () => {
  it("keys by the socket peer, normalising IPv4-mapped IPv6", () => {
    const keys = make()
    expect(keys.resolve(req("::ffff:127.0.0.1"), empty)).toBe("ip:127.0.0.1")
    expect(keys.resolve(req("10.1.2.3"), empty)).toBe("ip:10.1.2.3")
    expect(keys.resolve(req(undefined), empty)).toBe("ip:unknown")
  })

  it("ignores forwarding headers by default (no trusted proxies)", () => {
    const keys = make()
    const r = req("203.0.113.9", { "x-forwarded-for": "1.2.3.4", forwarded: "for=5.6.7.8" })
    expect(keys.resolve(r, empty)).toBe("ip:203.0.113.9")
  })

  it("takes the right-most untrusted X-Forwarded-For entry when the peer is a trusted proxy", () => {
    const keys = make({ trustedProxies: ["10.0.0.0/8", "fd00::/8"] })
    const xff = (value: string, peer = "10.0.0.1") => keys.clientIp(req(peer, { "x-forwarded-for": value }))
    expect(xff("6.6.6.6, 198.51.100.7, 10.0.0.2")).toBe("198.51.100.7")
    expect(xff("198.51.100.7:4711")).toBe("198.51.100.7")
    expect(xff("[2001:db8::1]:80", "fd00::1")).toBe("2001:db8::/64")
    // every hop trusted: the left-most one
    expect(xff("10.9.9.9, 10.0.0.2")).toBe("10.9.9.9")
    // garbage where a proxy should have written an address: the last trusted hop
    expect(xff("1.1.1.1, not-an-ip, 10.0.0.7")).toBe("10.0.0.7")
    expect(xff("")).toBe("10.0.0.1")
    // an untrusted peer's header is never read
    expect(xff("198.51.100.7", "192.0.2.1")).toBe("192.0.2.1")
  })

  it("reads RFC 7239 Forwarded only when configured", () => {
    const keys = make({ trustedProxies: ["127.0.0.1"], forwardedHeader: "forwarded" })
    const fwd = (value: string) => keys.clientIp(req("127.0.0.1", { forwarded: value, "x-forwarded-for": "9.9.9.9" }))
    expect(fwd("for=192.0.2.60;proto=http;by=203.0.113.43")).toBe("192.0.2.60")
    expect(fwd("for=6.6.6.6, For=\"[2001:db8:cafe::17]:4711\"")).toBe("2001:db8:cafe::/64")
    expect(fwd("for=6.6.6.6, for=unknown")).toBe("127.0.0.1")
    expect(fwd("for=\"a,b\";by=x, for=192.0.2.1")).toBe("192.0.2.1")
  })

  it("groups IPv6 clients by prefix (default /64, configurable)", () => {
    const keys = make()
    expect(keys.clientIp(req("2001:db8:1:2:aaaa::1"))).toBe("2001:db8:1:2::/64")
    expect(keys.clientIp(req("2001:db8:1:2:bbbb:cccc:dddd:eeee"))).toBe("2001:db8:1:2::/64")
    expect(keys.clientIp(req("2001:db8:1:3::1"))).toBe("2001:db8:1:3::/64")
    expect(make({ ipv6Prefix: 48 }).clientIp(req("2001:db8:1:3::1"))).toBe("2001:db8:1::/48")
    expect(make({ ipv6Prefix: 128 }).clientIp(req("2001:DB8::1"))).toBe("2001:db8::1")
    expect(make({ ipv4Prefix: 24 }).clientIp(req("192.0.2.77"))).toBe("192.0.2.0/24")
  })

  it.prop("addresses sharing the first 64 bits share a key, others do not", [v6Groups, v6Groups], ([a, b]) => {
    const keys = make()
    const text = (g: ReadonlyArray<number>) => g.map((x) => x.toString(16)).join(":")
    const same = a.slice(0, 4).every((x, i) => x === b[i])
    const mapped = (g: ReadonlyArray<number>) => g.slice(0, 6).every((x, i) => x === (i === 5 ? 0xffff : 0))
    fc.pre(!mapped(a) && !mapped(b))
    expect(keys.clientIp(req(text(a))) === keys.clientIp(req(text(b)))).toBe(same)
  })

  it.prop("IPv4 peers are keyed by their canonical text", [v4], ([ip]) => {
    expect(make().clientIp(req(ip))).toBe(ip)
    expect(make().clientIp(req(`::ffff:${ip}`))).toBe(ip)
  })

  it.prop(
    "a trusted proxy chain yields the right-most untrusted address, whatever the client wrote",
    [fc.array(fc.string(), { maxLength: 5 }), v4, fc.array(fc.integer({ min: 1, max: 254 }), { maxLength: 4 })],
    ([spoofed, client, proxies]) => {
      fc.pre(!client.startsWith("10."))
      const keys = make({ trustedProxies: ["10.0.0.0/8"] })
      const chain = [...spoofed.map((s) => s.replace(/,/g, "")), client, ...proxies.map((p) => `10.0.0.${p}`)]
      expect(keys.clientIp(req("10.0.0.1", { "x-forwarded-for": chain.join(", ") }))).toBe(client)
    }
  )

  it.prop(
    "malformed, huge or repeated forwarding headers never throw and yield an address",
    [fc.oneof(
      fc.string(),
      fc.string({ unit: "binary" }),
      fc.array(fc.oneof(v4, v6, fc.string())).map((a) => a.join(","))
    )],
    ([header]) => {
      const trusted = make({ trustedProxies: ["0.0.0.0/0", "::/0"] })
      const forwarded = make({ trustedProxies: ["0.0.0.0/0", "::/0"], forwardedHeader: "forwarded" })
      const huge = header.repeat(Math.ceil(20_000 / Math.max(1, header.length)))
      for (const value of [header, huge]) {
        for (const keys of [trusted, forwarded]) {
          const ip = keys.clientIp(req("10.0.0.1", { "x-forwarded-for": value, forwarded: value }))
          expect(ip).toMatch(/^[0-9a-f.:/]+$/)
        }
      }
    }
  )

  it("prefers a custom key, then the principal, then the API key, then the IP", () => {
    class User extends Context.Tag("User")<User, { readonly id: string }>() {}
    const keys = make({
      apiKeyHeader: "X-Api-Key",
      principal: ClientKey.principal(User, (user) => user.id),
      key: (request) => request.headers["x-tenant"]
    })
    const withUser = Context.make(User, { id: "u1" }) as Context.Context<never>
    expect(keys.resolve(req("1.2.3.4", { "x-tenant": "t1", "x-api-key": "k" }), withUser)).toBe("t1")
    expect(keys.resolve(req("1.2.3.4", { "x-api-key": "k" }), withUser)).toBe("principal:u1")
    expect(keys.resolve(req("1.2.3.4", { "x-api-key": "k" }), empty)).toBe("key:k")
    expect(keys.resolve(req("1.2.3.4", { "x-api-key": "k".repeat(300) }), empty)).toBe("ip:1.2.3.4")
    expect(keys.resolve(req("1.2.3.4"), empty)).toBe("ip:1.2.3.4")
  })

  it("rejects invalid options with a typed error naming the option", () => {
    const option = (options: ClientKey.Options) => {
      const exit = Effect.runSyncExit(ClientKey.make(options))
      return Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.option : "ok"
    }
    expect(option({ trustedProxies: ["10.0.0.0/33"] })).toBe("trustedProxies")
    expect(option({ trustedProxies: ["nope"] })).toBe("trustedProxies")
    expect(option({ ipv6Prefix: 129 })).toBe("ipv6Prefix")
    expect(option({ ipv4Prefix: -1 })).toBe("ipv4Prefix")
    expect(option({ apiKeyHeader: "bad header" })).toBe("apiKeyHeader")
    expect(option({ trustedProxies: ["::ffff:10.0.0.0/104", "fe80::1%eth0"] })).toBe("ok")
  })
})
