/**
 * Hostile traffic against a real gateway process on loopback (issue 12):
 * outcomes only, never latencies (those are `pnpm soak`'s). Every wait has
 * seconds of margin, so the file passes beside a CPU hog; every request has a
 * client-side timeout and every socket and process is closed after.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Http from "node:http"
import * as Net from "node:net"
import { afterEach } from "vitest"
import { rssMb, startGatewayProcess, stopAll } from "./utils/gatewayProcess.js"

/** A request that never throws: the status, or the error's code. */
const send = async (url: string, init: RequestInit = {}, timeoutMillis = 10_000): Promise<number | string> => {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMillis) })
    await res.arrayBuffer()
    return res.status
  } catch (error) {
    const cause = (error as { cause?: { code?: unknown } }).cause
    return typeof cause?.code === "string" ? cause.code : error instanceof Error ? error.name : "error"
  }
}

/** A raw request (for bytes `fetch` will not send), its status line's code, or the error's code. */
const raw = (url: string, bytes: string, timeoutMillis = 10_000): Promise<number | string> => {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = Net.connect({ host: hostname, port: Number(port) })
    let answer = ""
    const done = (result: number | string) => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(timeoutMillis, () => done("timeout"))
    socket.on("error", (error: NodeJS.ErrnoException) => done(error.code ?? "error"))
    socket.on("connect", () => socket.write(bytes))
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1")
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)
      if (status !== null) done(Number(status[1]))
    })
    socket.on("end", () => done(answer.length === 0 ? "closed" : "unparsed"))
  })
}

/** A connection that sends the headers of a POST /orders and half its body, then nothing. */
const halfSentBody = (url: string, key: string): Promise<Net.Socket> => {
  const { hostname, port } = new URL(url)
  const body = JSON.stringify({ symbol: "AAPL", side: "buy", qty: 1, type: "market" })
  return new Promise((resolve) => {
    const socket = Net.connect({ host: hostname, port: Number(port) })
    socket.on("error", () => {}) // cutting a slow client off is the server's right
    socket.on("connect", () => {
      socket.write(
        `POST /orders HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nx-api-key: ${key}\r\n` +
          `Content-Length: ${body.length}\r\n\r\n${body.slice(0, body.length >> 1)}`
      )
      resolve(socket)
    })
  })
}

/** GET from another loopback source address (another client, as the gateway keys clients by IP). */
const getFrom = (localAddress: string, url: string, key: string): Promise<number | string> =>
  new Promise((resolve) => {
    const request = Http.get(url, { localAddress, headers: { "x-api-key": key }, timeout: 30_000 }, (res) => {
      res.resume()
      res.on("end", () => resolve(res.statusCode ?? 0))
    })
    request.on("timeout", () => request.destroy(new Error("timeout")))
    request.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
  })

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

