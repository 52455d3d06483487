/**
 * Test harness: the gateway as a real process (`node --import tsx
 * src/main.ts`, what `pnpm start` runs) on a free loopback port, and raw
 * HTTP clients that can stall, abort or hold a connection open.
 */
import * as ChildProcess from "node:child_process"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Path from "node:path"

const cwd = Path.resolve(import.meta.dirname, "../..")

export interface GatewayProcess {
  readonly url: string
  readonly port: number
  readonly child: ChildProcess.ChildProcess
  /** stdout + stderr so far (capped). */
  readonly output: () => string
  /** Resolves when the process has exited, with when (ms, `Date.now()`). */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: string | null; readonly at: number }>
  /** SIGKILL if still running (cleanup). */
  readonly kill: () => void
}

/** Start `src/main.ts` with `env` (PORT=0, DEMO_TRAFFIC=0 unless given); resolves once it prints its URL. */
export const spawnGateway = (env: Record<string, string>, startupMillis = 60_000): Promise<GatewayProcess> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(process.execPath, ["--max-old-space-size=768", "--import", "tsx", "src/main.ts"], {
      cwd,
      env: { ...process.env, PORT: "0", DEMO_TRAFFIC: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let started = false
    const append = (chunk: Buffer) => {
      if (output.length < 200_000) output += chunk.toString("utf8")
      const match = /effect-resilience gateway\s+(http:\/\/127\.0\.0\.1:(\d+))/.exec(output)
      if (!started && match !== null) {
        started = true
        clearTimeout(timer)
        resolve({
          url: match[1]!,
          port: Number(match[2]),
          child,
          output: () => output,
          exited,
          kill: () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
          }
        })
      }
    }
    child.stdout.on("data", append)
    child.stderr.on("data", append)
    const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((resolveExit) =>
      child.once("exit", (code, signal) => resolveExit({ code, signal, at: Date.now() }))
    )
    void exited.then(() => {
      if (!started) reject(new Error(`gateway exited before it started:\n${output}`))
    })
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`gateway did not start within ${startupMillis} ms:\n${output}`))
    }, startupMillis)
  })

export interface Outcome {
  readonly sentAt: number
  readonly status?: number
  readonly error?: string
  readonly body?: string
}

/** One request on `agent`; never rejects (the outcome says what happened). */
export const send = (
  url: string,
  path: string,
  options: {
    readonly method?: string
    readonly body?: string
    readonly headers?: Record<string, string>
    readonly agent?: Http.Agent
    /** Destroy the request after this many ms (a client that gives up). */
    readonly abortAfterMillis?: number
  } = {}
): Promise<Outcome> =>
  new Promise((resolve) => {
    const target = new URL(url)
    const sentAt = Date.now()
    const headers: Record<string, string | number> = { ...options.headers }
    if (options.body !== undefined) {
      headers["content-type"] ??= "application/json"
      headers["content-length"] = Buffer.byteLength(options.body)
    }
    const request = Http.request({
      host: target.hostname,
      port: target.port,
      path,
      method: options.method ?? "GET",
      headers,
      agent: options.agent ?? false
    }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => {
        if (body.length < 10_000) body += chunk
      })
      response.on("end", () => resolve({ sentAt, status: response.statusCode!, body }))
      response.on("error", (e: NodeJS.ErrnoException) => resolve({ sentAt, error: e.code ?? e.message }))
    })
    request.on("error", (e: NodeJS.ErrnoException) => resolve({ sentAt, error: e.code ?? e.message }))
    request.setTimeout(30_000, () => request.destroy(new Error("client timeout")))
    request.end(options.body)
    if (options.abortAfterMillis !== undefined) setTimeout(() => request.destroy(), options.abortAfterMillis)
  })

/** A raw connection that sends `head` and `partialBody`, then stalls; collects whatever comes back. */
export const stalledRequest = (port: number, head: string, partialBody = "") => {
  const socket = Net.connect({ port, host: "127.0.0.1" })
  let received = ""
  const closed = new Promise<string>((resolve) => {
    socket.on("data", (chunk) => {
      received += chunk.toString("utf8")
    })
    socket.on("error", () => {})
    socket.on("close", () => resolve(received))
  })
  const connected = new Promise<void>((resolve) => socket.once("connect", () => resolve()))
  socket.write(head + partialBody)
  return { socket, connected, closed, received: () => received }
}

/** The head of a POST /orders promising `length` bytes of JSON. */
export const ordersHead = (length: number, extra = "") =>
  `POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n`

/** Poll until `check` holds or `timeoutMillis` passes; returns the last value. */
export const pollUntil = async <A>(
  attempt: () => Promise<A>,
  check: (a: A) => boolean,
  timeoutMillis: number
): Promise<A> => {
  const deadline = Date.now() + timeoutMillis
  let last = await attempt()
  while (!check(last) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    last = await attempt()
  }
  return last
}

/** The gateway's in-flight figure (the dashboard's; the asking request counts itself, so 1 means none other). */
export const inFlight = async (url: string): Promise<number> => {
  const outcome = await send(url, "/dashboard/state", { headers: { "x-api-key": `observer-${Math.random()}` } })
  if (outcome.status !== 200) return -1
  return (JSON.parse(outcome.body!) as { state: { inFlight: number } }).state.inFlight
}
