/**
 * The memory store's key index: which slot (a small integer, 0 to capacity)
 * holds a key. The store keeps each slot's bucket state in its own arrays,
 * indexed by slot; this module only hands slots out, finds them again and
 * takes them back. It never evicts: the store removes a key before adding
 * one past its bound.
 *
 * A key is a (namespace, key) pair, the namespace being the text up to and
 * including the first `|` (a limiter's name), or "" when there is none.
 * `RateLimiter` passes a client key as it got it beside its limiter's
 * namespace, so a decision builds no `namespace + key` string and the index
 * keeps the caller's string, not a longer copy. A plain key (`"ns|key"`) is
 * found with `findWhole`, without slicing it.
 *
 * The index is an open-addressing table (linear probing, at most half full)
 * of slot + 1 per cell, not a `Map`: with many keys a `Map` lookup is two
 * dependent cache misses (its bucket, then its entry), a probe here usually
 * one (the cell; the slot's own arrays are read anyway). Measured against
 * this class rewritten over a `Map` per namespace (`node
 * scripts/bench/dist/limiterCpu.mjs 7`, 3 alternated runs, 100,000 keys
 * cycled): RateLimiter's synchronous decision 229–260 CPU ns with the table,
 * 310–370 with the `Map`s; 1 key: no difference. The hash
 * is seeded per index at random, so no one can precompute colliding keys, and
 * probes are capped at `MAX_PROBES`: a key that finds no free cell that close
 * to its home cell goes to an overflow `Map`, so keys made to collide cost at
 * most that many probes each, never a scan of the table.
 *
 * @internal
 */
import * as KeyHash from "./keyHash.js"

/** No slot. @internal */
export const NONE = -1

/** Cells probed at most per lookup before the overflow `Map`. @internal */
export const MAX_PROBES = 128

/** A key's index hash from the index's seed, replaceable in tests (a constant one makes every key collide). @internal */
export type Hasher = (seed: number, namespace: string, key: string) => number

// The smallest power of two at least twice `capacity`: the table stays at most half full.
const tableSizeFor = (capacity: number): number => {
  let size = 16
  while (size < 2 * capacity) size *= 2
  return size
}

/** @internal */
export class KeyIndex {
  /** Keys held. */
  size = 0
  /** Slots available before `grow`. */
  capacity: number
  /** Per slot: its key and namespace (`undefined`: a free slot) and its hash. */
  readonly keys: Array<string>
  readonly namespaces: Array<string | undefined>
  hashes: Int32Array
  private cells: Int32Array // slot + 1, or 0 when empty
  private mask: number
  // keys that found no cell within MAX_PROBES, by namespace + key (unique: a
  // namespace is "" or ends at its only `|`)
  private readonly overflow = new Map<string, number>()
  private used = 0 // slots [0, used) have been handed out at least once
  private readonly freed: Array<number> = []
  private readonly seed = (Math.random() * 0x100000000) | 0
  // The FNV state after the namespace hashed last: one limiter's decisions
  // mostly follow each other, so its name is hashed once, not per decision
  // (100,000 keys cycled through RateLimiter's synchronous path: ~235 -> ~280
  // CPU ns per decision without it, `limiterCpu.mjs`, medians of 3 runs).
  private hashedNamespace = ""
  private namespaceState: number

  constructor(capacity: number, private readonly hasher?: Hasher | undefined) {
    this.capacity = capacity
    this.keys = new Array<string>(capacity).fill("")
    this.namespaces = new Array<string | undefined>(capacity).fill(undefined)
    this.hashes = new Int32Array(capacity)
    this.cells = new Int32Array(tableSizeFor(capacity))
    this.mask = this.cells.length - 1
    this.namespaceState = KeyHash.fnv1a(this.seed, "")
  }

  private stateAfter(namespace: string): number {
    if (namespace !== this.hashedNamespace) {
      this.hashedNamespace = namespace
      this.namespaceState = KeyHash.fnv1a(this.seed, namespace)
    }
    return this.namespaceState
  }

  /** The index hash of a (namespace, key) pair: seeded FNV-1a over both, finalized with the key's length. */
  hash(namespace: string, key: string): number {
    if (this.hasher !== undefined) return this.hasher(this.seed, namespace, key)
    return KeyHash.fmix32(KeyHash.fnv1a(this.stateAfter(namespace), key) ^ key.length)
  }

  /** `hash` of a plain key's two parts, in one pass over it: FNV-1a is sequential, so no slicing. */
  hashWhole(whole: string): number {
    const bar = whole.indexOf("|")
    if (this.hasher !== undefined) return this.hasher(this.seed, whole.slice(0, bar + 1), whole.slice(bar + 1))
    return KeyHash.fmix32(KeyHash.fnv1a(this.seed, whole) ^ (whole.length - bar - 1))
  }

