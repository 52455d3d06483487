/**
 * Where token buckets live: the storage behind `RateLimiter`.
 *
 * A `RateLimiterStore` makes one rate-limit decision at a time, atomically,
 * over one or more token buckets (a client's bucket and the global bucket),
 * on its own clock. `RateLimiterStore.layerMemory` keeps buckets in this
 * process, bounded in keys; `@effect-resilience/redis` keeps them in Redis so
 * that a fleet of instances shares one limit.
 *
 * Reach for this module to pick a store (`layerMemory` or the Redis layer), or
 * to write a store of your own. Most code never calls a store directly: it
 * calls `RateLimiter`, which bounds and hashes user keys, validates options,
 * sleeps in `wait` mode and turns rejections into `RateLimitedError`.
 *
 * ## Model (what every store must implement)
 *
 * Each bucket refills continuously at `tokensPerSecond` up to `burstSize`
 * tokens, fractional tokens included, and starts full. A key that is absent
 * is a full bucket, so a store may forget any bucket that has refilled to
 * full (idle expiry) without changing any decision.
 *
 * `consume` decides for all buckets of a request at once: either every bucket
 * admits `cost` tokens and every bucket is charged, or the call is rejected
 * and no bucket is charged (all-or-nothing).
 *
 * - `maxWaitMillis = 0` (fail mode): admitted only when every bucket holds
 *   `cost` tokens now.
 * - `maxWaitMillis > 0` (wait mode): a reservation. Admitted when every
 *   bucket will hold `cost` tokens within `maxWaitMillis`; the buckets go into
 *   debt now (at most `tokensPerSecond × maxWaitMillis`) and the decision's
 *   `waitMillis` says how long the caller must sleep before acting. Every
 *   bucket is charged as of the moment the caller acts (`now + waitMillis`),
 *   so reservations are served in the order they were made.
 *
 * A reference implementation is the GCRA ("virtual scheduling") form of the
 * token bucket, one number per key: `tat`, the time at which the bucket is
 * full again. With `T = 1000 / tokensPerSecond` ms per token and
 * `tau = burstSize × T`, for each bucket `allowAt = max(tat, now) + cost × T
 * - tau`; the call acts at `at = max(now, max over buckets of allowAt)`; it is
 * admitted when `at - now <= maxWaitMillis`, and then every bucket gets
 * `tat = max(tat, at) + cost × T`. The key may expire at `tat` (Redis:
 * `PEXPIREAT`).
 *
 * ## Windows (multi-window quotas)
 *
 * A request may also carry `windows`: fixed-window counters, the shape of a
 * provider's "5 per minute and 25 per day". A token bucket cannot say that:
 * a bucket of burst L refilled at L per W admits up to 2L calls in some
 * stretch of length W. A window of `limit` L and length W is a calendar of
 * back-to-back windows aligned to the Unix epoch, `[k × W, (k + 1) × W)`
 * (a day window resets at UTC midnight, as providers reset theirs), each
 * admitting at most L units of cost. The guarantee: the cost charged to any
 * one aligned window never exceeds its `limit`. It is a fixed-window
 * guarantee, like the providers': a stretch of length W that straddles a
 * boundary may see up to 2L (the end of one window and the start of the
 * next); pair a window with a token bucket (or a shorter window) to spread
 * calls out within it.
 *
 * The decision stays one atomic, all-or-nothing step over every bucket AND
 * every window: a call rejected by any of them charges none of them. Each
 * window key holds two numbers (the latest window charged and its count), so
 * memory per key is constant whatever the limit. For each window the call
 * may act at `now` when the latest window charged is the current one (or
 * older) and `count + cost <= limit`; at that window's start when it is a
 * later one (reservations went there first) with room; else at the start of
 * the window after it. `at` is the latest of these and of the buckets'
 * times, admitted when `at - now <= maxWaitMillis` (fail mode: at once). The
 * cost is then charged to the window holding `now + waitMillis` (when the
 * caller acts), whose count starts at 0 when it is a new window. A window's
 * key may expire at the end of the latest window charged (a new window
 * starts empty). Stores keep window keys apart from bucket keys, so the two
 * never clash; the windows of one request must have distinct keys.
 *
 * `binding` and `rejectedBy` range over buckets and windows alike: index
 * `buckets.length + j` is `windows[j]`. For a window, `limit` is its
 * `limit`, `remaining` the cost it still admits in the window charged (when
 * rejected: in the latest window charged), `resetAfterMillis` the time to
 * that window's end and `retryAfterMillis` the time until it has room.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as KeyHash from "./internal/keyHash.js"
import * as internal from "./internal/rateLimiterStore.js"
import type { InvalidOptionsError } from "./ResilienceError.js"

/**
 * One token bucket taking part in a decision.
 *
 * `key` is already safe: `RateLimiter` builds it from a bounded set of
 * printable ASCII characters (`[A-Za-z0-9_.:@/+=#|*-]`, never `{` or `}`, at
 * most a few hundred characters), so a store may use it verbatim inside its
 * own key (a Redis store may wrap a hash tag around it). A store used
 * directly may get any string: both built-in stores keep a key through
 * `storeKey`, so a hostile one is held as its short hash. The same key always
 * comes with the same rate and burst, unless the application is reconfigured.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bucket {
  readonly key: string
  /** Refill rate, > 0 (may be fractional: 0.5 = one token every two seconds). */
  readonly tokensPerSecond: number
  /** Capacity, >= 1: the most tokens the bucket holds, so the largest burst. */
  readonly burstSize: number
}

