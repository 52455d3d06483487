/**
 * Timeout around a slow broker call, and why it answers on time.
 *
 * 1. A hung request (an interruptible `Effect.tryPromise` with an
 *    `AbortSignal`) is aborted at the deadline.
 * 2. A call that cannot be interrupted (say, a critical section that must
 *    finish writing its journal) takes 1 s; the 200 ms timeout still answers
 *    at ~200 ms, and the work finishes in the background. `Effect.timeout`
 *    would have answered after ~1 s.
 * 3. A fast call passes its value through unchanged (no timer is armed when
 *    the effect completes without suspending).
 *
 * Run: `pnpm exec tsx packages/core/examples/timeout.ts`
 */
import { Timeout } from "@effect-resilience/core"
import { Console, Effect } from "effect"

const hungRequest = Effect.tryPromise((signal) =>
  new Promise<string>((_resolve, reject) => {
    signal.addEventListener("abort", () => {
      console.log("  request aborted by the timeout")
      reject(new Error("aborted"))
    })
  })
)

const journalWrite = Effect.uninterruptible(
  Effect.sleep("1 second").pipe(Effect.zipRight(Console.log("  journal written (in the background)")))
)

const program = Effect.gen(function*() {
  const timeout = yield* Timeout.make({ duration: "200 millis", operation: "placeOrder" })
  const timed = <A, E>(label: string, self: Effect.Effect<A, E>) =>
    Effect.gen(function*() {
      const started = Date.now()
      const result = yield* Effect.either(timeout.execute(self))
      const outcome = result._tag === "Right" ? `value ${String(result.right)}` : `error ${String(result.left)}`
      yield* Console.log(`${label}: ${outcome} after ${Date.now() - started} ms`)
    })
  yield* timed("hung request", hungRequest)
  yield* timed("uninterruptible work", journalWrite)
  yield* timed("fast call", Effect.succeed(42))
  yield* Effect.sleep("1 second") // let the background journal write finish before exiting
})

Effect.runPromise(program)
