/**
 * The one key-hashing scheme of the project, for every store and layer:
 *
 * - client keys (`safeKey`): short printable keys are kept as they are
 *   (readable in Redis and in errors); anything else (long, unicode, control
 *   characters, braces that would break a Redis hash tag) becomes `hashKey`'s
 *   fixed-size form;
 * - store keys (`storeKey`): a bucket key a store receives is kept when it is
 *   in the `Bucket.key` alphabet, else `~` + `hashKey`;
 * - the 32-bit FNV-1a lane and the MurmurHash3 finalizer that `hashKey` and
 *   the memory store's index (`keyIndex.ts`) are both built from.
 *
 * No `node:crypto`: core depends on effect only.
 *
 * @internal
 */

/** Keys up to this many characters, all of them safe, are kept verbatim. @internal */
export const MAX_VERBATIM = 64

/** Bucket keys up to this many characters, all in the bucket alphabet, are stored verbatim. @internal */
export const MAX_STORE_VERBATIM = 512

// [A-Za-z0-9] and _ . : @ / + = - (IPs, IPv6, e-mails, base64 and UUID API keys)
const CLIENT_SAFE = /^[A-Za-z0-9_.:@/+=-]$/
// The client alphabet plus what `RateLimiter` adds: `#` (hashed client keys),
// `|` (after the limiter's name) and `*` (the global bucket). Never `{`, `}`, `~`.
const BUCKET_SAFE = /^[A-Za-z0-9_.:@/+=#|*-]$/

const table = (pattern: RegExp): Uint8Array => {
  const safe = new Uint8Array(128)
  for (let c = 0; c < 128; c++) safe[c] = pattern.test(String.fromCharCode(c)) ? 1 : 0
  return safe
}

/** 1 for each ASCII character a verbatim client key may hold. @internal */
export const SAFE: Uint8Array = table(CLIENT_SAFE)

const BUCKET: Uint8Array = table(BUCKET_SAFE)

const allIn = (safe: Uint8Array, key: string): boolean => {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    if (c >= 128 || safe[c] === 0) return false
  }
  return true
}

/** Is this key kept verbatim by `safeKey`? @internal */
export const isVerbatim = (key: string): boolean => key.length <= MAX_VERBATIM && allIn(SAFE, key)

/**
 * The key itself when it is short and printable, else `#` + 16 hex digits of
 * hash + `.` + the length in base 36. `#` never occurs in a verbatim key, so
 * the two forms cannot collide with each other.
 *
 * @internal
 */
export const safeKey = (key: string): string => isVerbatim(key) ? key : hashKey(key)

/**
 * A bucket key as a store keeps it: verbatim when it has 1 to
 * `MAX_STORE_VERBATIM` characters of the bucket alphabet (every key
 * `RateLimiter` builds), else `~` + `hashKey`. `~` is outside that alphabet,
 * so a hashed key never equals a verbatim one.
 *
 * @internal
 */
export const storeKey = (key: string): string =>
  key.length > 0 && key.length <= MAX_STORE_VERBATIM && allIn(BUCKET, key) ? key : "~" + hashKey(key)

/** FNV-1a's offset basis: the state before any character. @internal */
export const FNV_OFFSET = 0x811c9dc5

/** FNV-1a over the UTF-16 code units of `text`, from `state`: the new 32-bit state. @internal */
export const fnv1a = (state: number, text: string): number => {
  let h = state
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h
}

/**
 * `fnv1a`, while checking that every character is ASCII and marked in `safe`:
 * NaN as soon as one is not. One pass both decides "verbatim?" and hashes.
 *
 * @internal
 */
export const fnv1aIfSafe = (state: number, text: string, safe: Uint8Array): number => {
  let h = state
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 128 || safe[c] === 0) return Number.NaN
    h = Math.imul(h ^ c, 0x01000193)
  }
  return h
}

/** MurmurHash3's 32-bit finalizer: every input bit reaches every output bit (FNV's low bits alone are weak). @internal */
export const fmix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

const hex8 = (h: number): string => (h >>> 0).toString(16).padStart(8, "0")

// A MurmurHash3-style lane over the UTF-16 code units, independent of FNV's.
const murmurLane = (key: string): number => {
  let b = 0x9747b28c
  for (let i = 0; i < key.length; i++) {
    let k = Math.imul(key.charCodeAt(i), 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    b ^= Math.imul(k, 0x1b873593)
    b = (b << 13) | (b >>> 19)
    b = (Math.imul(b, 5) + 0xe6546b64) | 0
  }
  return b
}

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
  return "#" + hex8(fmix32(fnv1a(FNV_OFFSET, key) ^ n)) + hex8(fmix32(murmurLane(key) ^ n)) + "." + n.toString(36)
}
