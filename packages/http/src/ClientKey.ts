/**
 * Who is calling? The key a server-side rate limiter counts a request
 * against: a custom function, an authenticated principal provided by another
 * middleware, an API key header, or the client IP.
 *
 * Reach for this module to configure `RateLimit` (its `clientKey` option), or
 * on its own wherever you need a spoof-resistant client address.
 *
 * The client IP is the socket peer. `X-Forwarded-For` / `Forwarded`
 * (RFC 7239) are read only when the peer is one of the configured trusted
 * proxies, and then the right-most address that is not itself a trusted proxy
 * is the client: entries to its left were written by the client and are
 * never believed. IPv6 clients are grouped by prefix (default /64, what one
 * subscriber usually gets), and IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is
 * treated as IPv4. Malformed, huge or repeated headers never throw: parsing
 * stops at the first entry that is not an address and keeps the last trusted
 * hop.
 *
 * Do not combine this with `HttpMiddleware.xForwardedHeaders`: it rewrites
 * `remoteAddress` from the first (client-written) X-Forwarded-For entry.
 *
 * @since 0.1.0
 */
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as validate from "@effect-resilience/core/Validate"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { Cidr, Ip } from "./internal/ip.js"
import { contains, formatPrefix, parseCidr, parseIp } from "./internal/ip.js"

/**
 * How to turn an authenticated principal (a service another middleware
 * provides, e.g. through `HttpApiMiddleware.Tag<...>()("Auth", { provides:
 * CurrentUser })`) into a key. Build one with `principal`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Principal {
  readonly tag: Context.Tag<any, any>
  readonly key: (value: any) => string
}

/**
 * Key requests by an authenticated principal: the `tag`'s service, when
 * present in the request's context, is turned into a key by `key`.
 *
 * With HttpApi the principal is only visible to `RateLimit` when the
 * middleware providing it runs first: declare `RateLimit.Middleware` before
 * the authentication middleware on the same API or group
 * (`.middleware(RateLimit.Middleware).middleware(Authentication)`; HttpApi
 * runs the last-declared middleware outermost).
 *
 * @since 0.1.0
 * @category constructors
 */
export const principal = <I, S>(tag: Context.Tag<I, S>, key: (principal: S) => string): Principal => ({ tag, key })

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * A request header carrying an API key (e.g. `"x-api-key"`). Its value, when
   * present, printable and at most 256 characters, becomes the key
   * `key:<value>`. Only safe when the key is validated before or after
   * limiting: an unauthenticated caller could otherwise rotate keys (the
   * global limit still binds).
   *
   * @default undefined (not used)
   */
  readonly apiKeyHeader?: string | undefined
  /**
   * Key by an authenticated principal (`principal:<key>`) when one is present.
   *
   * @default undefined (not used)
   */
  readonly principal?: Principal | undefined
  /**
   * Addresses or CIDR ranges (IPv4 and IPv6: `"10.0.0.0/8"`, `"fd00::/8"`,
   * `"127.0.0.1"`) of the proxies in front of this server. Forwarding headers
   * are read only when the socket peer is in this list.
   *
   * @default [] (forwarding headers are ignored)
   */
  readonly trustedProxies?: ReadonlyArray<string> | undefined
  /**
   * Which forwarding header your proxies write. Only that one is read: a
   * client could write the other one freely.
   *
   * @default "x-forwarded-for"
   */
  readonly forwardedHeader?: "x-forwarded-for" | "forwarded" | undefined
  /**
   * IPv4 clients are grouped by this prefix length.
   *
   * @default 32
   */
  readonly ipv4Prefix?: number | undefined
  /**
   * IPv6 clients are grouped by this prefix length (a subscriber usually gets
   * a whole /64, so a /128 key would be trivial to rotate).
   *
   * @default 64
   */
  readonly ipv6Prefix?: number | undefined
  /**
   * A custom key. Returning `undefined` falls back to the principal, the API
   * key and the IP, in that order. `clientIp` is the resolved client address
   * (already grouped by prefix).
   *
   * @default undefined
   */
  readonly key?:
    | ((request: HttpServerRequest.HttpServerRequest, clientIp: string, context: Context.Context<never>) =>
      | string
      | undefined)
    | undefined
}

/**
 * A configured key resolver. Both functions are synchronous and total.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientKey {
  /** The limiter key of a request: `custom`, `principal:…`, `key:…` or `ip:…`. */
  readonly resolve: (request: HttpServerRequest.HttpServerRequest, context: Context.Context<never>) => string
  /** The client address, grouped by prefix (`1.2.3.4`, `2001:db8::/64`), or `"unknown"` without a socket peer. */
  readonly clientIp: (request: HttpServerRequest.HttpServerRequest) => string
}

const MAX_FORWARDED_LENGTH = 8192
const MAX_HOPS = 64
const PEER_CACHE_SIZE = 4096

