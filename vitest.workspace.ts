// The test projects: each package has its own vitest.config.ts. The root
// vitest.config.ts hands this list to `test.projects` (Vitest 3.2's form of a
// workspace file), so `pnpm test` runs them all.
export default ["packages/*/vitest.config.ts"]
