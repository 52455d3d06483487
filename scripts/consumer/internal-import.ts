// Core's internals are not part of its API: the import must not resolve.
// @ts-expect-error: "@effect-resilience/core/internal/*" is not exported
import * as internal from "@effect-resilience/core/internal/validate"

export { internal }
