/**
 * The in-memory `CircuitBreakerStore`: one `Map` of entries (value, version,
 * expiry on the fiber's Clock) and one sliding `PubSub` per key that somebody
 * watches. Bounded: at most `maxKeys` live entries (expired ones are swept
 * before a new key is refused) and at most `maxKeys` watched keys.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import * as api from "../CircuitBreakerStore.js"
import type { InvalidOptionsError } from "../ResilienceError.js"
import * as validate from "./validate.js"

const POLICY = "CircuitBreakerStore"

/** @internal */
export const DEFAULT_MAX_KEYS = 10_000

// a subscriber that falls this far behind skips to the newest writes (the contract allows skipping, never going back)
const PUSH_BUFFER = 64

interface Stored {
  readonly version: number
  readonly value: string
  readonly expiresAt: number
}

interface Watched {
  readonly pubsub: PubSub.PubSub<api.Entry>
  subscribers: number
}

const storeError = (operation: string, message: string) => new api.CircuitBreakerStoreError({ operation, message })

/** @internal */
export const makeMemory = (
  options: { readonly maxKeys?: number | undefined } = {}
): Effect.Effect<api.Service, InvalidOptionsError> =>
  Effect.map(validate.positiveInt(POLICY, "maxKeys", options.maxKeys, DEFAULT_MAX_KEYS), (maxKeys) => {
    const entries = new Map<string, Stored>()
    const watched = new Map<string, Watched>()

    const live = (key: string, now: number): Stored | undefined => {
      const stored = entries.get(key)
      if (stored === undefined) return undefined
      if (stored.expiresAt > now) return stored
      entries.delete(key)
      return undefined
    }

    const entryOf = (stored: Stored | undefined): Option.Option<api.Entry> =>
      stored === undefined ? Option.none() : Option.some({ version: stored.version, value: stored.value })

    // room for one more key: sweep the expired ones first (O(maxKeys), only when full)
    const hasRoom = (now: number): boolean => {
      if (entries.size < maxKeys) return true
      for (const [key, stored] of entries) if (stored.expiresAt <= now) entries.delete(key)
      return entries.size < maxKeys
    }

    const read = (key: string): Effect.Effect<api.Read, api.CircuitBreakerStoreError> =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const now = clock.unsafeCurrentTimeMillis()
          return { entry: entryOf(live(key, now)), now }
        })
      )

    const compareAndSet = (
      key: string,
      expectedVersion: number,
      value: string,
      ttl: Duration.DurationInput
    ): Effect.Effect<api.WriteResult, api.CircuitBreakerStoreError> =>
      Effect.clockWith((clock) =>
        Effect.suspend((): Effect.Effect<api.WriteResult, api.CircuitBreakerStoreError> => {
          const ttlMillis = Duration.toMillis(Duration.decode(ttl))
          if (!(ttlMillis > 0) || !Number.isFinite(ttlMillis)) {
            return Effect.fail(storeError("compareAndSet", "ttl must be a finite duration > 0"))
          }
          const now = clock.unsafeCurrentTimeMillis()
          const current = live(key, now)
          if ((current?.version ?? 0) !== expectedVersion) {
            return Effect.succeed({ _tag: "Conflict", current: entryOf(current), now })
          }
          if (current === undefined && !hasRoom(now)) {
            return Effect.fail(storeError("compareAndSet", `the memory store holds its maximum of ${maxKeys} keys`))
          }
          const version = expectedVersion + 1
          entries.set(key, { version, value, expiresAt: now + ttlMillis })
          const watch = watched.get(key)
          if (watch !== undefined) watch.pubsub.unsafeOffer({ version, value })
          return Effect.succeed({ _tag: "Written", version, now })
        })
      )

    const changes: api.Service["changes"] = (key) =>
      Effect.gen(function*() {
        let watch = watched.get(key)
        if (watch === undefined) {
          if (watched.size >= maxKeys) {
            return yield* Effect.fail(storeError("changes", `the memory store watches its maximum of ${maxKeys} keys`))
          }
          watch = { pubsub: yield* PubSub.sliding<api.Entry>(PUSH_BUFFER), subscribers: 0 }
          watched.set(key, watch)
        }
        const w = watch
        w.subscribers++
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (--w.subscribers === 0 && watched.get(key) === w) watched.delete(key)
          })
        )
        // subscribed here, so a write made once this effect has completed is seen
        const queue = yield* PubSub.subscribe(w.pubsub)
        return Stream.fromQueue(queue)
      })

    return api.CircuitBreakerStore.of({ read, compareAndSet, changes })
  })