/**
 * One fixed-window counter taking part in a decision (see "Windows" in the
 * module doc): at most `limit` units of cost in each window of
 * `windowMillis` aligned to the Unix epoch. `key` follows the rules of
 * `Bucket.key`; the same key always comes with the same limit and length.
 *
 * @since 0.2.0
 * @category models
 */
export interface Window {
  readonly key: string
  /** The most cost one window admits, an integer >= 1. */
  readonly limit: number
  /** The window's length in milliseconds, an integer >= 1 (`86_400_000`: a UTC day). */
  readonly windowMillis: number
}

/**
 * One decision to make: may `cost` tokens be taken from every bucket of
 * `buckets` (and `cost` be counted in every window of `windows`)?
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  /**
   * The buckets that must ALL admit, most specific first (the client's
   * bucket, then the global bucket). Never empty.
   */
  readonly buckets: ReadonlyArray<Bucket>
  /**
   * Tokens to take, > 0 for `consume` (and never more than the smallest
   * `burstSize`: `RateLimiter` validates it), >= 0 for `peek` (0 reads the
   * buckets as they are).
   */
  readonly cost: number
  /**
   * 0: fail mode (admit now or reject). > 0: wait mode, the longest the
   * caller is willing to sleep for a reservation, in milliseconds.
   */
  readonly maxWaitMillis: number
  /**
   * Fixed windows that must ALL admit too (see "Windows" in the module doc),
   * decided in the same atomic step; each window's `limit` >= `cost`. Absent
   * or empty: the token buckets alone decide, exactly as before.
   *
   * @since 0.2.0
   */
  readonly windows?: ReadonlyArray<Window> | undefined
}

/**
 * The outcome of one decision, with everything an HTTP `RateLimit` /
 * `Retry-After` header or a `RateLimitedError` needs. All durations are whole
 * milliseconds, rounded up, measured on the store's clock: this is a store's
 * raw answer, in the unit its arithmetic (and the Redis script) works in;
 * `RateLimiter` hands its callers `RateLimiter.Decision`, with `Duration`s.
 *
 * The "binding" bucket is the one the decision is reported for: when
 * rejected, the bucket that needs the longest to admit (`rejectedBy`); when
 * admitted, the bucket with the fewest whole tokens left (the first one on a
 * tie). Windows take part as buckets do (see "Windows" in the module doc):
 * a window that decided is the binding one, its `limit`, `remaining`,
 * `resetAfterMillis` and `retryAfterMillis` reported.
 *
 * @since 0.1.0
 * @category models
 */
