import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { chromium } from "playwright-core"
import { startRedis } from "../../redis/test/support/redisServer.js"
import { eventually, request, startGateway } from "./utils/gateway.js"

const executablePath = "/usr/bin/chromium"
const outputDir = Path.resolve(import.meta.dirname, "../test-output")

const launch = Effect.acquireRelease(
  Effect.promise(async () => {
    if (!Fs.existsSync(executablePath)) {
      throw new Error(
        `Chromium is not installed at ${executablePath}: install Debian's "chromium" package (CI's .ci/run does). ` +
          "The dashboard test drives a real headless browser and is never skipped."
      )
    }
    const userDataDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gateway-dashboard-"))
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ],
      viewport: { width: 1440, height: 1000 }
    })
    return { context, userDataDir }
  }),
  ({ context, userDataDir }) =>
    Effect.promise(async () => {
      await context.close()
      Fs.rmSync(userDataDir, { recursive: true, force: true })
    })
)

describe("dashboard in headless Chromium", () => {
  it.scopedLive(
    "loads without console errors, shows every breaker, and a breaker turns Open after a fault",
    () =>
      Effect.gen(function*() {
        const url = yield* startGateway({ demoTraffic: 8, simulated: { resetTimeout: Duration.seconds(30) } })
        const { context } = yield* launch
        const page = yield* Effect.promise(() => context.newPage())
        const errors: Array<string> = []
        const foreign: Array<string> = []
        page.on("console", (message) => {
          if (message.type() === "error") errors.push(message.text())
        })
        page.on("pageerror", (error) => errors.push(error.message))
        page.on("request", (request) => {
          if (!request.url().startsWith(url)) foreign.push(request.url())
        })

        yield* Effect.promise(() => page.goto(url + "/", { waitUntil: "load" }))
        expect(page.url()).toBe(url + "/dashboard")
        // demo traffic reaches every provider group, so each breaker appears
        for (const name of ["simulated/broker_api", "simulated/order_execution", "simulated/market_data"]) {
          yield* Effect.promise(() =>
            page.waitForSelector(`[data-breaker="${name}"][data-state="Closed"]`, { timeout: 15_000 })
          )
        }
        yield* Effect.promise(() => page.waitForSelector("#conn[data-conn=\"live\"]", { timeout: 15_000 }))
        expect(yield* Effect.promise(() => page.locator("[data-breaker]").count())).toBe(3)
        // without BREAKER_REDIS_URL each breaker is this gateway's own: marked local, no fleet state
        expect(yield* Effect.promise(() => page.locator("[data-breaker] .mode[data-mode=\"local\"]").count())).toBe(3)
        expect(yield* Effect.promise(() => page.locator("[data-breaker] [data-fleet-state]").count())).toBe(0)
        // the server's load-shedding bulkhead and the three client bulkheads, all from /resilience/status
        expect(yield* Effect.promise(() => page.locator("[data-bulkhead]").count())).toBe(4)
        for (const name of ["simulated/broker_api", "simulated/order_execution", "simulated/market_data"]) {
          expect(yield* Effect.promise(() => page.locator(`[data-bulkhead="${name}"]`).count())).toBe(1)
        }
        expect(yield* Effect.promise(() => page.locator("[data-limiter=\"gateway\"]").count())).toBe(1)
        // each bulkhead shows what /resilience/status carries: the permits free now and its rejections by reason
        const status = yield* request(url, "/resilience/status", { key: "dashboard-test" })
        for (
          const b of status.body.bulkheads as Array<
            { name: string; maxConcurrent: number; rejected: { full: number; timeout: number } }
          >
        ) {
          const card = page.locator(`[data-bulkhead="${b.name}"]`)
          const text = (selector: string) =>
            Effect.promise(async () => (await card.locator(selector).textContent()) ?? "")
          const available = Number(yield* text("[data-available]"))
          expect(Number.isInteger(available) && available >= 0 && available <= b.maxConcurrent, b.name).toBe(true)
          // nothing is rejected at the demo's 8 requests per second: both counts are the status page's 0
          expect([yield* text("[data-rejected=\"full\"]"), yield* text("[data-rejected=\"timeout\"]")]).toEqual([
            String(b.rejected.full),
            String(b.rejected.timeout)
          ])
        }

        // inject a broker outage with the page's own controls
        yield* Effect.promise(() => page.click("button.seg[data-target=\"broker\"]"))
        yield* Effect.promise(() => page.click("button.fault[data-kind=\"outage\"]"))
        yield* Effect.promise(() =>
          page.waitForSelector("[data-breaker=\"simulated/broker_api\"][data-state=\"Open\"]", { timeout: 15_000 })
        )
        yield* Effect.promise(() => page.waitForSelector(".chip", { timeout: 15_000 }))
        expect(
          yield* Effect.promise(() => page.locator("[data-breaker=\"simulated/broker_api\"] .state").textContent())
        )
          .toBe("OPEN")
        expect(
          yield* Effect.promise(() =>
            page.locator("[data-breaker=\"simulated/market_data\"]").getAttribute("data-state")
          )
        )
          .toBe("Closed")
        // let the charts fill a little before the picture
        yield* Effect.sleep("2500 millis")
        Fs.mkdirSync(outputDir, { recursive: true })
        yield* Effect.promise(() => page.screenshot({ path: Path.join(outputDir, "dashboard.png"), fullPage: true }))
        expect(Fs.statSync(Path.join(outputDir, "dashboard.png")).size).toBeGreaterThan(10_000)

        expect(errors).toEqual([])
        expect(foreign).toEqual([])
      }),
    60_000
  )

  it.scopedLive(
    "with BREAKER_REDIS_URL: breakers marked shared, the fleet opens on two gateways' failures and names them, a dead Redis shows local fallback",
    () =>
      Effect.gen(function*() {
        const redis = yield* Effect.acquireRelease(Effect.promise(() => startRedis()), (r) => Effect.promise(r.stop))
        const gateway = (instanceId: string) =>
          startGateway({
            demoTraffic: 8,
            simulated: { resetTimeout: Duration.seconds(60) },
            fleet: { breakerRedisUrl: Option.some(Redacted.make(redis.url)), instanceId }
          })
        const url = yield* gateway("dash-a")
        const other = yield* gateway("dash-b")
        const { context } = yield* launch
        const page = yield* Effect.promise(() => context.newPage())
        const errors: Array<string> = []
        page.on("console", (message) => {
          if (message.type() === "error") errors.push(message.text())
        })
        page.on("pageerror", (error) => errors.push(error.message))
        yield* Effect.promise(() => page.goto(url + "/dashboard", { waitUntil: "load" }))
        const broker = "[data-breaker=\"simulated/broker_api\"]"
        yield* Effect.promise(() => page.waitForSelector(`${broker} .mode[data-mode="shared"]`, { timeout: 30_000 }))
        yield* Effect.promise(() => page.waitForSelector(`${broker} [data-fleet-state="Closed"]`, { timeout: 30_000 }))

        // the same broker outage on both gateways: the fleet opens (quorum 2) and names both
        for (const u of [url, other]) {
          yield* request(u, "/admin/faults", { method: "POST", body: { target: "broker", kind: "outage" } })
        }
        yield* Effect.promise(() => page.waitForSelector(`${broker} [data-fleet-state="Open"]`, { timeout: 30_000 }))
        for (const id of ["dash-a", "dash-b"]) {
          yield* Effect.promise(() =>
            page.waitForSelector(`${broker} [data-failing] [data-instance="${id}"]`, { timeout: 30_000 })
          )
        }
        // the fleet's own change is in the event list, marked as the fleet's
        yield* Effect.promise(() => page.waitForSelector("#events li[data-fleet]", { timeout: 30_000 }))
        expect(yield* Effect.promise(() => page.locator("#events li[data-fleet]").first().textContent())).toMatch(
          /\(fleet\): Closed → Open/
        )
        Fs.mkdirSync(outputDir, { recursive: true })
        yield* Effect.promise(() =>
          page.screenshot({ path: Path.join(outputDir, "dashboard-fleet.png"), fullPage: true })
        )
        // /resilience/status carries the same
        const status = yield* request(url, "/resilience/status", { key: "dashboard-test" })
        const fleet = (status.body.breakers as Array<{ name: string; fleet?: any }>)
          .find((b) => b.name === "simulated/broker_api")?.fleet
        expect(fleet?.mode).toBe("shared")
        expect(fleet?.state).toBe("Open")
        expect(fleet?.instanceId).toBe("dash-a")
        expect(fleet?.failingInstances.map((f: { instance: string }) => f.instance).sort()).toEqual([
          "dash-a",
          "dash-b"
        ])

        // Redis gone: each gateway decides on its own breaker, and says so
        yield* Effect.promise(() => redis.kill())
        yield* Effect.promise(() =>
          page.waitForSelector(`${broker} .mode[data-mode="local-fallback"]`, { timeout: 30_000 })
        )
        yield* eventually(
          "the status page reports local-fallback",
          request(url, "/resilience/status", { key: "dashboard-test" }),
          (r) =>
            (r.body.breakers as Array<{ name: string; fleet?: { mode: string } }>)
              .find((b) => b.name === "simulated/broker_api")?.fleet?.mode === "local-fallback",
          30_000
        )
        expect(errors).toEqual([])
      }),
    120_000
  )

  it.scopedLive(
    "a half-open probe that settles in milliseconds still shows on the timeline, and the event list keeps its order",
    () =>
      Effect.gen(function*() {
        const url = yield* startGateway({ demoTraffic: 8, simulated: { resetTimeout: Duration.millis(500) } })
        const { context } = yield* launch
        const page = yield* Effect.promise(() => context.newPage())
        yield* Effect.promise(() => page.goto(url + "/dashboard", { waitUntil: "load" }))
        const broker = "[data-breaker=\"simulated/broker_api\"]"
        yield* Effect.promise(() => page.waitForSelector(`${broker}[data-state="Closed"]`, { timeout: 30_000 }))
        yield* request(url, "/admin/faults", { method: "POST", body: { target: "broker", kind: "outage" } })
        yield* Effect.promise(() => page.waitForSelector(`${broker}[data-state="Open"]`, { timeout: 30_000 }))
        yield* request(url, "/admin/faults", { method: "DELETE" })
        // the probe succeeds and the breaker closes: HalfOpen lasted milliseconds,
        // yet its mark is at least 1% of the 5-minute timeline (600 units wide)
        yield* Effect.promise(() => page.waitForSelector(`${broker}[data-state="Closed"]`, { timeout: 30_000 }))
        const halfOpen = yield* Effect.promise(() =>
          page.waitForSelector(`${broker} rect[data-seg="HalfOpen"]`, { timeout: 30_000 })
        )
        const width = Number(yield* Effect.promise(() => halfOpen.getAttribute("width")))
        expect(width).toBeGreaterThanOrEqual(5.9)
        // newest first, in the order they happened: Closed, then HalfOpen, then Open
        const events = yield* Effect.promise(() =>
          page.locator("#events li").evaluateAll((items) => items.map((li) => li.textContent ?? ""))
        )
        const brokerEvents = events.filter((text) => text.includes("Broker · reads"))
        expect(brokerEvents.slice(0, 3).map((text) => /→ (\w+)/.exec(text)?.[1])).toEqual([
          "Closed",
          "HalfOpen",
          "Open"
        ])
      }),
    90_000
  )
})
