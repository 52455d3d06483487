/**
 * `npx tsx scripts/dashboard-screenshot.ts`: regenerate docs/dashboard.png, the README's picture of
 * the dashboard during a broker outage. It starts a gateway (demo traffic on),
 * opens the dashboard in Debian's headless Chromium (playwright-core, no
 * browser download), clicks Broker → Outage, waits until both broker breakers
 * are Open and calls are being rejected, lets the charts fill, and saves the
 * page. Everything it starts is stopped, whatever happens.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { chromium } from "playwright-core"
import { startGateway } from "./lib/gatewayProcess.js"

const executablePath = "/usr/bin/chromium"
const output = Path.resolve(import.meta.dirname, "../docs/dashboard.png")

const main = async () => {
  if (!Fs.existsSync(executablePath)) throw new Error(`no ${executablePath}: run bash scripts/setup-system.sh`)
  // a short reset timeout would close the breakers before the picture: keep them Open
  const gateway = await startGateway({ DEMO_TRAFFIC: "12", SIM_RESET_TIMEOUT: "60 seconds" })
  const userDataDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "dashboard-screenshot-"))
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
      viewport: { width: 1440, height: 1000 }
    })
    try {
      const page = await context.newPage()
      await page.goto(`${gateway.url}/dashboard`, { waitUntil: "load" })
      for (const name of ["simulated/broker_api", "simulated/order_execution", "simulated/market_data"]) {
        await page.waitForSelector(`[data-breaker="${name}"][data-state="Closed"]`, { timeout: 60_000 })
      }
      // some normal traffic first, so the charts show the outage as a change
      await page.waitForTimeout(15_000)
      await page.click("button.seg[data-target=\"broker\"]")
      await page.click("button.fault[data-kind=\"outage\"]")
      for (const name of ["simulated/broker_api", "simulated/order_execution"]) {
        await page.waitForSelector(`[data-breaker="${name}"][data-state="Open"]`, { timeout: 60_000 })
      }
      // rejected calls pile up on the charts; take the picture while the 503 rate shows them
      await page.waitForTimeout(6_000)
      await page.waitForFunction(
        () => !/^0\.0\b/.test(document.querySelector("[data-kpi=\"unavailable\"] .value")?.textContent ?? "0.0"),
        undefined,
        { timeout: 30_000, polling: 100 }
      ).catch(() => console.warn("the 503 rate read 0.0/s for 30 s: taking the picture anyway"))
      await page.screenshot({ path: output, fullPage: true })
      console.log(`wrote ${Path.relative(process.cwd(), output)}`)
    } finally {
      await context.close()
    }
  } finally {
    Fs.rmSync(userDataDir, { recursive: true, force: true })
    await gateway.kill()
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
