/**
 * The memory store's eviction: its slots in least-recently-used order, and
 * when to sweep idle keys.
 *
 * The order is a doubly linked list of slots in two typed arrays (`prev`,
 * `next`), not `Map` re-insertion: touching a key is a few integer writes,
 * and the least recently used slot (`head`) is read in O(1), to evict it past
 * the store's bound or to drop it once idle.
 *
 * Idle keys (refilled to full) read the same as absent ones, so the store
 * drops them lazily, with no timer: every `SWEEP_EVERY` decisions, up to
 * `SWEEP_SIZE` of the least recently used keys, once they have been full for
 * `IDLE_GRACE_MILLIS`. The grace is a trade: without it, a key that many
 * clients' round-robin brings back at a high rate is full again, hence
 * dropped, before its next call, and one decision in eight paid a delete plus
 * a re-insert (100,000 keys cycled: ~20% of the decision's CPU); with it, an
 * idle key lingers up to a second longer. Memory stays bounded by the store's
 * `maxKeys` either way.
 *
 * @internal
 */
import { NONE } from "./keyIndex.js"

/** Every this many decisions, the store looks at the oldest keys and drops the idle ones. @internal */
export const SWEEP_EVERY = 32

/** How many of the oldest keys one sweep looks at, at most. @internal */
export const SWEEP_SIZE = 4

/** The lazy sweep drops a key only once it has been full for this long. @internal */
export const IDLE_GRACE_MILLIS = 1000

/** @internal */
export class Lru {
  /** The least recently used slot, NONE when empty. */
  head = NONE
  /** The most recently used slot, NONE when empty. */
  tail = NONE
  /** Per slot: its neighbours, towards `head` and towards `tail`. */
  prev: Int32Array
  next: Int32Array
  private sinceSweep = 0

  constructor(capacity: number) {
    this.prev = new Int32Array(capacity)
    this.next = new Int32Array(capacity)
  }

  /** Make room for `capacity` slots. */
  grow(capacity: number): void {
    const prev = new Int32Array(capacity)
    prev.set(this.prev)
    this.prev = prev
    const next = new Int32Array(capacity)
    next.set(this.next)
    this.next = next
  }

  /** Add a slot not in the list as the most recently used. */
  append(slot: number): void {
    this.prev[slot] = this.tail
    this.next[slot] = NONE
    if (this.tail === NONE) this.head = slot
    else this.next[this.tail] = slot
    this.tail = slot
  }

  /** Take a slot out of the list. */
  unlink(slot: number): void {
    const p = this.prev[slot]
    const n = this.next[slot]
    if (p === NONE) this.head = n
    else this.next[p] = n
    if (n === NONE) this.tail = p
    else this.prev[n] = p
  }

  /** Mark a slot in the list as the most recently used. */
  touch(slot: number): void {
    if (slot !== this.tail) {
      this.unlink(slot)
      this.append(slot)
    }
  }

  /** Counts a decision: true once every `SWEEP_EVERY` (then sweep up to `SWEEP_SIZE` keys). */
  sweepDue(): boolean {
    if (++this.sinceSweep < SWEEP_EVERY) return false
    this.sinceSweep = 0
    return true
  }
}
