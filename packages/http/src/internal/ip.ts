/**
 * IP address and CIDR parsing without exceptions, for client-key
 * extraction. Every function here is total: garbage in, `undefined` out.
 *
 * @internal
 */

/** @internal */
export type Ip =
  | { readonly family: 4; readonly v4: number }
  | { readonly family: 6; readonly v6: ReadonlyArray<number> } // 8 groups of 16 bits

/** @internal */
export interface Cidr {
  readonly ip: Ip
  readonly prefix: number
}

const isDigit = (c: number) => c >= 48 && c <= 57

/** Strict dotted quad: four decimal octets 0-255, no leading zeros. @internal */
export const parseIPv4 = (s: string): number | undefined => {
  if (s.length < 7 || s.length > 15) return undefined
  let value = 0
  let octet = 0
  let digits = 0
  let parts = 0
  for (let i = 0; i <= s.length; i++) {
    const c = i === s.length ? 46 : s.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || octet > 255) return undefined
      value = value * 256 + octet
      parts++
      octet = 0
      digits = 0
    } else if (isDigit(c)) {
      if (digits > 0 && octet === 0) return undefined // leading zero: ambiguous (octal in some parsers)
      octet = octet * 10 + (c - 48)
      digits++
      if (digits > 3) return undefined
    } else {
      return undefined
    }
  }
  return parts === 4 ? value : undefined
}

const hexValue = (c: number): number => {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

const parseGroups = (s: string, out: Array<number>): boolean => {
  if (s.length === 0) return true
  const parts = s.split(":")
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    if (i === parts.length - 1 && part.indexOf(".") !== -1) {
      const v4 = parseIPv4(part)
      if (v4 === undefined) return false
      out.push(Math.floor(v4 / 65536), v4 % 65536)
      continue
    }
    if (part.length === 0 || part.length > 4) return false
    let group = 0
    for (let j = 0; j < part.length; j++) {
      const h = hexValue(part.charCodeAt(j))
      if (h < 0) return false
      group = group * 16 + h
    }
    out.push(group)
  }
  return true
}

/** RFC 4291 text form, with an optional zone id (`%eth0`, ignored) and embedded IPv4 tail. @internal */
export const parseIPv6 = (input: string): ReadonlyArray<number> | undefined => {
  if (input.length < 2 || input.length > 64) return undefined
  const zone = input.indexOf("%")
  const s = zone === -1 ? input : input.slice(0, zone)
  const gap = s.indexOf("::")
  const head: Array<number> = []
  const tail: Array<number> = []
  if (gap === -1) {
    if (!parseGroups(s, head) || head.length !== 8) return undefined
    return head
  }
  if (s.indexOf("::", gap + 1) !== -1) return undefined
  if (!parseGroups(s.slice(0, gap), head) || !parseGroups(s.slice(gap + 2), tail)) return undefined
  const missing = 8 - head.length - tail.length
  if (missing < 1) return undefined
  for (let i = 0; i < missing; i++) head.push(0)
  for (let i = 0; i < tail.length; i++) head.push(tail[i])
  return head
}

/**
 * Parse an address as it appears in a socket, X-Forwarded-For or Forwarded
 * `for=`: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]`, `[::1]:443`. An
 * IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) becomes the IPv4 address.
 *
 * @internal
 */
export const parseIp = (input: string): Ip | undefined => {
  let s = input.trim()
  if (s.length === 0 || s.length > 72) return undefined
  if (s.charCodeAt(0) === 91 /* [ */) {
    const end = s.indexOf("]")
    if (end === -1) return undefined
    const rest = s.slice(end + 1)
    if (rest.length > 0 && !isPort(rest)) return undefined
    s = s.slice(1, end)
    const v6 = parseIPv6(s)
    return v6 === undefined ? undefined : fromV6(v6)
  }
  const colon = s.indexOf(":")
  if (colon === -1) {
    const v4 = parseIPv4(s)
    return v4 === undefined ? undefined : { family: 4, v4 }
  }
  if (s.indexOf(":", colon + 1) === -1) {
    // exactly one colon: IPv4 with a port
    if (!isPort(s.slice(colon))) return undefined
    const v4 = parseIPv4(s.slice(0, colon))
    return v4 === undefined ? undefined : { family: 4, v4 }
  }
  const v6 = parseIPv6(s)
  return v6 === undefined ? undefined : fromV6(v6)
}

