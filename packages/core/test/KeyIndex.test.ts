import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { SAFE } from "../src/internal/keyHash.js"
import { KeyIndex, MAX_PROBES, NONE } from "../src/internal/keyIndex.js"
import type { Hasher } from "../src/internal/keyIndex.js"

// Keys as the store sees them: (namespace, key) pairs, the namespace "" or
// ending at its only `|`; close variants of each other on purpose.
const namespaces = ["", "a|", "ns|", "ns2|", "é|"]
const names = ["", "k", "k0", "k1", "0k", "kk", "a", "|", "x|y", "é", "\u0000", "ns", "k".repeat(70)]
const pairs = namespaces.flatMap((namespace) =>
  names.filter((key) => namespace !== "" || !key.includes("|")).map((key) => [namespace, key] as const)
)

const hashers: Record<string, Hasher | undefined> = {
  seeded: undefined,
  // every key in one cell: past MAX_PROBES, keys go to the overflow map
  "all colliding": () => -1,
  "four cells, wrapping around the table's end": (_seed, _namespace, key) => -1 - (key.length & 3)
}

const op = fc.record({
  pair: fc.nat({ max: pairs.length - 1 }),
  remove: fc.boolean()
})

describe("KeyIndex", () => {
  for (const [name, hasher] of Object.entries(hashers)) {
    it.prop(
      `never confuses two keys, through adds, removes and growth (${name} hash)`,
      [fc.array(op, { minLength: 1, maxLength: 400 }), fc.integer({ min: 1, max: 40 })],
      ([ops, initial]) => {
        const index = new KeyIndex(initial, hasher)
        const model = new Map<string, number>() // namespace + "\u0001" + key -> slot
        for (const { pair, remove } of ops) {
          const [namespace, key] = pairs[pair]
          const id = namespace + "\u0001" + key
          const held = model.get(id)
          const slot = index.find(namespace, key, index.hash(namespace, key))
          expect(slot).toBe(held ?? NONE)
          // a plain key finds the same slot unsplit
          expect(index.findWhole(namespace + key, index.hashWhole(namespace + key))).toBe(slot)
          if (held !== undefined && remove) {
            index.remove(held)
            model.delete(id)
          } else if (held === undefined && !remove) {
            if (!index.hasRoom()) index.grow(index.capacity * 2)
            const added = index.add(namespace, key, index.hash(namespace, key))
            expect([...model.values()]).not.toContain(added) // a slot holds one key
            model.set(id, added)
          }
          expect(index.size).toBe(model.size)
        }
        for (const [namespace, key] of pairs) {
          const slot = model.get(namespace + "\u0001" + key)
          expect(index.find(namespace, key, index.hash(namespace, key))).toBe(slot ?? NONE)
          if (slot !== undefined) expect([index.namespaces[slot], index.keys[slot]]).toEqual([namespace, key])
        }
      },
      { fastCheck: { numRuns: 60 } }
    )
  }

  it("a key's hash is the same split or whole, and from the one-pass check", () => {
    const index = new KeyIndex(4)
    expect(index.hashWhole("ns|10.0.0.1")).toBe(index.hash("ns|", "10.0.0.1"))
    expect(index.hashWhole("plain")).toBe(index.hash("", "plain"))
    expect(index.hashIfSafe("ns|", "10.0.0.1", SAFE)).toBe(index.hash("ns|", "10.0.0.1"))
    expect(index.hashIfSafe("ns|", "10.0.0.1 ", SAFE)).toBeNaN()
    expect(index.hashIfSafe("ns|", "é", SAFE)).toBeNaN()
    // seeded per index: another index hashes differently (2^-32 odds of a tie)
    expect(new KeyIndex(4).hash("ns|", "10.0.0.1")).not.toBe(index.hash("ns|", "10.0.0.1"))
  })

  it("1,000 keys that all collide: past MAX_PROBES they go to the overflow map, and are found and removed there", () => {
    const index = new KeyIndex(1024, () => 7)
    const slots: Array<number> = []
    for (let i = 0; i < 1000; i++) slots.push(index.add("ns|", `k${i}`, 7))
    expect(MAX_PROBES).toBeLessThan(1000)
    for (let i = 0; i < 1000; i += 2) index.remove(slots[i])
    for (let i = 0; i < 1000; i++) {
      expect(index.find("ns|", `k${i}`, 7)).toBe(i % 2 === 0 ? NONE : slots[i])
      expect(index.findWhole(`ns|k${i}`, 7)).toBe(i % 2 === 0 ? NONE : slots[i])
    }
    expect(index.find("ns|", "absent", 7)).toBe(NONE)
    expect(index.size).toBe(500)
  })
})
