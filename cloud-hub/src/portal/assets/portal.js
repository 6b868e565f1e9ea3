// The analytics portal: a login, then views over the hub's own API with the person's token.
// Charts are our own SVG (no third-party code); data reaches the page only through
// textContent and SVG attributes, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const VIEWS = ["login", "plant", "trace", "forecasts", "optimisation", "audit"];

function token() { return sessionStorage.getItem("foodflow.token"); }

function showError(msg) {
  const e = $("error");
  e.textContent = msg || "";
  e.hidden = !msg;
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) {
    sessionStorage.removeItem("foodflow.token");
    location.hash = "#/login";
    throw new Error("your session ended: log in again");
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!r.ok) throw new Error((data && data.message) || `${method} ${path}: HTTP ${r.status}`);
  return data;
}

function el(tag, attrs = {}, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmtTime(ns) { return ns ? new Date(ns / 1e6).toISOString().replace("T", " ").slice(0, 19) : "—"; }
function fmtNum(v) { return v === null || v === undefined ? "—" : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en") : (+v).toFixed(2); }

// ---- charts ----------------------------------------------------------------------------------

function axes(svg, W, H, P, x0, x1, y0, y1, xfmt) {
  svg.append(el("svg:line", { class: "axis", x1: P, y1: H - P, x2: W - P / 2, y2: H - P }));
  svg.append(el("svg:line", { class: "axis", x1: P, y1: P / 2, x2: P, y2: H - P }));
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (y1 - y0) * i / 4;
    const py = H - P - (H - 1.5 * P) * i / 4;
    svg.append(el("svg:text", { x: 4, y: py + 4 }, fmtNum(y)));
    const x = x0 + (x1 - x0) * i / 4;
    const px = P + (W - 1.5 * P) * i / 4;
    svg.append(el("svg:text", { x: px - 30, y: H - P + 18 }, xfmt(x)));
  }
}

// A line with its min–max band; `onZoom(from, to)` when the user drags across it.
function timeChart(box, points, onZoom) {
  box.replaceChildren();
  const W = 1000, H = 360, P = 60;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  box.append(svg);
  if (points.length === 0) {
    svg.append(el("svg:text", { x: W / 2 - 60, y: H / 2 }, "no data in this range"));
    return;
  }
  const xs = points.map((p) => p.t), lo = Math.min(...points.map((p) => p.min)), hi = Math.max(...points.map((p) => p.max));
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1;
  const span = hi - lo || 1, tspan = x1 - x0 || 1;
  const X = (t) => P + (t - x0) / tspan * (W - 1.5 * P);
  const Y = (v) => H - P - (v - lo) / span * (H - 1.5 * P);
  axes(svg, W, H, P, x0, x1, lo, hi, (t) => new Date(t).toISOString().slice(11, 16));
  const band = points.map((p) => `${X(p.t)},${Y(p.max)}`).concat(points.slice().reverse().map((p) => `${X(p.t)},${Y(p.min)}`));
  svg.append(el("svg:polygon", { class: "band", points: band.join(" ") }));
  svg.append(el("svg:polyline", { class: "line", points: points.map((p) => `${X(p.t)},${Y(p.mean)}`).join(" ") }));
  let start = null;
  const sel = el("svg:rect", { class: "sel", x: 0, y: P / 2, width: 0, height: H - 1.5 * P });
  svg.append(sel);
  const toX = (ev) => { const r = svg.getBoundingClientRect(); return (ev.clientX - r.left) / r.width * W; };
  svg.addEventListener("mousedown", (ev) => { start = toX(ev); });
  svg.addEventListener("mousemove", (ev) => {
    if (start === null) return;
    const x = toX(ev);
    sel.setAttribute("x", Math.min(start, x)); sel.setAttribute("width", Math.abs(x - start));
  });
  svg.addEventListener("mouseup", (ev) => {
    if (start === null) return;
    const a = Math.min(start, toX(ev)), b = Math.max(start, toX(ev));
    start = null; sel.setAttribute("width", 0);
    if (b - a < 5) return;
    const t = (px) => x0 + (px - P) / (W - 1.5 * P) * tspan;
    onZoom(Math.max(x0, t(a)), Math.min(x1, t(b)));
  });
}

function fanChart(box, node) {
  box.replaceChildren();
  const W = 1000, H = 360, P = 60;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  box.append(svg);
  const hist = node.history || [], h = hist.length, n = node.mean.length;
  const ds = (node.history_ds || []).concat(node.ds);
  const p10 = node.quantiles.p10 || node.mean, p90 = node.quantiles.p90 || node.mean;
  const lo = Math.min(...p10, ...hist), hi = Math.max(...p90, ...hist), span = hi - lo || 1;
  const total = h + n;
  const X = (i) => P + (total === 1 ? 0.5 : i / (total - 1)) * (W - 1.5 * P);
  const Y = (v) => H - P - (v - lo) / span * (H - 1.5 * P);
  axes(svg, W, H, P, 0, total - 1, lo, hi, (i) => ds[Math.round(i)] || "");
  if (h > 0) {
    svg.append(el("svg:polyline", { class: "hist", points: hist.map((v, i) => `${X(i)},${Y(v)}`).join(" "), "data-series": "history" }));
  }
  const band = p90.map((v, i) => `${X(h + i)},${Y(v)}`).concat(p10.map((v, i) => `${X(h + i)},${Y(v)}`).reverse());
  svg.append(el("svg:polygon", { class: "band", points: band.join(" "), "data-series": "p10-p90" }));
  svg.append(el("svg:polyline", { class: "line", points: node.mean.map((v, i) => `${X(h + i)},${Y(v)}`).join(" "), "data-series": "p50" }));
}

// Trace graph: nodes in columns by hop, edges from the node each was reached from.
function traceGraph(box, trace) {
  box.replaceChildren();
  const byDepth = new Map();
  for (const n of trace.nodes) {
    if (!byDepth.has(n.depth)) byDepth.set(n.depth, []);
    byDepth.get(n.depth).push(n);
  }
  const depths = [...byDepth.keys()].sort((a, b) => a - b);
  const rows = Math.max(...[...byDepth.values()].map((v) => v.length));
  const W = Math.max(1000, depths.length * 220), H = Math.max(360, rows * 34 + 40);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "graph" });
  svg.style.height = `${Math.min(H, 900)}px`;
  box.append(svg);
  const pos = new Map();
  depths.forEach((d, ci) => byDepth.get(d).forEach((n, ri) => {
    pos.set(n.id, [60 + ci * ((W - 200) / Math.max(1, depths.length - 1)), 30 + ri * ((H - 60) / Math.max(1, byDepth.get(d).length - 1 || 1))]);
  }));
  for (const n of trace.nodes) {
    if (!n.from || !pos.has(n.from)) continue;
    const [x1, y1] = pos.get(n.from), [x2, y2] = pos.get(n.id);
    svg.append(el("svg:line", { class: "edge", x1, y1, x2, y2 }));
  }
  for (const n of trace.nodes) {
    const [x, y] = pos.get(n.id);
    const g = el("svg:g", { class: `node ${n.depth === 0 ? "start" : n.lot ? "lot" : "other"}`, "data-id": n.id });
    g.append(el("svg:circle", { cx: x, cy: y, r: 7 }));
    const label = (n.lot ? `${n.product ? n.product.split(":").pop() + " " : ""}lot ${n.lot}` : n.id.split(":").pop()).slice(0, 32);
    g.append(el("svg:text", { x: x + 10, y: y + 4 }, label));
    const title = el("svg:title", {}, `${n.id}\nhop ${n.depth}${n.amount ? `\n${n.amount.value} ${n.amount.uom || ""}` : ""}`);
    g.append(title);
    svg.append(g);
  }
}

