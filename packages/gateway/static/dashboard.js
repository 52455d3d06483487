// The gateway's live dashboard: vanilla JS drawing SVG from server-sent events
// (GET /dashboard/events). No build step, no dependency, nothing from the network.
"use strict"
;(function() {
  const COLORS = { Closed: "#22c55e", Open: "#ef4444", HalfOpen: "#f59e0b", Isolated: "#a855f7", Disabled: "#64748b" }
  const TIMELINE_MS = 5 * 60 * 1000
  // A state shorter than this is still drawn this long (1% of the timeline), so
  // a half-open probe that settles in milliseconds shows as an amber mark.
  const MIN_SPAN_MS = 3000
  // Breaker events in the order they happened: same-millisecond ones by sequence number.
  const byTime = (a, b) => a.at - b.at || (a.seq ?? 0) - (b.seq ?? 0)
  const CHART_SECONDS = 120
  const $ = (id) => document.getElementById(id)
  const esc = (s) =>
    String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c])
  const fmtSpan = (ms) =>
    ms < 1000 ? `${Math.round(ms)} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`
  const fmt = (n, digits) => {
    if (!Number.isFinite(n)) return "–"
    if (Math.abs(n) >= 1000) return (n / 1000).toFixed(1) + "k"
    return n.toFixed(digits === undefined ? 0 : digits)
  }

  let samples = []
  let last = null
  let target = "broker"
  let trafficTouched = 0

  // --- labels ---------------------------------------------------------------
  const RESOURCE_LABELS = {
    broker_api: "Broker · reads",
    order_execution: "Broker · orders",
    market_data: "Market data"
  }
  const labelOf = (name) => {
    const resource = name.split("/").slice(1).join("/")
    return RESOURCE_LABELS[resource] || name
  }

  // --- rates from cumulative samples -----------------------------------------
  const series = (pick) => {
    const out = []
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1], b = samples[i]
      const dt = Math.max(0.001, (b.at - a.at) / 1000)
      const va = pick(a), vb = pick(b)
      out.push(va === undefined || vb === undefined ? 0 : Math.max(0, (vb - va) / dt))
    }
    return out.slice(-CHART_SECONDS)
  }
  const gaugeSeries = (pick) => samples.slice(-CHART_SECONDS).map((s) => pick(s) || 0)
  const lastOf = (xs) => (xs.length === 0 ? 0 : xs[xs.length - 1])

  // --- tiny SVG charts --------------------------------------------------------
  const spark = (values, color, opts) => {
    const w = 300, h = (opts && opts.h) || 38
    const n = Math.max(values.length, 2)
    const max = Math.max((opts && opts.min) || 1, ...values)
    const x = (i) => (i * w) / (CHART_SECONDS - 1) + (CHART_SECONDS - n) * (w / (CHART_SECONDS - 1))
    const y = (v) => h - 2 - (v / max) * (h - 6)
    let d = ""
    values.forEach((v, i) => {
      d += (i === 0 ? "M" : "L") + x(i).toFixed(1) + " " + y(v).toFixed(1)
    })
    const area = values.length > 1 ? d + `L${x(values.length - 1).toFixed(1)} ${h}L${x(0).toFixed(1)} ${h}Z` : ""
    return `<svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" aria-hidden="true">` +
      `<path d="${area}" fill="${color}" opacity=".16"/>` +
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6" vector-effect="non-scaling-stroke"/></svg>`
  }
  const bars = (values, color, h) => {
    const w = 300
    const max = Math.max(1, ...values)
    const bw = w / CHART_SECONDS
    const offset = CHART_SECONDS - values.length
    let rects = ""
    values.forEach((v, i) => {
      if (v <= 0) return
      const bh = Math.max(1.5, (v / max) * (h - 2))
      rects += `<rect x="${((offset + i) * bw).toFixed(2)}" y="${(h - bh).toFixed(1)}" width="${
        Math.max(1, bw - 0.6).toFixed(2)
      }" height="${bh.toFixed(1)}" fill="${color}"/>`
    })
    return `<svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" aria-hidden="true"><line x1="0" y1="${
      h - 0.5
    }" x2="${w}" y2="${h - 0.5}" stroke="#23304d"/>${rects}</svg>`
  }

  // --- KPI tiles --------------------------------------------------------------
  const KPIS = [
    { key: "total", label: "Requests", color: "#60a5fa" },
    { key: "ok", label: "2xx / 3xx", color: "#22c55e" },
    { key: "rateLimited", label: "429 rate limited", color: "#eab308" },
    { key: "unavailable", label: "503 unavailable", color: "#ef4444" },
    { key: "gatewayTimeouts", label: "504 timeouts", color: "#f97316" },
    { key: "serverErrors", label: "other 5xx", color: "#e879f9" }
  ]
  const renderKpis = (state) => {
    $("kpis").innerHTML = KPIS.map((k) => {
      const rates = series((s) => s.requests[k.key])
      return `<div class="kpi" data-kpi="${k.key}"><div class="label"><span>${k.label}</span><span>${
        fmt(state.requests[k.key])
      } total</span></div>` +
        `<div class="value">${fmt(lastOf(rates), 1)}<small>/s</small></div>${spark(rates, k.color)}</div>`
    }).join("")
  }

  // --- breakers ---------------------------------------------------------------
  const timeline = (name, current, now, startedAt) => {
    const start = now - TIMELINE_MS
    // this gateway's own changes (a fleet-wide breaker's shared ones are listed under events, marked "fleet")
    const events = ((last && last.history[name]) || []).filter((e) => !e.fleet).sort(byTime)
    let state = current
    const before = events.filter((e) => e.at <= start)
    const inside = events.filter((e) => e.at > start)
    if (before.length > 0) state = before[before.length - 1].to
    else if (inside.length > 0) state = inside[0].from
    const segs = []
    // before the gateway started there is nothing to draw
    let t = Math.max(start, startedAt)
    for (const e of inside) {
      segs.push({ from: t, to: e.at, state })
      t = e.at
      state = e.to
    }
    segs.push({ from: t, to: now, state })
    const w = 600, h = 30
    const x = (ms) => ((ms - start) / TIMELINE_MS) * w
    let rects = ""
    // Closed first, then the other states over it, longest first: a short Open
    // or HalfOpen keeps at least MIN_SPAN_MS of width, drawn over its
    // neighbours instead of vanishing under them.
    const drawn = segs.filter((s) => s.state === "Closed").concat(
      segs.filter((s) => s.state !== "Closed").sort((a, b) => (b.to - b.from) - (a.to - a.from))
    )
    for (const s of drawn) {
      let from = s.from, to = s.to
      if (s.state !== "Closed" && to - from < MIN_SPAN_MS) {
        to = Math.min(now, from + MIN_SPAN_MS)
        from = Math.max(start, to - MIN_SPAN_MS)
      }
      const x0 = x(from), x1 = x(to)
      if (x1 - x0 <= 0 && s.state === "Closed") continue
      rects += `<rect x="${x0.toFixed(2)}" y="6" width="${Math.max(0.8, x1 - x0).toFixed(2)}" height="18" fill="${
        COLORS[s.state] || "#64748b"
      }" opacity="${s.state === "Closed" ? 0.55 : 0.95}" data-seg="${esc(s.state)}"><title>${esc(s.state)} for ${
        fmtSpan(s.to - s.from)
      }</title></rect>`
    }
    let ticks = ""
    for (const e of inside) {
      ticks += `<line x1="${x(e.at).toFixed(2)}" y1="2" x2="${
        x(e.at).toFixed(2)
      }" y2="28" stroke="#e6ebf5" stroke-width="1" opacity=".55" vector-effect="non-scaling-stroke"/>`
    }
    return `<svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" aria-label="state timeline"><rect x="0" y="6" width="${w}" height="18" rx="3" fill="#0b1222"/>${rects}${ticks}</svg>` +
      `<div class="axis"><span>−5 min</span><span>−2.5 min</span><span>now</span></div>`
  }
  // Local, shared or local-fallback (Redis away), the fleet's state beside this
  // instance's, and which instances reported the failures in the fleet's window.
  const MODE_LABELS = { local: "local", shared: "shared", "local-fallback": "local fallback" }
  const fleetLine = (b, now) => {
    const mode = b.fleet ? b.fleet.mode : "local"
    const badge = `<span class="mode" data-mode="${esc(mode)}" title="${
      mode === "local"
        ? "this gateway's own breaker"
        : mode === "shared"
        ? "fleet-wide: opens, probes and closes with every gateway on the same Redis"
        : "fleet-wide, but the shared store is unreachable: deciding on this gateway's own breaker"
    }">${esc(MODE_LABELS[mode] || mode)}</span>`
    if (!b.fleet) return `<div class="fleet">${badge}</div>`
    const f = b.fleet
    const failing = f.failingInstances.length === 0
      ? `<span class="none">no failures reported</span>`
      : f.failingInstances.map((i) =>
        `<span class="inst${i.instance === f.instanceId ? " self" : ""}" data-instance="${
          esc(i.instance)
        }" title="last ${fmtSpan(Math.max(0, now - i.lastFailureAt))} ago">${esc(i.instance)} <b>${
          fmt(i.failures)
        }</b></span>`
      ).join("")
    return `<div class="fleet">${badge}<span class="fleet-state" data-fleet-state="${esc(f.state)}" style="--f:${
      COLORS[f.state] || "#64748b"
    }">fleet ${esc(f.state === "HalfOpen" ? "HALF-OPEN" : f.state.toUpperCase())}</span>` +
      `<span class="me" title="this instance">${esc(f.instanceId)}</span></div>` +
      `<div class="failing" data-failing>${failing}</div>`
  }
  const renderBreakers = (state) => {
    const breakers = state.status.breakers
    if (breakers.length === 0) {
      $("breakers").innerHTML = `<p class="empty">No breaker yet: they appear with the first call to a provider.</p>`
      return
    }
    $("breakers").innerHTML = breakers.map((b) => {
      const color = COLORS[b.state] || "#64748b"
      let countdown = ""
      if (b.state === "Open" && b.nextAttemptAt !== null) {
        const secs = Math.max(0, Math.ceil((b.nextAttemptAt - state.at) / 1000))
        countdown = `probe in ${secs} s · opened ${b.trips} time${b.trips === 1 ? "" : "s"}`
      } else if (b.state === "HalfOpen") countdown = "probing: the next call decides"
      else if (b.trips > 0) countdown = `recovered · tripped ${b.trips} time${b.trips === 1 ? "" : "s"}`
      return `<article class="breaker" data-breaker="${esc(b.name)}" data-state="${
        esc(b.state)
      }" style="--c:${color}">` +
        `<div class="head"><div><div class="title">${esc(labelOf(b.name))}</div><div class="name">${
          esc(b.name)
        }</div></div>` +
        `<span class="state">${esc(b.state === "HalfOpen" ? "HALF-OPEN" : b.state.toUpperCase())}</span></div>` +
        `<div class="stats">` +
        `<div class="stat"><b>${fmt(b.calls)}</b><span>calls</span></div>` +
        `<div class="stat"><b>${fmt(b.failureRate * 100)}%</b><span>failure rate</span></div>` +
        `<div class="stat"><b>${fmt(b.consecutiveFailures)}</b><span>in a row</span></div>` +
        `<div class="stat"><b>${fmt(b.rejections)}</b><span>rejected</span></div></div>` +
        fleetLine(b, state.at) +
        `<div class="timeline">${timeline(b.name, b.state, state.at, state.startedAt)}</div>` +
        `<div class="countdown">${esc(countdown)}</div></article>`
    }).join("")
  }

  // --- providers: retries and rejections ---------------------------------------
  const renderProviders = (state) => {
    const rows = state.providerStats
    if (rows.length === 0) {
      $("providerStats").innerHTML = `<p class="empty">No provider call yet.</p>`
      return
    }
    $("providerStats").innerHTML = rows.map((p) => {
      const retries = series((s) => s.retries[p.name])
      const rejections = series((s) => s.rejections[p.name])
      const rejected = p.breakerRejections + p.bulkheadRejections + p.limiterRejections
      return `<div class="prov" data-provider="${esc(p.name)}"><div class="title">${esc(labelOf(p.name))}<span>${
        fmt(p.retries)
      } retries · ${fmt(rejected)} rejected</span></div>` +
        `<div class="row"><span>retries</span>${bars(retries, "#60a5fa", 30)}<b>${
          fmt(lastOf(retries), 1)
        }/s</b></div>` +
        `<div class="row"><span>rejections</span>${bars(rejections, "#ef4444", 30)}<b>${
          fmt(lastOf(rejections), 1)
        }/s</b></div></div>`
    }).join("")
  }

  // --- bulkheads ----------------------------------------------------------------
  const renderBulkheads = (state) => {
    $("bulkheads").innerHTML = state.bulkheads.map((b) => {
      const cap = Math.max(1, b.maxConcurrent + b.maxWaiting)
      const active = gaugeSeries((s) => s.bulkheads[b.name])
      return `<div class="bulkhead" data-bulkhead="${esc(b.name)}"><div class="title">${
        esc(b.name === "gateway-server" ? "Server (load shedding)" : labelOf(b.name))
      }` +
        `<span>${b.active}/${b.maxConcurrent} active · <b data-available>${b.available}</b> available · ${b.waiting}/${b.maxWaiting} queued · ` +
        `rejected <b data-rejected="full">${fmt(b.rejected.full)}</b> full, ` +
        `<b data-rejected="timeout">${fmt(b.rejected.timeout)}</b> timed out</span></div>` +
        `<div class="bar" title="${esc(b.name)}"><div class="active" style="width:${
          ((b.active / cap) * 100).toFixed(1)
        }%"></div>` +
        `<div class="waiting" style="width:${((b.waiting / cap) * 100).toFixed(1)}%"></div></div>` +
        spark(active, "#22d3ee", { h: 26, min: Math.max(1, Math.ceil(b.maxConcurrent / 4)) }) + `</div>`
    }).join("") || `<p class="empty">No bulkhead.</p>`
  }

  // --- limiters -------------------------------------------------------------------
  const arc = (ratio, color) => {
    const r = 40, cx = 48, cy = 50
    const a = Math.PI * (1 - Math.max(0, Math.min(1, ratio)))
    const x = cx + r * Math.cos(a), y = cy - r * Math.sin(a)
    return `<svg viewBox="0 0 96 56" aria-hidden="true"><path d="M8 50 A40 40 0 0 1 88 50" fill="none" stroke="#23304d" stroke-width="9" stroke-linecap="round"/>` +
      (ratio > 0.005
        ? `<path d="M8 50 A40 40 0 0 1 ${x.toFixed(2)} ${
          y.toFixed(2)
        }" fill="none" stroke="${color}" stroke-width="9" stroke-linecap="round"/>`
        : "") +
      `<text x="48" y="48" text-anchor="middle" fill="#e6ebf5" font-size="14" font-weight="700">${
        Math.round(ratio * 100)
      }%</text></svg>`
  }
  const renderLimiters = (state) => {
    $("limiters").innerHTML = state.status.limiters.map((l) => {
      const allowed = series((s) => (s.limiters[l.name] || {}).allowed)
      const rejected = series((s) => (s.limiters[l.name] || {}).rejected)
      const ratio = l.globalLimit ? l.globalRemaining / l.globalLimit : 1
      const color = ratio > 0.5 ? "#22c55e" : ratio > 0.2 ? "#f59e0b" : "#ef4444"
      return `<div class="limiter" data-limiter="${esc(l.name)}"><div class="title">${
        esc(l.name)
      }<span>${l.limit} per client / ${l.windowSeconds} s</span></div>` +
        `<div class="gauge">${arc(ratio, color)}<div class="nums">global bucket <b>${
          fmt(l.globalRemaining ?? 0)
        }</b> / ${fmt(l.globalLimit ?? 0)}<br>` +
        `clients tracked <b>${fmt(l.keys)}</b><br>allowed <b>${fmt(l.allowed)}</b> · rejected <b>${
          fmt(l.rejected)
        }</b></div></div>` +
        bars(allowed, "#22c55e", 26) + bars(rejected, "#eab308", 26) +
        `<div class="legend"><span><i style="background:#22c55e"></i>allowed/s</span><span><i style="background:#eab308"></i>429/s</span></div></div>`
    }).join("") || `<p class="empty">No limiter.</p>`
  }

  // --- events and faults ----------------------------------------------------------
  const renderEvents = (state) => {
    const all = []
    for (const [name, list] of Object.entries(state.history)) for (const e of list) all.push({ name, ...e })
    all.sort((a, b) => byTime(b, a))
    $("events").innerHTML =
      all.slice(0, 40).map((e) =>
        `<li${e.fleet ? " data-fleet" : ""}><time>${
          new Date(e.at).toLocaleTimeString([], { hour12: false })
        }</time><span>${esc(labelOf(e.name))}${e.fleet ? " (fleet)" : ""}: ` +
        `<span class="s" style="color:${COLORS[e.from]}">${esc(e.from)}</span> <span class="arrow">→</span> ` +
        `<span class="s" style="color:${COLORS[e.to]}">${esc(e.to)}</span> <span class="arrow">(${
          esc(e.reason)
        })</span></span></li>`
      ).join("") || `<li class="empty">No state change yet.</li>`
  }
  const describeFaults = (f) => {
    if (!f) return []
    const out = []
    if (f.outage) out.push("outage")
    if (f.errorRate > 0) out.push(`error rate ${Math.round(f.errorRate * 100)}%`)
    if (f.rateLimitBurst > 0) out.push(`429 × ${f.rateLimitBurst}`)
    if (f.slowQuotesMillis > 0) out.push(`slow quotes +${f.slowQuotesMillis} ms`)
    if (f.latencyMillis > 0) out.push(`latency +${f.latencyMillis} ms`)
    if (f.timeoutAfterAcceptRate > 0) out.push(`lost replies ${Math.round(f.timeoutAfterAcceptRate * 100)}%`)
    return out
  }
  const renderFaults = (state) => {
    const chips = []
    for (const t of ["broker", "marketdata"]) {
      for (const d of describeFaults(state.faults[t])) {
        chips.push(`<span class="chip">${t === "broker" ? "broker" : "market data"}: ${esc(d)}</span>`)
      }
    }
    $("activeFaults").innerHTML = chips.join("")
    const f = state.faults[target]
    const on = {
      "outage": f && f.outage,
      "error-rate": f && f.errorRate > 0,
      "429-storm": f && f.rateLimitBurst > 0,
      "slow-quotes": f && f.slowQuotesMillis > 0,
      "latency": f && f.latencyMillis > 0,
      "timeout-after-accept": f && f.timeoutAfterAcceptRate > 0
    }
    document.querySelectorAll(".fault").forEach((b) => b.classList.toggle("on", Boolean(on[b.dataset.kind])))
    if (Date.now() - trafficTouched > 3000) {
      $("traffic").value = String(state.traffic)
      $("trafficValue").textContent = String(state.traffic)
    }
  }

  const render = (state) => {
    last = state
    const up = Math.round((state.at - state.startedAt) / 1000)
    $("uptime").textContent = `up ${Math.floor(up / 60)}m ${String(up % 60).padStart(2, "0")}s`
    $("providers").textContent = `broker: ${state.providers.broker} · data: ${state.providers.marketData}`
    renderKpis(state)
    renderBreakers(state)
    renderProviders(state)
    renderBulkheads(state)
    renderLimiters(state)
    renderEvents(state)
    renderFaults(state)
  }

  // --- controls ---------------------------------------------------------------------
  const toast = (text) => {
    $("toast").textContent = text
  }
  const call = (method, path, body) =>
    fetch(path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then((res) =>
      res.json().catch(() => ({})).then((json) => {
        if (!res.ok) throw new Error(json.message || `HTTP ${res.status}`)
        return json
      })
    )
  const FAULT_BODIES = {
    "outage": {},
    "error-rate": { rate: 0.6 },
    "429-storm": { calls: 200, retryAfterMillis: 1000 },
    "slow-quotes": { millis: 2500 },
    "latency": { millis: 800 },
    "timeout-after-accept": { rate: 0.5, millis: 60000 }
  }
  document.querySelectorAll(".seg").forEach((b) =>
    b.addEventListener("click", () => {
      target = b.dataset.target
      document.querySelectorAll(".seg").forEach((x) => x.classList.toggle("active", x === b))
      if (last) renderFaults(last)
    })
  )
  document.querySelectorAll(".fault").forEach((b) =>
    b.addEventListener("click", () => {
      const kind = b.dataset.kind
      call("POST", "/admin/faults", { target, kind, ...FAULT_BODIES[kind] })
        .then(() => toast(`Injected ${kind} into the ${target === "broker" ? "broker" : "market data"}`))
        .catch((e) => toast(`Could not inject: ${e.message}`))
    })
  )
  $("clear").addEventListener("click", () => {
    call("DELETE", "/admin/faults").then(() => toast("Faults cleared: breakers recover after their reset timeout"))
      .catch((e) => toast(`Could not clear: ${e.message}`))
  })
  $("resetBreakers").addEventListener("click", () => {
    call("POST", "/admin/breakers/reset").then((r) => toast(`Reset ${r.reset} breakers`))
      .catch((e) => toast(`Could not reset: ${e.message}`))
  })
  $("traffic").addEventListener("input", () => {
    trafficTouched = Date.now()
    $("trafficValue").textContent = $("traffic").value
  })
  $("traffic").addEventListener("change", () => {
    trafficTouched = Date.now()
    call("POST", "/admin/traffic", { rps: Number($("traffic").value) })
      .then((r) => toast(`Demo traffic: ${r.rps} req/s`))
      .catch((e) => toast(`Could not set traffic: ${e.message}`))
  })

  // --- live feed ----------------------------------------------------------------------
  const setConn = (s) => {
    $("conn").dataset.conn = s
    $("conn").querySelector("b").textContent = s === "live" ? "live" : s === "down" ? "reconnecting" : "connecting"
  }
  const source = new EventSource("/dashboard/events")
  source.addEventListener("init", (e) => {
    const data = JSON.parse(e.data)
    samples = data.samples
    setConn("live")
    render(data.state)
  })
  source.addEventListener("update", (e) => {
    const data = JSON.parse(e.data)
    if (data.sample && (samples.length === 0 || samples[samples.length - 1].at !== data.sample.at)) {
      samples.push(data.sample)
      if (samples.length > 400) samples = samples.slice(-300)
    }
    setConn("live")
    render(data.state)
  })
  source.addEventListener("error", () => setConn("down"))
})()
