/**
 * Vitest global setup: one real `redis-server` on a free loopback port for
 * the whole run, its URL handed to the tests with `provide("redisUrl", …)`
 * (read it with `inject("redisUrl")`), stopped when the run ends.
 */
import type {} from "vitest"
import type { TestProject } from "vitest/node"
import { startRedis } from "./support/redisServer.js"

declare module "vitest" {
  export interface ProvidedContext {
    readonly redisUrl: string
  }
}

export default async function setup(project: TestProject) {
  const server = await startRedis()
  project.provide("redisUrl", server.url)
  return async () => {
    await server.stop()
  }
}