// ---- views ---------------------------------------------------------------------------------

const plot = { device: null, stream: null, from: null, to: null, range: 86400 };

async function loadSeries() {
  const to = plot.to || Date.now(), from = plot.from || to - plot.range * 1000;
  const step = Math.max(1, Math.round((to - from) / 1000 / 300));
  const q = `from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&step_s=${step}`;
  const r = await api("GET", `/v1/plant/devices/${encodeURIComponent(plot.device)}/streams/${encodeURIComponent(plot.stream)}/series?${q}`);
  const sel = $("tag-select");
  const current = sel.value;
  sel.replaceChildren(...r.series.map((s) => el("option", { value: s.tag }, s.tag)));
  if (r.series.some((s) => s.tag === current)) sel.value = current;
  const s = r.series.find((x) => x.tag === sel.value) || r.series[0];
  const doubtful = r.clock_suspect_excluded ? ` (${r.clock_suspect_excluded} with a suspect time left out)` : "";
  $("plot-title").textContent = `${plot.device} · ${plot.stream}${s ? " · " + s.tag : ""}${doubtful}`;
  timeChart($("plot"), s ? s.points.map((p) => ({ t: p.t_ns / 1e6, min: p.min, max: p.max, mean: p.mean })) : [], (a, b) => {
    plot.from = a; plot.to = b; loadSeries().catch((e) => showError(e.message));
  });
}

