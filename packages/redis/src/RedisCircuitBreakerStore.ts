/**
 * A `CircuitBreakerStore` on Redis: the shared state of fleet-wide circuit
 * breakers (`SharedCircuitBreaker` in core), so that every instance of a
 * fleet opens, probes and closes a breaker together.
 *
 * Provide it in place of `CircuitBreakerStore.layerMemory` when the breakers
 * of several processes must share their state. The store knows nothing about
 * breakers: it is a versioned register per key (see `CircuitBreakerStore` in
 * core for the model), implemented as
 *
 * - one string key per breaker, `${prefix}breaker:{${key}}` (the key as core's
 *   `RateLimiterStore.storeKey` keeps it: verbatim when short and safe, else
 *   hashed), so on a Redis Cluster each breaker lives in one slot; every write
 *   sets its time to live (`SET … PX`);
 * - `read` and `compareAndSet` each one Lua script run (EVALSHA; EVAL after a
 *   `NOSCRIPT`), one round trip, answering with the Redis server's clock
 *   (`TIME`), so instances with skewed clocks share one timeline;
 * - `compareAndSet` publishes the new entry on the key's channel in the same
 *   script (atomic with the write), and `changes` receives it on one
 *   subscriber connection per store (ioredis `duplicate()`), shared by every
 *   stream of the store, one `SUBSCRIBE` per key however many streams watch it;
 * - every command has a deadline (`commandTimeout`): a dead, unreachable or
 *   hung Redis gives a `CircuitBreakerStoreError` within it, never a hang,
 *   and nothing queues while disconnected (ioredis' offline queue is off). A
 *   connection that answered nothing for a whole deadline is dropped and
 *   reconnected, so commands cannot pile up on a hung server.
 *
 * A lost subscriber connection fails every `changes` stream of the store
 * (as the contract says: the shared breaker re-reads and subscribes again,
 * which succeeds once Redis is back). The store does not resubscribe by itself:
 * a change published while the connection was down is never delivered, so a
 * stream that silently resumed would hide the gap; the owner's re-read
 * covers it.
 *
 * Needs Redis 6.0 or later.
 *
 * @since 0.3.0
 */
import * as CircuitBreakerStore from "@effect-resilience/core/CircuitBreakerStore"
import type { InvalidOptionsError } from "@effect-resilience/core/ResilienceError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { RedisOptions } from "ioredis"
import * as internal from "./internal/breakerStore.js"
import type { ClusterConnection } from "./RedisRateLimiterStore.js"

/**
 * Options of the Redis breaker store. `url`, `redisOptions` and `cluster` mean
 * what they mean for `RedisRateLimiterStore` (and the same fail-fast ioredis
 * settings are forced).
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /**
   * Where Redis is: `redis://[user:password@]host:port[/db]` or `rediss://` for
   * TLS. Without it, `redisOptions` (or ioredis' default, 127.0.0.1:6379).
   */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /**
   * More ioredis options (TLS, password, db, `retryStrategy`, …). The store
   * always overrides `enableOfflineQueue` (false), `maxRetriesPerRequest` (0),
   * `autoResendUnfulfilledCommands` (false) and `lazyConnect`, and the
   * subscriber connection's `autoResubscribe` (false).
   */
  readonly redisOptions?: RedisOptions | undefined
  /**
   * Connect to a Redis Cluster instead of one server (then `url` and
   * `redisOptions` must be absent). Each breaker's key is in one slot; its
   * changes travel by (cluster-wide) `PUBLISH`.
   */
  readonly cluster?: ClusterConnection | undefined
  /**
   * Prepended to every key and channel; no `{` or `}`.
   *
   * @default "effect-resilience:"
   */
  readonly prefix?: string | undefined
  /**
   * The deadline of every command (`read`, `compareAndSet`, the `SUBSCRIBE`
   * of `changes`): a reply later than this fails the call with
   * `CircuitBreakerStoreError`. Keep it at or below the shared breaker's own
   * store budget, so the breaker's fallback, not this deadline, decides how
   * long a caller waits.
   *
   * @default 250 millis
   */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /**
   * How long `make` waits for the first connections. A Redis that is not
   * there by then is not an error: the store answers with
   * `CircuitBreakerStoreError` at once until it connects.
   *
   * @default 1 second
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/**
 * The options `layerConfig` reads from `Config`.
 *
 * @since 0.3.0
 * @category models
 */
export interface ConfigOptions {
  readonly url: Redacted.Redacted<string>
  /** Startup nodes of a Redis Cluster; when not empty, used instead of `url`. */
  readonly clusterNodes?: ReadonlyArray<Redacted.Redacted<string>> | undefined
  readonly prefix: string
  readonly commandTimeout: Duration.Duration
}

/**
 * The default prefix of every key and channel.
 *
 * @since 0.3.0
 * @category constants
 */
export const defaultPrefix: string = internal.DEFAULT_PREFIX

/**
 * The longest value `compareAndSet` takes (in UTF-16 code units); a longer one
 * fails with `CircuitBreakerStoreError`: every write is pushed to every
 * instance.
 *
 * @since 0.3.0
 * @category constants
 */
export const maxValueLength: number = internal.MAX_VALUE_LENGTH

