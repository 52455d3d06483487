import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "redis",
    include: ["test/**/*.test.ts"],
    // A real redis-server on a free loopback port for the run (tests that kill
    // and restart Redis start their own with test/support/redisServer.ts).
    globalSetup: ["./test/globalSetup.ts"],
    testTimeout: 30_000
  }
})
