// A CommonJS consumer: Node >= 20.19 loads the ESM package with require().
const assert = require("node:assert/strict")
const { CircuitBreaker, Policy } = require("@effect-resilience/core")
const { Effect, Either } = require("effect")

const program = Effect.gen(function*() {
  const breaker = yield* CircuitBreaker.make({ service: "cjs", resource: "call", failureThreshold: 1 })
  assert.equal(yield* Effect.succeed(42).pipe(CircuitBreaker.withCircuitBreaker(breaker)), 42)
  yield* Effect.either(Effect.fail("boom").pipe(CircuitBreaker.withCircuitBreaker(breaker)))
  const rejected = yield* Effect.either(Effect.succeed(1).pipe(CircuitBreaker.withCircuitBreaker(breaker)))
  assert.ok(Either.isLeft(rejected) && rejected.left._tag === "CircuitOpenError")
  assert.equal(typeof Policy.withResilience, "function")
})

Effect.runPromise(program).then(
  () => console.log("consumer: require() of core ok"),
  (error) => {
    console.error("consumer: require() FAILED", error)
    process.exitCode = 1
  }
)
