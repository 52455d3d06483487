/**
 * `http-server.ts` with a SIGTERM handler that exits normally, so that
 * `node --cpu-prof` writes its profile: `node --cpu-prof --import tsx
 * scripts/bench/http-prof-server.ts effect-ratelimit <port>`.
 */
process.on("SIGTERM", () => process.exit(0))
await import("./http-server.js")
