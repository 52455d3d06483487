/**
 * A fleet instance in its own process (see `fleetInstance.ts`): started by
 * `spawnInstance` with `node --import tsx`, its options in `FLEET_INSTANCE`
 * (JSON). Prints `ready` once its breaker is made, then answers one JSON line
 * `{ id, reply }` per command line `{ id, command }` on stdin, and exits when
 * stdin closes.
 */
import { Effect, Exit, Scope } from "effect"
import * as Readline from "node:readline"
import { type Command, type InstanceOptions, makeInstance } from "./fleetInstance.js"

const options = JSON.parse(process.env.FLEET_INSTANCE ?? "{}") as InstanceOptions
const scope = Effect.runSync(Scope.make())
const send = await Effect.runPromise(makeInstance(options, scope))
process.stdout.write("ready\n")

const lines = Readline.createInterface({ input: process.stdin })
lines.on("line", (line) => {
  const { command, id } = JSON.parse(line) as { readonly id: number; readonly command: Command }
  send(command).then(
    (reply) => process.stdout.write(`${JSON.stringify({ id, reply })}\n`),
    (error) => process.stdout.write(`${JSON.stringify({ id, error: String(error) })}\n`)
  )
})
lines.on("close", () => {
  Effect.runPromise(Scope.close(scope, Exit.void)).finally(() => process.exit(0))
})