/**
 * Build a resolver, validating the options once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<ClientKey, InvalidOptionsError> =>
  Effect.gen(function*() {
    const ipv4Prefix = yield* validate.intInRange("ClientKey", "ipv4Prefix", options.ipv4Prefix, 32, 0, 32)
    const ipv6Prefix = yield* validate.intInRange("ClientKey", "ipv6Prefix", options.ipv6Prefix, 64, 0, 128)
    const trusted: Array<Cidr> = []
    for (const entry of options.trustedProxies ?? []) {
      const cidr = typeof entry === "string" ? parseCidr(entry.trim()) : undefined
      if (cidr === undefined) {
        return yield* validate.fail("ClientKey", "trustedProxies", entry, "must be IPv4/IPv6 addresses or CIDR ranges")
      }
      trusted.push(cidr)
    }
    const forwardedHeader = options.forwardedHeader ?? "x-forwarded-for"
    if (forwardedHeader !== "x-forwarded-for" && forwardedHeader !== "forwarded") {
      return yield* validate.fail(
        "ClientKey",
        "forwardedHeader",
        forwardedHeader,
        "must be \"x-forwarded-for\" or \"forwarded\""
      )
    }
    let apiKeyHeader: string | undefined
    if (options.apiKeyHeader !== undefined) {
      apiKeyHeader = (yield* validate.headerName("ClientKey", "apiKeyHeader", options.apiKeyHeader)).toLowerCase()
    }
    return unsafeMake({
      trusted,
      forwardedHeader,
      ipv4Prefix,
      ipv6Prefix,
      apiKeyHeader,
      principal: options.principal,
      custom: options.key
    })
  })

const unsafeMake = (config: {
  readonly trusted: ReadonlyArray<Cidr>
  readonly forwardedHeader: "x-forwarded-for" | "forwarded"
  readonly ipv4Prefix: number
  readonly ipv6Prefix: number
  readonly apiKeyHeader: string | undefined
  readonly principal: Principal | undefined
  readonly custom: Options["key"]
}): ClientKey => {
  const { apiKeyHeader, custom, forwardedHeader, ipv4Prefix, ipv6Prefix, principal, trusted } = config
  const isTrusted = (ip: Ip): boolean => {
    for (let i = 0; i < trusted.length; i++) if (contains(trusted[i], ip)) return true
    return false
  }
  // Parsing and formatting an address costs about a microsecond; a server sees the same peers again and
  // again, so the untrusted-peer result is memoised (bounded: cleared when full).
  const peerCache = new Map<string, string>()
  const clientIp = (request: HttpServerRequest.HttpServerRequest): string => {
    const peerText = request.remoteAddress
    if (peerText._tag === "None") return "unknown"
    const cached = peerCache.get(peerText.value)
    if (cached !== undefined) return cached
    const peer = parseIp(peerText.value)
    if (peer === undefined) return "unknown"
    if (trusted.length === 0 || !isTrusted(peer)) {
      const ip = formatPrefix(peer, ipv4Prefix, ipv6Prefix)
      if (peerCache.size >= PEER_CACHE_SIZE) peerCache.clear()
      peerCache.set(peerText.value, ip)
      return ip
    }
    const header = request.headers[forwardedHeader]
    const ip = typeof header === "string" && header.length > 0
      ? rightmostUntrusted(
        forwardedHeader === "forwarded" ? forwardedFor(header) : xForwardedFor(header),
        peer,
        isTrusted
      )
      : peer
    return formatPrefix(ip, ipv4Prefix, ipv6Prefix)
  }
  const resolve = (request: HttpServerRequest.HttpServerRequest, context: Context.Context<never>): string => {
    if (custom !== undefined) {
      const key = custom(request, clientIp(request), context)
      if (typeof key === "string") return key
    }
    if (principal !== undefined) {
      const value = Context.getOption(context, principal.tag)
      if (value._tag === "Some") return `principal:${principal.key(value.value)}`
    }
    if (apiKeyHeader !== undefined) {
      const value = request.headers[apiKeyHeader]
      if (typeof value === "string" && isPrintable(value)) return `key:${value}`
    }
    return `ip:${clientIp(request)}`
  }
  return { resolve, clientIp }
}

const isPrintable = (s: string): boolean => {
  if (s.length === 0 || s.length > 256) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) return false
  }
  return true
}

/** Walk right to left: trusted hops are skipped, the first untrusted address is the client. */
const rightmostUntrusted = (
  entries: ReadonlyArray<string>,
  peer: Ip,
  isTrusted: (ip: Ip) => boolean
): Ip => {
  let candidate = peer
  const stop = Math.max(0, entries.length - MAX_HOPS)
  for (let i = entries.length - 1; i >= stop; i--) {
    const ip = parseIp(entries[i])
    // Garbage where a trusted proxy should have written an address: keep the last hop we can vouch for.
    if (ip === undefined) return candidate
    candidate = ip
    if (!isTrusted(ip)) return ip
  }
  return candidate
}

const tail = (header: string): string =>
  header.length > MAX_FORWARDED_LENGTH ? header.slice(header.length - MAX_FORWARDED_LENGTH) : header

/**
 * Split an `X-Forwarded-For` value (repeated headers arrive joined by commas).
 *
 * @internal
 */
export const xForwardedFor = (header: string): ReadonlyArray<string> => tail(header).split(",")

/**
 * The `for=` of every element of a `Forwarded` value (RFC 7239), in order.
 * An element without `for=` yields `""` (which is not an address).
 *
 * @internal
 */
export const forwardedFor = (header: string): ReadonlyArray<string> => {
  const s = tail(header)
  const out: Array<string> = []
  let current: string = ""
  let inQuotes = false
  let start = 0
  const pushElement = (element: string) => {
    let value = ""
    for (const pair of element.split(";")) {
      const eq = pair.indexOf("=")
      if (eq === -1) continue
      if (pair.slice(0, eq).trim().toLowerCase() !== "for") continue
      value = pair.slice(eq + 1).trim()
      if (value.length >= 2 && value.charCodeAt(0) === 34 && value.charCodeAt(value.length - 1) === 34) {
        value = value.slice(1, -1).replace(/\\(.)/g, "$1")
      }
    }
    out.push(value)
  }
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 34) inQuotes = !inQuotes
    else if (c === 92 && inQuotes) i++
    else if (c === 44 && !inQuotes) {
      current = s.slice(start, i)
      pushElement(current)
      start = i + 1
    }
  }
  pushElement(s.slice(start))
  return out
}