export interface Decision {
  /** Was the call admitted (in wait mode: was a reservation made)? */
  readonly allowed: boolean
  /**
   * How long the caller must sleep before acting on an admitted reservation:
   * 0 in fail mode and whenever tokens were there already; 0 when rejected.
   */
  readonly waitMillis: number
  /** `burstSize` of the binding bucket. */
  readonly limit: number
  /**
   * Whole tokens left in the binding bucket after this decision (0 while a
   * bucket is in debt for reservations); when rejected, the whole tokens it
   * holds now (nothing was taken).
   */
  readonly remaining: number
  /** Time until the binding bucket is full again (0 when it is full). */
  readonly resetAfterMillis: number
  /**
   * 0 when admitted. When rejected: the exact time until a call of this cost
   * would be admitted without waiting, if nobody else takes tokens meanwhile
   * (a `Retry-After`). Wait mode rejects when this exceeds `maxWaitMillis`.
   */
  readonly retryAfterMillis: number
  /** When rejected: the `key` of the binding bucket that rejected the call. */
  readonly rejectedBy?: string | undefined
  /**
   * The index in `Request.buckets` of the binding bucket, when the store
   * reports it (the memory store does; a store that leaves it out is read
   * through `rejectedBy` and `limit`). With `Request.windows`, index
   * `buckets.length + j` is `windows[j]`, and every store reports it.
   */
  readonly binding?: number | undefined
  /**
   * Opaque to callers: what the store needs to give an admitted reservation
   * back with `refund` (the memory store: per bucket, its `tat` before and
   * after the charge, then per window its state before and after). Present
   * only when `waitMillis > 0`.
   */
  readonly reservation?: ReadonlyArray<number> | undefined
}

/**
 * What a store holds, for status pages.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Keys currently holding state (buckets not yet refilled), if the store can count them cheaply. */
  readonly keys: Option.Option<number>
  /** The most keys the store will hold, if it is bounded. */
  readonly maxKeys: Option.Option<number>
}

/**
 * A store failed to decide (Redis unreachable, too slow, a script error).
 *
 * A store configured to fail open, fail closed or fall back to a local
 * limiter resolves such failures into decisions itself; this error reaches
 * callers only from a store configured to propagate them.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimiterStoreError extends Schema.TaggedError<RateLimiterStoreError>()("RateLimiterStoreError", {
  /** Which store: `"memory"`, `"redis"`, … */
  store: Schema.String,
  /** What went wrong, for humans and logs: `"timeout"`, `"connection closed"`, … */
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `Rate limiter store "${this.store}" failed: ${this.reason}`
  }
}

/**
 * The operations of a store. Every operation is atomic: concurrent callers
 * (fibers, or processes sharing Redis) never see a half-made decision, and
 * `consume` makes one decision in one step (one round trip for a remote
 * store). Time is the store's own (memory: the fiber's `Clock`, so
 * `TestClock` drives it; Redis: the server's `TIME`), which is why no
 * operation takes a `now`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Decide, and charge every bucket when admitted (see the module doc for
   * fail and wait mode). Rejections are decisions (`allowed: false`), not
   * errors.
   */
  readonly consume: (request: Request) => Effect.Effect<Decision, RateLimiterStoreError>
  /** The decision `consume` would make now, without charging anything. */
  readonly peek: (request: Request) => Effect.Effect<Decision, RateLimiterStoreError>
  /**
   * Give back an admitted reservation the caller will not use (it was
   * interrupted while waiting): pass the request and the decision `consume`
   * returned. Each bucket gets its tokens back when no later reservation was
   * made behind this one (so the next caller takes its place); otherwise the
   * tokens stay spent, since handing them out again could over-admit while the
   * later reservations still wait. A no-op without `decision.reservation`.
   */
  readonly refund: (request: Request, decision: Decision) => Effect.Effect<void, RateLimiterStoreError>
  /** What the store holds, for status pages. */
  readonly stats: Effect.Effect<Stats, RateLimiterStoreError>
}