async function showPlant() {
  const devices = await api("GET", "/v1/plant/devices");
  const body = $("devices").querySelector("tbody");
  body.replaceChildren();
  for (const d of devices) {
    for (const s of d.streams) {
      const tr = el("tr");
      const age = s.last_ts_ns ? Math.round((Date.now() - s.last_ts_ns / 1e6) / 1000) : null;
      tr.append(el("td", {}, d.device), el("td", {}, s.stream), el("td", {}, s.class), el("td", {}, String(s.records)),
        el("td", {}, age === null ? "—" : `${fmtTime(s.last_ts_ns)} (${age} s ago)`),
        el("td", s.clock_suspect ? { class: "warn" } : {}, String(s.clock_suspect || 0)));
      const td = el("td");
      const b = el("button", { type: "button", "aria-label": `Plot ${d.device} ${s.stream}` }, "Plot");
      b.addEventListener("click", () => {
        Object.assign(plot, { device: d.device, stream: s.stream, from: null, to: null });
        $("plot-box").hidden = false;
        loadSeries().catch((e) => showError(e.message));
      });
      td.append(b);
      tr.append(td);
      body.append(tr);
    }
  }
  if (devices.length === 0) {
    const tr = el("tr");
    tr.append(el("td", { colspan: 6 }, "No device has synced yet."));
    body.append(tr);
  }
}

async function runTrace(ev) {
  ev?.preventDefault();
  const id = $("lot").value.trim();
  const dir = $("direction").value;
  const t = await api("GET", `/v1/trace/${dir}?id=${encodeURIComponent(id)}&depth=${encodeURIComponent($("depth").value)}`);
  $("trace-summary").textContent = `${t.nodes.length} nodes reached ${dir}, ${t.movements.length} ${dir === "forward" ? "shipments" : "receipts"}, ${t.parties.length} ${dir === "forward" ? "customers" : "suppliers"}${t.truncated ? " (cut at the depth limit)" : ""}.`;
  traceGraph($("graph"), t);
}

async function runRecall() {
  const id = $("lot").value.trim();
  const r = await api("POST", "/v1/recall", { lots: [id] });
  const box = $("recall-result");
  box.replaceChildren(el("h3", {}, "Recall simulation"));
  const dl = el("dl");
  for (const [k, v] of Object.entries(r)) {
    if (Array.isArray(v)) { dl.append(el("dt", {}, k), el("dd", {}, `${v.length}`)); }
    else if (typeof v !== "object") { dl.append(el("dt", {}, k), el("dd", {}, String(v))); }
  }
  box.append(dl);
}