/**
 * The Redis key (also the pub/sub channel) of a breaker key:
 * `${prefix}breaker:{${RateLimiterStore.storeKey(key)}}`.
 *
 * @example
 * ```ts
 * import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
 *
 * assert.strictEqual(
 *   RedisCircuitBreakerStore.redisKey("effect-resilience:", "broker/orders"),
 *   "effect-resilience:breaker:{broker/orders}"
 * )
 * assert.ok(RedisCircuitBreakerStore.redisKey("p:", "{evil}\n").startsWith("p:breaker:{~#"))
 * ```
 *
 * @since 0.3.0
 * @category keys
 */
export const redisKey: (prefix: string, key: string) => string = internal.redisKey

/**
 * Opens the store's two connections (commands, and pub/sub for `changes`),
 * closed when the scope closes. Fails only on invalid options; a Redis that is
 * down makes each call fail with `CircuitBreakerStoreError` until it is back.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make: (
  options?: Options | undefined
) => Effect.Effect<CircuitBreakerStore.Service, InvalidOptionsError, Scope.Scope> = internal.make

/**
 * `CircuitBreakerStore` on Redis (see `make`).
 *
 * @example
 * ```ts
 * import { RedisCircuitBreakerStore } from "@effect-resilience/redis"
 *
 * const Store = RedisCircuitBreakerStore.layer({ url: "redis://127.0.0.1:6379", commandTimeout: "200 millis" })
 * ```
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options?: Options | undefined
): Layer.Layer<CircuitBreakerStore.CircuitBreakerStore, InvalidOptionsError> =>
  Layer.scoped(CircuitBreakerStore.CircuitBreakerStore, internal.make(options))

/**
 * The `Config` `layerConfig` reads by default, under `BREAKER_REDIS_`: `URL`
 * (default `redis://127.0.0.1:6379`), `CLUSTER_NODES` (comma-separated
 * `redis://host:port` of a Redis Cluster, used instead of `URL` when set),
 * `PREFIX` (default `effect-resilience:`) and `COMMAND_TIMEOUT` (a duration
 * such as `250 millis`, the default).
 *
 * @since 0.3.0
 * @category config
 */
export const config: Config.Config<ConfigOptions> = Config.nested(
  Config.all({
    url: Config.redacted("URL").pipe(Config.withDefault(Redacted.make("redis://127.0.0.1:6379"))),
    clusterNodes: Config.redacted("CLUSTER_NODES").pipe(
      Config.withDefault(Redacted.make("")),
      Config.map((nodes) =>
        Redacted.value(nodes).split(",").map((node) => node.trim()).filter((node) => node.length > 0).map((node) =>
          Redacted.make(node)
        )
      )
    ),
    prefix: Config.string("PREFIX").pipe(Config.withDefault(internal.DEFAULT_PREFIX)),
    commandTimeout: Config.duration("COMMAND_TIMEOUT").pipe(
      Config.withDefault(Duration.millis(internal.DEFAULT_COMMAND_TIMEOUT_MILLIS))
    )
  }),
  "BREAKER_REDIS"
)

/**
 * `CircuitBreakerStore` on Redis, configured from `Config` (by default
 * `config`: environment variables `BREAKER_REDIS_URL` or `_CLUSTER_NODES`,
 * `_PREFIX`, `_COMMAND_TIMEOUT`). Options that are not configuration (ioredis
 * options, Cluster options, `connectTimeout`) can be passed beside it; a
 * `cluster` passed beside it is used when the configuration has no
 * `CLUSTER_NODES`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerConfig = (
  configOptions: Config.Config.Wrap<ConfigOptions> = config,
  options?: Omit<Options, keyof ConfigOptions> | undefined
): Layer.Layer<CircuitBreakerStore.CircuitBreakerStore, InvalidOptionsError | ConfigError.ConfigError> =>
  Layer.scoped(
    CircuitBreakerStore.CircuitBreakerStore,
    Effect.flatMap(Config.unwrap(configOptions), ({ clusterNodes, url, ...configured }) => {
      const cluster = clusterNodes !== undefined && clusterNodes.length > 0
        ? { nodes: clusterNodes, options: options?.cluster?.options }
        : options?.cluster
      // A cluster replaces the single-node URL (which has a default).
      return internal.make(
        cluster === undefined ? { ...options, ...configured, url } : { ...options, ...configured, cluster }
      )
    })
  )

/**
 * `resilience_circuit_breaker_store_redis_errors_total`: store calls that
 * Redis did not answer as asked, by reason (the breaker's own count of failed
 * store calls, by call, is core's `resilience_circuit_breaker_store_errors_total`),
 * labelled `policy="circuit_breaker_store"`, `service` (the key prefix),
 * `operation` (`read`, `compareAndSet`, `changes`), `store="redis"` and
 * `reason` (`timeout`, `connection`, `script`, `reply`, `input`).
 *
 * @since 0.3.0
 * @category metrics
 */
export const storeErrors: Metric.Metric.Counter<number> = internal.storeErrors

/**
 * `resilience_circuit_breaker_store_writes_total`: compare-and-sets answered
 * by Redis, labelled `policy`, `service`, `operation="compareAndSet"`, `store`
 * and `outcome` (`written`, `conflict`).
 *
 * @since 0.3.0
 * @category metrics
 */
export const writes: Metric.Metric.Counter<number> = internal.writes

/**
 * `resilience_circuit_breaker_store_pushes_total`: changes delivered to
 * `changes` streams (one per stream and change), labelled `policy`,
 * `service`, `operation="changes"` and `store`.
 *
 * @since 0.3.0
 * @category metrics
 */
export const pushes: Metric.Metric.Counter<number> = internal.pushes
