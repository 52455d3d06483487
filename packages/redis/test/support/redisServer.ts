/**
 * Starts and stops real `redis-server` processes on free loopback ports for
 * the tests: the global one every test shares (see `globalSetup.ts`) and
 * private ones for tests that kill and restart their server.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/** The binary: `REDIS_SERVER` if set, else `redis-server` on the PATH. */
const binary = process.env.REDIS_SERVER ?? "redis-server"
/** `REDIS_CLI` if set, else `redis-cli` on the PATH (cluster creation only). */
const cli = process.env.REDIS_CLI ?? "redis-cli"

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** SIGKILL: the process dies at once, connections reset. */
  readonly kill: () => Promise<void>
  /** SIGSTOP / SIGCONT: the server stays connected but stops answering (a "slow" Redis). */
  readonly pause: () => void
  readonly resume: () => void
  /** Starts a fresh (empty) server on the same port after a `kill`. */
  readonly restart: () => Promise<void>
  readonly stop: () => Promise<void>
}

/** A port the kernel says is free right now (bind to 0, read it, close). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** One raw `PING` over a fresh socket: true when the server answers `+PONG`. */
const ping = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" })
    let answer = ""
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.on("error", () => done(false))
    socket.on("connect", () => socket.write("PING\r\n"))
    socket.on("data", (chunk) => {
      answer += chunk.toString("utf8")
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG"))
    })
  })

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const waitUntilReady = async (port: number, child: ChildProcess, output: () => string): Promise<void> => {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited before answering PING (port ${port}):\n${output()}`)
    }
    if (await ping(port)) return
    await sleep(20)
  }
  throw new Error(`redis-server did not answer PING on port ${port} within 10 s:\n${output()}`)
}

const spawnServer = async (port: number, extraArgs: ReadonlyArray<string> = []): Promise<ChildProcess> => {
  const child = spawn(binary, [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--protected-mode",
    "no",
    ...extraArgs
  ], { stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stdout?.on("data", (chunk) => {
    if (output.length < 20_000) output += chunk.toString("utf8")
  })
  child.stderr?.on("data", (chunk) => {
    if (output.length < 20_000) output += chunk.toString("utf8")
  })
  const spawnError = new Promise<never>((_, reject) =>
    child.once(
      "error",
      (error) =>
        reject(new Error(`cannot start ${binary} (install redis-server or set REDIS_SERVER): ${error.message}`))
    )
  )
  await Promise.race([waitUntilReady(port, child, () => output), spawnError])
  return child
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

/**
 * Starts a `redis-server` on a free loopback port with persistence off and
 * waits until it answers PING.
 */
export const startRedis = async (options?: {
  readonly port?: number
  /** More `redis-server` arguments, given the port. */
  readonly args?: (port: number) => ReadonlyArray<string>
}): Promise<RedisServer> => {
  // A port can be taken between the probe and the bind: retry a few times.
  let lastError: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = options?.port ?? await freePort()
    try {
      const extraArgs = options?.args?.(port) ?? []
      let child = await spawnServer(port, extraArgs)
      const server: RedisServer = {
        port,
        url: `redis://127.0.0.1:${port}`,
        kill: async () => {
          child.kill("SIGKILL")
          await exited(child)
        },
        pause: () => {
          child.kill("SIGSTOP")
        },
        resume: () => {
          child.kill("SIGCONT")
        },
        restart: async () => {
          child.kill("SIGKILL")
          await exited(child)
          child = await spawnServer(port, extraArgs)
        },
        stop: async () => {
          child.kill("SIGCONT")
          child.kill("SIGTERM")
          const timer = setTimeout(() => child.kill("SIGKILL"), 2_000)
          await exited(child)
          clearTimeout(timer)
        }
      }
      return server
    } catch (error) {
      lastError = error
    }
  }
  throw lastError
}

export interface RedisCluster {
  readonly servers: ReadonlyArray<RedisServer>
  /** `redis://127.0.0.1:P` of every master. */
  readonly nodes: ReadonlyArray<string>
  /** Runs `redis-cli -p port args…` and returns its stdout. */
  readonly cli: (port: number, ...args: ReadonlyArray<string>) => Promise<string>
  /** Stops every server and deletes the cluster's config directory. */
  readonly stop: () => Promise<void>
}

const run = (file: string, args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile(
      file,
      [...args],
      { timeout: 10_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${file} ${args.join(" ")}: ${error.message}\n${stderr}`)) : resolve(stdout)
    )
  )

/**
 * A Redis Cluster of `masters` masters (no replicas) on free loopback ports,
 * its `nodes-P.conf` files in a fresh temporary directory; resolves once every
 * node reports `cluster_state:ok`.
 */
export const startCluster = async (masters = 3): Promise<RedisCluster> => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "effect-resilience-cluster-"))
  const servers: Array<RedisServer> = []
  const redisCli = (port: number, ...args: ReadonlyArray<string>) => run(cli, ["-p", String(port), ...args])
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()))
    await fs.rm(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < masters; i++) {
      servers.push(await startRedis({ args: (port) => clusterArgs(dir, port) }))
    }
    await run(cli, [
      "--cluster",
      "create",
      ...servers.map((server) => `127.0.0.1:${server.port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes"
    ])
    const deadline = Date.now() + 10_000
    for (const server of servers) {
      while (!(await redisCli(server.port, "CLUSTER", "INFO")).includes("cluster_state:ok")) {
        if (Date.now() > deadline) throw new Error(`cluster_state is not ok on port ${server.port} within 10 s`)
        await sleep(50)
      }
    }
  } catch (error) {
    await stop()
    throw error
  }
  return { servers, nodes: servers.map((server) => server.url), cli: redisCli, stop }
}

const clusterArgs = (dir: string, port: number): ReadonlyArray<string> => [
  "--cluster-enabled",
  "yes",
  "--cluster-config-file",
  path.join(dir, `nodes-${port}.conf`),
  "--cluster-node-timeout",
  "5000"
]
