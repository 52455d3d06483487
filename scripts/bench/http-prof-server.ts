/**
 * `http-server.ts` with a SIGTERM handler that exits normally, so that
 * `node --cpu-prof` writes its profile: `node --cpu-prof
 * scripts/bench/dist/http-prof-server.mjs effect-ratelimit <port>` (or
 * `http-ab --node-flags "--cpu-prof …"`, which starts it).
 */
process.on("SIGTERM", () => process.exit(0))
await import("./http-server.js")
