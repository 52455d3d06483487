import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { NONE } from "../src/internal/keyIndex.js"
import { Lru, SWEEP_EVERY } from "../src/internal/lru.js"

const order = (lru: Lru): Array<number> => {
  const slots: Array<number> = []
  for (let slot = lru.head; slot !== NONE; slot = lru.next[slot]) slots.push(slot)
  return slots
}

const reversed = (lru: Lru): Array<number> => {
  const slots: Array<number> = []
  for (let slot = lru.tail; slot !== NONE; slot = lru.prev[slot]) slots.push(slot)
  return slots
}

describe("Lru", () => {
  it.prop(
    "keeps slots in least-recently-used order through appends, touches and unlinks (and growth)",
    [fc.array(fc.record({ slot: fc.nat({ max: 15 }), unlink: fc.boolean() }), { maxLength: 300 })],
    ([ops]) => {
      const lru = new Lru(4)
      let capacity = 4
      const model: Array<number> = [] // least recently used first
      for (const { slot, unlink } of ops) {
        const at = model.indexOf(slot)
        if (at === -1) {
          if (unlink) continue
          while (slot >= capacity) lru.grow(capacity *= 2)
          lru.append(slot)
          model.push(slot)
        } else if (unlink) {
          lru.unlink(slot)
          model.splice(at, 1)
        } else {
          lru.touch(slot)
          model.splice(at, 1)
          model.push(slot)
        }
        expect(order(lru)).toEqual(model)
        expect(reversed(lru)).toEqual([...model].reverse())
        expect(lru.head).toBe(model[0] ?? NONE)
      }
    }
  )

  it("a sweep is due once every SWEEP_EVERY decisions", () => {
    const lru = new Lru(1)
    const due: Array<number> = []
    for (let i = 1; i <= 3 * SWEEP_EVERY; i++) if (lru.sweepDue()) due.push(i)
    expect(due).toEqual([SWEEP_EVERY, 2 * SWEEP_EVERY, 3 * SWEEP_EVERY])
  })
})
