/**
 * The shared breaker's own figures for `pnpm bench:fleet`: success-path cost
 * beside the local breaker, and Open → seen by another instance.
 */
import type { Settings, Table } from "./harness.js"

export interface Part {
  readonly table: Table
  readonly notes: Array<string>
}

export const successPath = (_settings: Settings): Promise<Part> =>
  Promise.reject(new Error("success-path cost: core's SharedCircuitBreaker has not landed on this branch"))

export const propagation = (_settings: Settings): Promise<Part> =>
  Promise.reject(new Error("propagation: core's SharedCircuitBreaker has not landed on this branch"))
