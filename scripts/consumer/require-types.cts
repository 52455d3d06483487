// A CommonJS TypeScript consumer (module NodeNext): require() of the ESM package type-checks.
import core = require("@effect-resilience/core")

export const withResilience: typeof core.Policy.withResilience = core.Policy.withResilience