const isPort = (s: string): boolean => {
  if (s.length < 2 || s.length > 6 || s.charCodeAt(0) !== 58) return false
  for (let i = 1; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false
  return true
}

const fromV6 = (groups: ReadonlyArray<number>): Ip => {
  if (
    groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 &&
    groups[5] === 0xffff
  ) {
    return { family: 4, v4: groups[6] * 65536 + groups[7] }
  }
  return { family: 6, v6: groups }
}

/** `10.0.0.0/8`, `fc00::/7`, `127.0.0.1` (a host), `::ffff:10.0.0.0/104` (mapped: becomes IPv4 /8). @internal */
export const parseCidr = (input: string): Cidr | undefined => {
  const slash = input.indexOf("/")
  const ipPart = slash === -1 ? input : input.slice(0, slash)
  const ip = parseIp(ipPart)
  if (ip === undefined) return undefined
  const isMapped = ip.family === 4 && ipPart.indexOf(":") !== -1
  const max = ip.family === 4 && !isMapped ? 32 : ip.family === 4 ? 128 : 128
  let prefix = max
  if (slash !== -1) {
    const p = input.slice(slash + 1)
    if (p.length === 0 || p.length > 3) return undefined
    for (let i = 0; i < p.length; i++) if (!isDigit(p.charCodeAt(i))) return undefined
    prefix = Number(p)
    if (prefix > max) return undefined
  }
  if (isMapped) {
    if (prefix < 96) return undefined
    prefix -= 96
  }
  return { ip, prefix }
}

/** Does the CIDR contain the address? Families never match each other. @internal */
export const contains = (cidr: Cidr, ip: Ip): boolean => {
  if (cidr.ip.family === 4) {
    if (ip.family !== 4) return false
    if (cidr.prefix === 0) return true
    const shift = 32 - cidr.prefix
    return Math.floor(cidr.ip.v4 / 2 ** shift) === Math.floor(ip.v4 / 2 ** shift)
  }
  if (ip.family !== 6) return false
  let bits = cidr.prefix
  for (let i = 0; i < 8 && bits > 0; i++) {
    const take = bits >= 16 ? 16 : bits
    const mask = (0xffff << (16 - take)) & 0xffff
    if ((cidr.ip.v6[i] & mask) !== (ip.v6[i] & mask)) return false
    bits -= take
  }
  return true
}

const formatV4 = (v: number): string =>
  `${Math.floor(v / 16777216) % 256}.${Math.floor(v / 65536) % 256}.${Math.floor(v / 256) % 256}.${v % 256}`

/**
 * The canonical text of an address truncated to a prefix, as a limiter key
 * component: `1.2.3.4` (IPv4 /32), `10.1.0.0/16`, `2001:db8:0:1::/64`.
 * Every address of a prefix gets the same string.
 *
 * @internal
 */
export const formatPrefix = (ip: Ip, v4Prefix: number, v6Prefix: number): string => {
  if (ip.family === 4) {
    if (v4Prefix >= 32) return formatV4(ip.v4)
    const size = 2 ** (32 - v4Prefix)
    return `${formatV4(Math.floor(ip.v4 / size) * size)}/${v4Prefix}`
  }
  const groups: Array<number> = []
  let bits = v6Prefix
  for (let i = 0; i < 8; i++) {
    const take = bits >= 16 ? 16 : bits <= 0 ? 0 : bits
    groups.push(take === 0 ? 0 : ip.v6[i] & ((0xffff << (16 - take)) & 0xffff))
    bits -= 16
  }
  const text = compressV6(groups)
  return v6Prefix >= 128 ? text : `${text}/${v6Prefix}`
}

/** RFC 5952: lowercase, the longest run (>= 2) of zero groups as `::`. @internal */
export const compressV6 = (groups: ReadonlyArray<number>): string => {
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  if (bestStart === -1) return groups.map((g) => g.toString(16)).join(":")
  const left = groups.slice(0, bestStart).map((g) => g.toString(16)).join(":")
  const right = groups.slice(bestStart + bestLen).map((g) => g.toString(16)).join(":")
  return `${left}::${right}`
}