describe("a gateway under hostile traffic (real process, loopback)", () => {
  // a test that timed out has not run its `finally` yet
  afterEach(stopAll)

  it("a year of minute bars is answered or refused with 400, and /health answers while it runs", async () => {
    const gateway = await startGatewayProcess()
    try {
      const from = new Date(Date.now() - 365 * 24 * 3600_000).toISOString().slice(0, 10)
      let done = false
      const query = send(`${gateway.url}/marketdata/bars/AAPL?timeframe=1m&from=${from}&limit=10000`, {}, 60_000)
        .finally(() => (done = true))
      const health: Array<number | string> = []
      // while it runs (and at least three times: a bounded query may be done at once)
      while ((!done || health.length < 3) && health.length < 20) {
        // seconds of margin: a frozen event loop fails this, a busy machine does not
        health.push(await send(`${gateway.url}/health`, {}, 10_000))
        await sleep(100)
      }
      expect([200, 400]).toContain(await query)
      expect(health.length).toBeGreaterThan(0)
      expect(health.every((status) => status === 200)).toBe(true)
    } finally {
      await gateway.stop()
    }
  }, 120_000)

  it("with 300 slowloris connections open, a fast client's requests still succeed (2xx, not 503)", async () => {
    const gateway = await startGatewayProcess()
    const sockets = await Promise.all(Array.from({ length: 300 }, (_, i) => halfSentBody(gateway.url, `slow-${i}`)))
    try {
      const statuses: Array<number | string> = []
      for (let i = 0; i < 20; i++) {
        statuses.push(await send(`${gateway.url}/marketdata/quote/AAPL`, { headers: { "x-api-key": "fast" } }))
        await sleep(100) // within the per-client limit
      }
      expect(statuses).toEqual(Array(20).fill(200))
    } finally {
      for (const socket of sockets) socket.destroy()
      await gateway.stop()
    }
  }, 120_000)

  it("50 concurrent 5 MB bodies get 413 and the gateway's RSS stays under 400 MB", async () => {
    const gateway = await startGatewayProcess()
    try {
      const body = `{"symbol":"AAPL","side":"buy","qty":1,"type":"market","note":"${"x".repeat(5 * 1024 * 1024)}"}`
      let peak = 0
      let sampling = true
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, rssMb(gateway.child.pid!))
          await sleep(50)
        }
      })()
      const statuses = await Promise.all(Array.from({ length: 50 }, (_, i) =>
        send(`${gateway.url}/orders`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-api-key": `flood-${i}` },
          body
        }, 60_000)))
      sampling = false
      await sampler
      expect(statuses).toEqual(Array(50).fill(413))
      expect(peak).toBeLessThan(400)
    } finally {
      await gateway.stop()
    }
  }, 120_000)

  it("none of ~100 malformed inputs gets a 5xx", async () => {
    const gateway = await startGatewayProcess()
    try {
      const order = { symbol: "AAPL", side: "buy", qty: 1, type: "market" }
      const json = (body: unknown) => JSON.stringify(body)
      const bodies: Array<string> = [
        "",
        "{",
        "null",
        "[]",
        "\"order\"",
        "{\"symbol\":}",
        "[".repeat(5_000) + "]".repeat(5_000),
        "{\"a\":".repeat(5_000) + "1" + "}".repeat(5_000),
        json({ ...order, qty: 1e308 }),
        json({ ...order, qty: -1 }),
        json({ ...order, qty: 0 }),
        json({ ...order, qty: 0.5 }),
        json({ ...order, qty: "1" }),
        json({ ...order, qty: null }),
        json({ ...order, type: "limit", limitPrice: 1e308 }),
        json({ ...order, type: "limit", limitPrice: -5 }),
        json({ ...order, type: "limit" }),
        json({ ...order, side: "hold" }),
        json({ ...order, symbol: "" }),
        json({ ...order, symbol: "A".repeat(10_000) }),
        json({ ...order, symbol: "../../etc/passwd" }),
        json({ ...order, symbol: "\u0000\uffff" }),
        json({ ...order, clientOrderId: "x".repeat(100_000) }),
        json({ ...order, __proto__: { admin: true } }),
        json({ ...order, constructor: { prototype: { admin: true } } }),
        "{\"qty\": 1e309}",
        "{\"qty\": NaN}",
        "\uFEFF" + json(order),
        json({ ...order, qty: 1e-308 }),
        json({ ...order, qty: "Infinity" }),
        json({ ...order, qty: [1] }),
        json({ ...order, side: null }),
        json({ ...order, type: "stop" }),
        json({ ...order, symbol: "aapl " }),
        json({ ...order, extra: "e".repeat(50_000) }),
        json(Array.from({ length: 10_000 }, () => order)),
        "{\"symbol\":\"AAPL\",\"symbol\":\"MSFT\",\"side\":\"buy\",\"qty\":1,\"type\":\"market\"}",
        "{\"symbol\":\"\\ud800\",\"side\":\"buy\",\"qty\":1,\"type\":\"market\"}",
        "{} trailing",
        "{\"qty\": 0x10}",
        "// comment\n{}"
      ]
      const contentTypes = [
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded"
      ]
      const requests: Array<() => Promise<number | string>> = []
      for (const body of bodies) {
        requests.push(() =>
          send(`${gateway.url}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body })
        )
      }
      for (const contentType of contentTypes) {
        requests.push(() =>
          send(`${gateway.url}/orders`, { method: "POST", headers: { "content-type": contentType }, body: json(order) })
        )
      }
      requests.push(() =>
        send(`${gateway.url}/orders`, {
          method: "POST",
          headers: { "content-type": "multipart/form-data; boundary=x" },
          body: "--x\r\nContent-Disposition: form-data; name=\"symbol\"\r\n\r\nAAPL\r\n--x--\r\n"
        })
      )
      const queries = [
        "timeframe=1m&from=yesterday",
        "to=2026-13-45",
        "from=2026-02-30",
        "from=0",
        "from=-271821-04-20",
        "from=275760-09-13",
        "from=2030-01-01&to=2020-01-01",
        "limit=-1",
        "limit=0",
        "limit=abc",
        "limit=1e309",
        "limit=10000000000",
        "limit=1&limit=2",
        "timeframe=1y",
        "timeframe=",
        "timeframe=%00",
        "from=%ff%fe",
        "x=" + "y".repeat(8_000),
        "timeframe=1d&from=1970-01-01&limit=10000",
        "from=2026-01-01T25:00:00Z",
        "to=now",
        "from=%",
        "limit=%20",
        "limit=1.5",
        "timeframe=1m&limit=10000&from=0001-01-01"
      ]
      for (const query of queries) requests.push(() => send(`${gateway.url}/marketdata/bars/AAPL?${query}`))
      const paths = [
        "/marketdata/quote/" + "A".repeat(5_000),
        "/marketdata/quote/%2e%2e%2f%2e%2e%2fetc",
        "/marketdata/quote/%00",
        "/marketdata/quote/😀",
        "/orders/" + "9".repeat(400),
        "/orders/by-client-id/%ff",
        "/HEALTH",
        "//health",
        "/health/",
        "/health?x=1",
        "/resilience/status/..",
        "/dashboard/../../etc/passwd",
        "/openapi.json?" + "a=1&".repeat(1_000),
        "/orders/by-client-id/" + "c".repeat(5_000),
        "/marketdata/bars/",
        "/marketdata/quote/",
        "/orders/%zz"
      ]
      for (const path of paths) requests.push(() => send(`${gateway.url}${path}`))
      for (
        const body of [{ target: "nowhere", kind: "outage" }, { target: "broker", kind: "latency", millis: 1e12 }, []]
      ) {
        requests.push(() =>
          send(`${gateway.url}/admin/faults`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: json(body)
          })
        )
      }
      requests.push(() => send(`${gateway.url}/orders/not-an-order`, { method: "DELETE" }))
      const rawRequests = [
        "GET / HTTP/1.1\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n",
        "POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Api-Key: " + "k".repeat(10_000) + "\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: ::::::, 999.1.1.1, \r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\nx-api-key: a\r\nx-api-key: b\r\n\r\n",
        "DELETE /orders HTTP/1.1\r\nHost: x\r\n\r\n",
        "PATCH /orders HTTP/1.1\r\nHost: x\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /health HTTP/1.0\r\n\r\n",
        "GET /marketdata/quote/AAPL HTTP/1.1\r\nHost: x\r\nAccept: application/xml\r\n\r\n"
      ]
      for (const bytes of rawRequests) requests.push(() => raw(gateway.url, bytes))
      // ten at a time, a batch a second: within the per-client limit, so a 429 hides no answer
      const statuses: Array<number | string> = []
      for (let i = 0; i < requests.length; i += 10) {
        const started = Date.now()
        statuses.push(...await Promise.all(requests.slice(i, i + 10).map((request) => request())))
        await sleep(Math.max(0, 1_000 - (Date.now() - started)))
      }
      // a 5xx or no answer at all (a hang) is a failure; the index says which input
      const failures = statuses.map((status, i) => [i, status] as const).filter(([, s]) =>
        s === "timeout" || s === "TimeoutError" || (typeof s === "number" && s >= 500)
      )
      expect(requests.length).toBeGreaterThanOrEqual(90)
      expect(failures).toEqual([])
      // and it still serves
      expect(await send(`${gateway.url}/health`)).toBe(200)
    } finally {
      await gateway.stop()
    }
  }, 180_000)

  it("while 10,000 rotating API keys hammer it, a compliant client within its own limit is answered 2xx", async () => {
    const gateway = await startGatewayProcess()
    try {
      // the attacker connects from 127.0.0.2, the compliant client from 127.0.0.1
      // (10,000 keys, or 90 s of them on a very slow machine)
      let next = 0
      const stopAt = Date.now() + 90_000
      let attacking = true
      const attacker = Promise.all(Array.from({ length: 50 }, async () => {
        while (next < 10_000 && Date.now() < stopAt) {
          const key = `rotating-${next++}`
          await getFrom("127.0.0.2", `${gateway.url}/marketdata/quote/AAPL`, key)
        }
      })).finally(() => (attacking = false))
      await sleep(500)
      const compliant: Array<number | string> = []
      while (attacking || compliant.length < 30) {
        compliant.push(await getFrom("127.0.0.1", `${gateway.url}/marketdata/quote/AAPL`, "compliant"))
        await sleep(200) // 5 requests/s: well within the per-client limit
      }
      await attacker
      expect(next).toBeGreaterThanOrEqual(1_000)
      expect(compliant.filter((status) => status !== 200)).toEqual([])
    } finally {
      await gateway.stop()
    }
  }, 180_000)
})
