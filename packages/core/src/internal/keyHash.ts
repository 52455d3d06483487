/**
 * Store-safe keys from arbitrary client keys: short printable keys are kept
 * as they are (readable in Redis and in errors), anything else (long, unicode,
 * control characters, braces that would break a Redis hash tag) becomes a
 * fixed-size 64-bit hash plus the length. No `node:crypto`: core depends on
 * effect only.
 *
 * @internal
 */

/** Keys up to this many characters, all of them safe, are kept verbatim. @internal */
export const MAX_VERBATIM = 64

// [A-Za-z0-9] and _ . : @ / + = - (IPs, IPv6, e-mails, base64 and UUID API keys)
const SAFE = new Uint8Array(128)
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c)
  SAFE[c] = /[A-Za-z0-9_.:@/+=-]/.test(ch) ? 1 : 0
}

/** Is this key kept verbatim by `safeKey`? @internal */
export const isVerbatim = (key: string): boolean => {
  const n = key.length
  if (n > MAX_VERBATIM) return false
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i)
    if (c >= 128 || SAFE[c] === 0) return false
  }
  return true
}

/**
 * The key itself when it is short and printable, else `#` + 16 hex digits of
 * hash + `.` + the length in base 36. `#` never occurs in a verbatim key, so
 * the two forms cannot collide with each other.
 *
 * @internal
 */
export const safeKey = (key: string): string => isVerbatim(key) ? key : hashKey(key)

const fmix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

const hex8 = (h: number): string => h.toString(16).padStart(8, "0")

/**
 * Two independent 32-bit lanes over the UTF-16 code units (FNV-1a and a
 * MurmurHash3-style mix), both finalized with the length: 64 bits, so
 * accidental collisions need ~4 billion distinct hashed keys. It is not a
 * cryptographic hash: someone able to choose arbitrary long keys could craft
 * a collision on purpose.
 *
 * @internal
 */
export const hashKey = (key: string): string => {
  const n = key.length
  let a = 0x811c9dc5
  let b = 0x9747b28c
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    let k = Math.imul(c, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    b ^= Math.imul(k, 0x1b873593)
    b = (b << 13) | (b >>> 19)
    b = (Math.imul(b, 5) + 0xe6546b64) | 0
  }
  return "#" + hex8(fmix(a ^ n)) + hex8(fmix(b ^ n)) + "." + n.toString(36)
}