  /**
   * `hash`, computed while checking that every character of `key` is marked
   * in `safe` (ASCII only): NaN when one is not. `RateLimiter` keeps a client
   * key verbatim when its characters are all safe, so one pass both decides
   * that and hashes it.
   */
  hashIfSafe(namespace: string, key: string, safe: Uint8Array): number {
    const h = KeyHash.fnv1aIfSafe(this.stateAfter(namespace), key, safe)
    if (Number.isNaN(h)) return h // a character is not safe
    return this.hasher !== undefined ? this.hasher(this.seed, namespace, key) : KeyHash.fmix32(h ^ key.length)
  }

  /** The slot of (namespace, key), or NONE. */
  find(namespace: string, key: string, hash: number): number {
    const { cells, hashes, keys, mask, namespaces } = this
    for (let i = hash & mask, probes = 0; probes < MAX_PROBES; i = (i + 1) & mask, probes++) {
      const cell = cells[i]
      if (cell === 0) break
      const slot = cell - 1
      if (hashes[slot] === hash && keys[slot] === key && namespaces[slot] === namespace) return slot
    }
    if (this.overflow.size === 0) return NONE
    return this.overflow.get(namespace + key) ?? NONE
  }

  /**
   * The slot of a plain key, unsplit. A stored namespace is "" (its key then
   * holds no `|`) or ends at its only `|`, so the one pair whose namespace is
   * a prefix of `whole` and whose key is the rest is its split.
   */
  findWhole(whole: string, hash: number): number {
    const { cells, hashes, keys, mask, namespaces } = this
    for (let i = hash & mask, probes = 0; probes < MAX_PROBES; i = (i + 1) & mask, probes++) {
      const cell = cells[i]
      if (cell === 0) break
      const slot = cell - 1
      if (hashes[slot] !== hash) continue
      const namespace = namespaces[slot]!
      const key = keys[slot]
      if (namespace.length + key.length === whole.length && whole.startsWith(namespace) && whole.endsWith(key)) {
        return slot
      }
    }
    if (this.overflow.size === 0) return NONE
    return this.overflow.get(whole) ?? NONE
  }

  /** Can `add` hand out a slot without `grow`? */
  hasRoom(): boolean {
    return this.freed.length > 0 || this.used < this.capacity
  }

  /** Make room for `capacity` slots (more than now); the table doubles with it. */
  grow(capacity: number): void {
    const hashes = new Int32Array(capacity)
    hashes.set(this.hashes)
    this.hashes = hashes
    for (let i = this.capacity; i < capacity; i++) {
      this.keys.push("")
      this.namespaces.push(undefined)
    }
    this.capacity = capacity
    const tableSize = tableSizeFor(capacity)
    if (tableSize === this.cells.length) return
    this.cells = new Int32Array(tableSize)
    this.mask = tableSize - 1
    this.overflow.clear()
    for (let slot = 0; slot < this.used; slot++) if (this.namespaces[slot] !== undefined) this.place(slot)
  }

  /** Hold (namespace, key), not held yet, in a slot (`hasRoom()` must be true): its slot. */
  add(namespace: string, key: string, hash: number): number {
    const slot = this.freed.length > 0 ? this.freed.pop()! : this.used++
    this.keys[slot] = key
    this.namespaces[slot] = namespace
    this.hashes[slot] = hash
    this.place(slot)
    this.size++
    return slot
  }

  /** Forget the key in `slot`; the slot is handed out again later. */
  remove(slot: number): void {
    this.unplace(slot)
    this.keys[slot] = ""
    this.namespaces[slot] = undefined
    this.freed.push(slot)
    this.size--
  }

  private place(slot: number): void {
    const { cells, mask } = this
    for (let i = this.hashes[slot] & mask, probes = 0; probes < MAX_PROBES; i = (i + 1) & mask, probes++) {
      if (cells[i] === 0) {
        cells[i] = slot + 1
        return
      }
    }
    this.overflow.set(this.namespaces[slot]! + this.keys[slot], slot)
  }

  private unplace(slot: number): void {
    const { cells, hashes, mask } = this
    let i = hashes[slot] & mask
    for (let probes = 0;; i = (i + 1) & mask, probes++) {
      if (probes === MAX_PROBES || cells[i] === 0) {
        this.overflow.delete(this.namespaces[slot]! + this.keys[slot])
        return
      }
      if (cells[i] === slot + 1) break
    }
    // Backward-shift deletion: move up every later cell of the run that may
    // sit at i (its home cell is not in (i, j]), so no lookup stops early at
    // the hole, and no probe sequence gets longer.
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      const cell = cells[j]
      if (cell === 0) break
      const home = hashes[cell - 1] & mask
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue
      cells[i] = cell
      i = j
    }
    cells[i] = 0
  }
}