async function exportFsma() {
  const id = $("lot").value.trim();
  const r = await fetch(`/v1/fsma204/export?tlc=${encodeURIComponent(id)}&format=csv`, { headers: { authorization: `Bearer ${token()}` } });
  if (!r.ok) throw new Error(`FSMA 204 export: HTTP ${r.status}`);
  const url = URL.createObjectURL(await r.blob());
  const a = el("a", { href: url, download: "fsma204.csv" });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

let forecast = null;
async function showForecasts() {
  const jobs = await api("GET", "/v1/forecasts");
  const sel = $("fc-select");
  sel.replaceChildren(...jobs.map((j) => el("option", { value: j.id }, `${j.id} · ${j.alias} · ${j.state}`)));
  if (jobs.length === 0) { $("fc-summary").textContent = "No forecasts yet: start one with POST /v1/forecasts or foodflow-hub forecast run."; return; }
  await loadForecast(sel.value);
}

async function loadForecast(id) {
  forecast = await api("GET", `/v1/forecasts/${encodeURIComponent(id)}`);
  const st = forecast.status;
  if (st.state !== "done") { $("fc-summary").textContent = `${st.id}: ${st.state} (${st.done} of ${st.total} series)${st.error ? " — " + st.error : ""}`; return; }
  const nodeSel = $("fc-node");
  nodeSel.replaceChildren(...forecast.nodes.map((n, i) => el("option", { value: String(i) }, `${n.id} (${n.level})`)));
  const acc = forecast.accuracy ? ` · backtest MASE ${fmtNum(forecast.accuracy.overall.mase)}` : "";
  $("fc-summary").textContent = `${st.id}: ${forecast.nodes.length} series, horizon ${st.horizon}, ${st.alias}${acc}`;
  drawFan();
}

function drawFan() {
  const n = forecast?.nodes?.[+$("fc-node").value || 0];
  if (n) fanChart($("fan"), n);
}

// ---- optimisation ----------------------------------------------------------------------------

async function showOptimisation() {
  const [jobs, active] = await Promise.all([
    api("GET", "/v1/optimization/jobs"),
    api("GET", "/v1/optimization/plans/active"),
  ]);
  $("opt-active").textContent = active.job
    ? `Plan in force: ${active.job} (${active.status.summary}), approved by ${active.approved.signer} at ${fmtTime(active.approved.signed_at_ns)}.`
    : "No plan is in force: a finished plan needs an approval signature.";
  $("opt-jobs").querySelector("tbody").replaceChildren(...jobs.map((j) => {
    const tr = el("tr");
    const progress = j.error || j.progress || (j.state === "done" ? `${(+j.elapsed_s).toFixed(1)} s` : "");
    tr.append(el("td", {}, j.id), el("td", {}, j.kind), el("td", { class: j.state === "failed" ? "bad" : "" }, j.state),
      el("td", {}, j.summary), el("td", {}, j.actor), el("td", {}, progress));
    return tr;
  }));
  const plans = jobs.filter((j) => j.kind === "plan" && j.state === "done");
  const sel = $("opt-plan");
  sel.replaceChildren(...plans.map((j) => el("option", { value: j.id }, `${j.id}${active.job === j.id ? " · in force" : ""}`)));
  if (plans.length === 0) {
    $("opt-summary").textContent = "No finished plans yet: start one with POST /v1/optimization/plan.";
    $("opt-grid").querySelector("thead").replaceChildren();
    $("opt-grid").querySelector("tbody").replaceChildren();
    $("opt-sign").hidden = true;
    return;
  }
  await loadPlan(sel.value);
}

async function loadPlan(id) {
  const job = await api("GET", `/v1/optimization/jobs/${encodeURIComponent(id)}`);
  const p = job.result, c = p.cost;
  const signed = (job.signatures || []).map((s) => `${s.meaning} by ${s.signature.signer}`).join(", ");
  $("opt-summary").textContent = `${p.plan}: ${p.status}, cost ${fmtNum(c.total)} (set-ups ${fmtNum(c.setup)}, clean-downs ${fmtNum(c.cleandown)}, holding ${fmtNum(c.holding)}, shortage ${fmtNum(c.shortage)}), gap ${(100 * p.gap).toFixed(1)} %${signed ? " · signed: " + signed : ""}`;
  const lines = p.periods[0].lines.map((l) => l.line);
  const head = el("tr");
  head.append(el("th", { scope: "col" }, "Period"), ...lines.map((l) => el("th", { scope: "col" }, l)));
  $("opt-grid").querySelector("thead").replaceChildren(head);
  $("opt-grid").querySelector("tbody").replaceChildren(...p.periods.map((per) => {
    const tr = el("tr");
    tr.append(el("th", { scope: "row" }, String(per.period)));
    for (const l of per.lines) {
      const td = el("td");
      for (const r of l.runs) td.append(el("div", { class: r.cleandown_before ? "run cleandown" : "run" }, `${r.cleandown_before ? "⟲ " : ""}${r.product} ${fmtNum(r.quantity)}`));
      if (l.runs.length === 0) td.append(el("span", { class: "muted" }, "idle"));
      td.append(el("div", { class: "muted" }, `${fmtNum(l.hours_used)} of ${fmtNum(l.hours)} h`));
      tr.append(td);
    }
    return tr;
  }));
  $("opt-sign").hidden = false;
}

async function signPlan(ev) {
  ev.preventDefault();
  const id = $("opt-plan").value;
  await api("POST", `/v1/optimization/jobs/${encodeURIComponent(id)}/approve`,
    { meaning: $("opt-meaning").value, comment: $("opt-comment").value, password: $("opt-password").value });
  $("opt-password").value = "";
  await showOptimisation();
  $("opt-plan").value = id;
  await loadPlan(id);
}

async function showAudit() {
  const v = await api("GET", "/v1/audit/verify");
  const ok = v.ok === true;
  const s = $("audit-status");
  const bad = v.first_bad_entry ? ` at entry ${v.first_bad_entry.seq ?? JSON.stringify(v.first_bad_entry)}` : "";
  const rec = v.first_bad_record ? `; ${v.first_bad_record.kind} record ${v.first_bad_record.seq} altered` : "";
  s.textContent = ok
    ? `✓ Verified: ${v.entries} audit entries and ${v.epcis_events} EPCIS events intact (Merkle root ${String(v.root || "").slice(0, 16)}…).`
    : `✗ Verification failed${bad}${rec}.`;
  s.className = ok ? "ok" : "bad";
  const list = await api("GET", "/v1/audit/entries?from=1");
  const entries = Array.isArray(list) ? list : list.entries || [];
  const body = $("audit-entries").querySelector("tbody");
  body.replaceChildren(...entries.slice(-50).reverse().map((e) => {
    const tr = el("tr");
    tr.append(el("td", {}, String(e.seq)), el("td", {}, fmtTime(e.ts_ns)), el("td", {}, e.actor), el("td", {}, e.action), el("td", {}, e.object));
    return tr;
  }));
}

// ---- routing -------------------------------------------------------------------------------

async function route() {
  showError("");
  let view = (location.hash.replace("#/", "") || "plant").split("?")[0];
  if (!token()) view = "login";
  if (!VIEWS.includes(view)) view = "plant";
  for (const v of VIEWS) $(v).hidden = v !== view;
  $("nav").hidden = view === "login";
  $("logout").hidden = view === "login";
  for (const a of $("nav").querySelectorAll("a")) {
    if (a.getAttribute("href") === `#/${view}`) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  try {
    if (view === "login") { $("tenant").focus(); return; }
    const me = await api("GET", "/v1/me");
    $("who").textContent = `${me.actor} · ${me.tenant}`;
    if (view === "plant") await showPlant();
    if (view === "forecasts") await showForecasts();
    if (view === "audit") await showAudit();
    if (view === "optimisation") await showOptimisation();
    if (view === "trace") {
      const q = new URLSearchParams(location.hash.split("?")[1] || "");
      if (q.get("lot")) { $("lot").value = q.get("lot"); await runTrace(); }
    }
  } catch (e) {
    showError(e.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await fetch("/auth/login", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ tenant: $("tenant").value, username: $("username").value, password: $("password").value }),
      });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(body.message || `login: HTTP ${r.status}`);
      sessionStorage.setItem("foodflow.token", body.token);
      $("password").value = "";
      location.hash = "#/plant";
      if (location.hash === "#/plant") route();
    } catch (e) { showError(e.message); }
  });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem("foodflow.token"); location.hash = "#/login"; });
  $("trace-form").addEventListener("submit", (ev) => runTrace(ev).catch((e) => showError(e.message)));
  $("recall").addEventListener("click", () => runRecall().catch((e) => showError(e.message)));
  $("export").addEventListener("click", () => exportFsma().catch((e) => showError(e.message)));
  $("fc-select").addEventListener("change", () => loadForecast($("fc-select").value).catch((e) => showError(e.message)));
  $("fc-node").addEventListener("change", drawFan);
  $("opt-plan").addEventListener("change", () => loadPlan($("opt-plan").value).catch((e) => showError(e.message)));
  $("opt-sign").addEventListener("submit", (ev) => signPlan(ev).catch((e) => showError(e.message)));
  $("tag-select").addEventListener("change", () => loadSeries().catch((e) => showError(e.message)));
  $("zoom-reset").addEventListener("click", () => { plot.from = null; plot.to = null; loadSeries().catch((e) => showError(e.message)); });
  for (const b of document.querySelectorAll("[data-range]")) {
    b.addEventListener("click", () => { plot.range = +b.dataset.range; plot.from = null; plot.to = null; loadSeries().catch((e) => showError(e.message)); });
  }
  window.addEventListener("hashchange", route);
  route();
});
