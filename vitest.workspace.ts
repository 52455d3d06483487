// Each package has its own vitest.config.ts; `pnpm test` runs them all.
export default ["packages/*/vitest.config.ts"]