/**
 * The store `RateLimiter.layer` and `RateLimiter.make` use.
 *
 * @since 0.1.0
 * @category tags
 */
export class RateLimiterStore extends Context.Tag("@effect-resilience/core/RateLimiterStore")<
  RateLimiterStore,
  Service
>() {}

/**
 * Options of the in-memory store.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /**
   * The most keys held at once. Past it, the least recently used key is
   * forgotten: its bucket reads as full on its next call, so a flood of
   * distinct keys cannot grow memory without bound (at the price of the
   * forgotten clients' remaining debt).
   *
   * @default 100_000
   */
  readonly maxKeys?: number | undefined
}

/**
 * A store in this process's memory: one number per key (the time the bucket
 * is full again), in least-recently-used order, about 50 bytes per key with a
 * short key, the key string included (1,000,000 IPv4-like keys: ~50 MB of
 * heap). Idle keys (refilled to full) are dropped lazily, with no timer, by
 * a small amortized sweep of the oldest keys once they have been full for a
 * second (`stats` drops them all first, so its count is the live keys); past
 * `maxKeys` the least recently used key is evicted. Time is the fiber's
 * `Clock`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: (options?: MemoryOptions | undefined) => Effect.Effect<Service, InvalidOptionsError> =
  internal.makeMemory

/**
 * `RateLimiterStore` in memory (see `makeMemory`). Fails with
 * `InvalidOptionsError` when `maxKeys` is not an integer >= 1.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: MemoryOptions | undefined): Layer.Layer<RateLimiterStore, InvalidOptionsError> =>
  Layer.effect(RateLimiterStore, internal.makeMemory(options))

/**
 * The project's one key hash, for stores and integrations that must turn an
 * arbitrary string into a short, safe key: `#`, 16 hex digits of a 64-bit
 * hash of the UTF-16 code units, `.`, the length in base 36 (at most 24
 * characters, only `[0-9a-z#.]`). `RateLimiter.clientKey` uses it for client
 * keys it does not keep verbatim, `storeKey` for bucket keys. Stable across
 * versions and processes (no seed), so every instance of a fleet agrees. Not
 * cryptographic: accidental collisions need ~4 billion distinct hashed keys,
 * but someone able to choose arbitrary long keys could craft one on purpose.
 *
 * @example
 * ```ts
 * import { RateLimiterStore } from "@effect-resilience/core"
 *
 * assert.strictEqual(RateLimiterStore.hashKey("10.0.0.1"), "#227162a26562185b.8")
 * assert.strictEqual(RateLimiterStore.hashKey("x".repeat(100_000)).length, 22)
 * ```
 *
 * @since 0.1.0
 * @category keys
 */
export const hashKey: (key: string) => string = KeyHash.hashKey

/**
 * The form a store keeps a bucket key in, for stores of your own (the Redis
 * store uses it): the key itself when it has 1 to 512 characters of the
 * `Bucket.key` alphabet (`[A-Za-z0-9_.:@/+=#|*-]`, which every key
 * `RateLimiter` builds satisfies), else `~` + `hashKey(key)`. So a key used
 * directly, hostile or not (empty, huge, braces that would break a Redis hash
 * tag, spaces, control characters, unicode), becomes at most 25 printable
 * characters; `~` is outside the alphabet, so a hashed key never equals a
 * verbatim one.
 *
 * @example
 * ```ts
 * import { RateLimiterStore } from "@effect-resilience/core"
 *
 * assert.strictEqual(RateLimiterStore.storeKey("api|10.0.0.1"), "api|10.0.0.1")
 * assert.ok(RateLimiterStore.storeKey("{tag} with space").startsWith("~#"))
 * ```
 *
 * @since 0.1.0
 * @category keys
 */
export const storeKey: (key: string) => string = KeyHash.storeKey
