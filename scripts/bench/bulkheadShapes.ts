/**
 * The success-path shapes a bulkhead could take on Effect's public API, side
 * by side (issue 15): what each adds per call to `Effect.succeed`, in CPU
 * time, medians over interleaved rounds. "unsafe" is the floor without an
 * interruption mask (it leaks a permit when the call is interrupted): the gap
 * to the masked shapes is the price of the two runtime-flag changes.
 *
 *   pnpm exec tsx scripts/bench/bulkheadShapes.ts [rounds=11] [filter]
 */
import { Effect, Exit } from "effect"
import * as Bulkhead from "../../packages/core/src/Bulkhead.js"
import { cpuNanos, effectLoop, median } from "./harness.js"

const main = async () => {
  const rounds = Number(process.argv[2] ?? 11)
  const self = Effect.succeed(1)
  let active = 0
  const take = () => {
    active++
  }
  const release = () => {
    active--
  }
  const h = {
    onFailure: (c: any) => {
      release()
      return Effect.failCause(c)
    },
    onSuccess: (a: any) => {
      release()
      return Effect.succeed(a)
    }
  }
  const hExit = {
    onFailure: (c: any) => {
      release()
      return Exit.failCause(c)
    },
    onSuccess: (a: any) => {
      release()
      return Exit.succeed(a)
    }
  }
  const bulkhead = await Effect.runPromise(Bulkhead.make({ name: "ab", maxConcurrent: 10 }))
  const sem = await Effect.runPromise(Effect.makeSemaphore(10))
  const run = (e: Effect.Effect<void, unknown>) => Effect.runPromise(e)
  const variants: Array<[string, () => Effect.Effect<unknown, unknown>]> = [
    ["bare", () => self],
    ["bulkhead.execute", () => bulkhead.execute(self)],
    ["mask+matchCause", () =>
      Effect.uninterruptibleMask((restore) => {
        take()
        return Effect.matchCauseEffect(restore(self), h)
      })],
    ["mask+matchCause exit", () =>
      Effect.uninterruptibleMask((restore) => {
        take()
        return Effect.matchCauseEffect(restore(self), hExit)
      })],
    ["unint(suspend(matchCause(interruptible)))", () =>
      Effect.uninterruptible(Effect.suspend(() => {
        take()
        return Effect.matchCauseEffect(Effect.interruptible(self), hExit)
      }))],
    [
      "unint(sync take, matchCause(interruptible)) ",
      () =>
        Effect.uninterruptible(
          Effect.matchCauseEffect(Effect.interruptible(Effect.zipRight(Effect.sync(take), self)), hExit)
        )
    ],
    ["wfr + unint(matchCause(interruptible))", () =>
      Effect.withFiberRuntime((_f, _s) => {
        return Effect.uninterruptible(Effect.suspend(() => {
          take()
          return Effect.matchCauseEffect(Effect.interruptible(self), hExit)
        }))
      })],
    ["unsafe suspend+matchCause (floor)", () =>
      Effect.suspend(() => {
        take()
        return Effect.matchCauseEffect(self, hExit)
      })],
    ["onExit", () => Effect.onExit(Effect.suspend(() => (take(), self)), () => Effect.sync(release))],
    ["acquireUseRelease", () => Effect.acquireUseRelease(Effect.sync(take), () => self, () => Effect.sync(release))],
    ["ensuring", () => Effect.ensuring(Effect.suspend(() => (take(), self)), Effect.sync(release))],
    ["semaphore.withPermits(1)", () => sem.withPermits(1)(self)],
    ["semaphore.withPermitsIfAvailable(1)", () => sem.withPermitsIfAvailable(1)(self)]
  ]
  const filter = process.argv[3]
  const vs = variants.filter(([l]) => filter === undefined || l === "bare" || new RegExp(filter).test(l)).map((
    [label, body]
  ) => ({ label, run: effectLoop(run, body), samples: [] as Array<number> }))
  const n = 100_000
  for (const v of vs) await v.run(n)
  for (const v of vs) await v.run(n)
  for (let r = 0; r < rounds; r++) for (const v of vs) v.samples.push((await cpuNanos(() => v.run(n))) / n)
  const base = median(vs[0]!.samples)
  for (const v of vs) {
    console.log(
      `${v.label.padEnd(48)} ${median(v.samples).toFixed(0).padStart(6)}  +${(median(v.samples) - base).toFixed(0)}`
    )
  }
  if (active !== 0) console.log("active", active)
}
main()
