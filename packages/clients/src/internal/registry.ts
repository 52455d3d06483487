/** @internal */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { ProviderNotConfiguredError, UnknownProviderError } from "../ClientError.js"

/** @internal */
export const makeRegistry = <I, S, R>(
  tag: Context.Tag<I, S>,
  known: ReadonlyArray<string>,
  providers: { readonly [name: string]: Layer.Layer<I, unknown, R> }
): Effect.Effect<
  {
    readonly known: ReadonlyArray<string>
    readonly configured: ReadonlyArray<string>
    readonly get: (name: string) => Effect.Effect<S, UnknownProviderError | ProviderNotConfiguredError>
  },
  never,
  R | Scope.Scope
> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<R | Scope.Scope>()
    const all = [...new Set([...known, ...Object.keys(providers)])]
    const built = new Map<string, Effect.Effect<S, ProviderNotConfiguredError>>()
    for (const [name, layer] of Object.entries(providers)) {
      // Built once, on first use; a failure (missing keys) is remembered too.
      const build = yield* Effect.cached(
        Effect.flatMap(Effect.scope, (s) => Layer.buildWithScope(layer, s)).pipe(
          Effect.map((ctx) => Context.get(ctx, tag)),
          Effect.catchAllCause((cause) =>
            Effect.fail(
              new ProviderNotConfiguredError({
                provider: name,
                reason: Option.match(Cause.failureOption(cause), {
                  onNone: () => Cause.pretty(cause),
                  onSome: (e) => e instanceof Error ? e.message : String(e)
                })
              })
            )
          ),
          Effect.provide(context)
        )
      )
      built.set(name, build)
    }
    return {
      known: all,
      configured: Object.keys(providers),
      get: (name: string) => {
        const build = built.get(name)
        if (build !== undefined) return build
        return all.includes(name)
          ? Effect.fail(new ProviderNotConfiguredError({ provider: name, reason: "no layer was given for it" }))
          : Effect.fail(new UnknownProviderError({ name, known: all }))
      }
    }
  })
