// The line screen: one server-sent event stream (/screen/events) re-renders the page; alarms
// are acknowledged with the operator's name and PIN (the PIN is never stored). Text only through textContent (no HTML from data).
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const STATES = {
  running: "▶ RUNNING", stopped: "■ STOPPED", fault: "⚠ FAULT", break: "☕ BREAK",
  changeover: "⇄ CHANGEOVER", cleaning: "✧ CLEANING", planned: "◷ PLANNED STOP", unknown: "? UNKNOWN",
};

function fmtNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  const a = Math.abs(v);
  if (Number.isInteger(v) || a >= 1000) return Math.round(v).toLocaleString("en");
  if (a >= 100) return v.toFixed(1);
  return v.toFixed(2);
}

function fmtAgo(ms, now) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
}

function pct(x) {
  return x === null || x === undefined || Number.isNaN(x) ? "—" : `${(100 * x).toFixed(1)} %`;
}

function set(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

function renderLine(line, now) {
  if (!line) {
    set("title", "Line screen");
    set("state", "NO LINE CONFIGURED");
    $("state").className = "state state-unknown";
    return;
  }
  set("title", `Line ${line.line}`);
  const st = line.state in STATES ? line.state : "unknown";
  set("state", STATES[st]);
  $("state").className = `state state-${st}`;
  set("state-since", line.since_ms ? `since ${new Date(line.since_ms).toLocaleTimeString("en-GB")}${line.reason && line.reason !== line.state ? " · " + line.reason : ""}` : "");
  set("batch", line.batch || "—");
  set("lot", line.lot || "—");
  set("speed", line.speed_per_min === null || line.speed_per_min === undefined ? "—" : fmtNumber(line.speed_per_min));
  const shift = line.shift;
  set("good", shift ? String(shift.good) : line.good === null || line.good === undefined ? "—" : String(line.good));
  set("reject", shift ? String(shift.reject) : line.reject === null || line.reject === undefined ? "—" : String(line.reject));
  set("oee", shift ? pct(shift.oee) : "—");
  set("oee-parts", shift ? `Shift ${shift.shift}: availability ${pct(shift.availability)} · performance ${pct(shift.performance)} · quality ${pct(shift.quality)}` : "No shift running.");
}

function sparkline(points) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 100 30");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  if (points.length > 1) {
    const t0 = points[0][0], t1 = points[points.length - 1][0];
    let lo = Infinity, hi = -Infinity;
    for (const [, v] of points) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const span = hi - lo || 1, tspan = t1 - t0 || 1;
    const pl = document.createElementNS(SVG, "polyline");
    pl.setAttribute("points", points.map(([t, v]) => `${((t - t0) / tspan * 100).toFixed(2)},${(28 - (v - lo) / span * 26).toFixed(2)}`).join(" "));
    svg.appendChild(pl);
  }
  return svg;
}

function renderTags(board) {
  const grid = $("tag-grid");
  const names = Object.keys(board.tags);
  for (const name of names) {
    const t = board.tags[name];
    let tile = grid.querySelector(`[data-tag="${CSS.escape(name)}"]`);
    if (!tile) {
      tile = document.createElement("div");
      tile.className = "tile";
      tile.dataset.tag = name;
      tile.setAttribute("role", "group");
      tile.setAttribute("aria-label", name);
      const n = document.createElement("div"); n.className = "name"; n.textContent = name;
      const v = document.createElement("div"); v.className = "value";
      tile.append(n, v, sparkline([]));
      grid.appendChild(tile);
    }
    const v = tile.querySelector(".value");
    const text = fmtNumber(t.last);
    if (v.textContent !== text) v.textContent = text;
    tile.replaceChild(sparkline(t.points), tile.querySelector("svg"));
  }
  set("tags-note", names.length === 0 ? "No readings yet." : board.tags_not_shown ? `${board.tags_not_shown} readings of further tags are not shown (the screen keeps ${names.length}).` : "");
}

async function acknowledge(rule, button) {
  const by = $("operator").value.trim();
  const pin = $("pin").value;
  if (!by) {
    set("ack-msg", "Type your name under Operator first: acknowledgements are recorded with it.");
    $("operator").focus();
    return;
  }
  if (!pin) {
    set("ack-msg", "Type your PIN first: only operators of this box may acknowledge.");
    $("pin").focus();
    return;
  }
  localStorage.setItem("foodflow.operator", by);
  button.disabled = true;
  try {
    const r = await fetch(`/v1/alarms/${encodeURIComponent(rule)}/ack`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ by, pin }),
    });
    const body = await r.json().catch(() => ({}));
    set("ack-msg", r.ok ? `Acknowledged ${rule} as ${by} (recorded).` : `Not acknowledged: ${body.error || r.status}`);
    if (r.ok || r.status === 401) $("pin").value = "";
  } catch (e) {
    set("ack-msg", `Not acknowledged: the box did not answer (${e}).`);
  } finally {
    button.disabled = false;
  }
}

function renderAlarms(board, now) {
  const list = $("alarm-list");
  const alarms = Object.values(board.alarms).sort((a, b) => b.since_ms - a.since_ms);
  set("alarm-count", String(alarms.length));
  $("alarm-count").className = alarms.length ? "count on" : "count";
  $("no-alarms").hidden = alarms.length > 0;
  const keep = new Set(alarms.map((a) => a.rule));
  for (const li of [...list.children]) if (!keep.has(li.dataset.rule)) li.remove();
  for (const a of alarms) {
    let li = list.querySelector(`[data-rule="${CSS.escape(a.rule)}"]`);
    if (!li) {
      li = document.createElement("li");
      li.dataset.rule = a.rule;
      const what = document.createElement("div"); what.className = "what";
      const btn = document.createElement("button");
      btn.type = "button"; btn.className = "btn ack"; btn.textContent = "Acknowledge";
      btn.setAttribute("aria-label", `Acknowledge alarm ${a.rule}`);
      btn.addEventListener("click", () => acknowledge(a.rule, btn));
      const why = document.createElement("div"); why.className = "why";
      li.append(what, btn, why);
      list.appendChild(li);
    }
    li.className = a.acknowledged_by ? "alarm acked" : "alarm";
    const lvl = a.level === "critical" ? "CRITICAL" : "WARNING";
    li.querySelector(".what").textContent = `${lvl} · ${a.rule} · ${a.tag} = ${fmtNumber(a.value)}`;
    li.querySelector(".why").textContent = `${a.explanation} · since ${new Date(a.since_ms).toLocaleTimeString("en-GB")}` + (a.acknowledged_by ? ` · acknowledged by ${a.acknowledged_by}` : " · not acknowledged");
    li.querySelector("button").hidden = Boolean(a.acknowledged_by);
  }
}

function renderUplink(s, now) {
  const u = s.uplink;
  if (!u.configured) {
    set("uplink-state", "not configured");
    set("backlog", "—");
    set("last-sync", "—");
  } else {
    set("uplink-state", u.connected ? "✓ connected" : "✗ disconnected (kept locally)");
    $("uplink-state").className = u.connected ? "ok" : "bad";
    set("backlog", `${u.pending} records` + (u.dropped_unsent > 0 ? ` · ${u.dropped_unsent} dropped unsent (disk budget)` : ""));
    $("backlog").className = u.dropped_unsent > 0 ? "bad" : "";
    set("last-sync", fmtAgo(u.last_success_ms, now));
  }
  const ul = $("sources");
  ul.replaceChildren(...s.sources.map((src) => {
    const li = document.createElement("li");
    li.textContent = `${src.connected ? "✓" : "✗"} ${src.name} (${src.protocol}) ${src.connected ? "connected" : "disconnected"}`;
    li.className = src.connected ? "ok" : "bad";
    return li;
  }));
}

const VERDICTS = { ok: "✓ OK", reject: "✗ REJECT", mismatch: "✗ WRONG CODE", error: "⚠ ERROR" };

// One card per camera: what each model found on the newest frame, in words, and the frame.
function renderVision(v, now) {
  const names = Object.keys(v.cameras);
  set("vision-msg", v.message || (names.length ? "" : "No cameras."));
  const grid = $("camera-grid");
  for (const name of names) {
    const c = v.cameras[name];
    let card = grid.querySelector(`[data-camera="${CSS.escape(name)}"]`);
    if (!card) {
      card = document.createElement("article");
      card.className = "camera";
      card.dataset.camera = name;
      const h = document.createElement("h3");
      const img = document.createElement("img");
      img.alt = `Newest frame of camera ${name}, with what the models found outlined`;
      const meta = document.createElement("p");
      meta.className = "muted meta";
      const list = document.createElement("ul");
      list.className = "verdicts";
      card.append(h, img, meta, list);
      grid.append(card);
    }
    const [h, img, meta, list] = card.children;
    h.textContent = `${name}`;
    const fresh = c.last_ms && now - c.last_ms < 5000;
    meta.textContent = c.last_ms
      ? `${fresh ? "live" : "no frame for " + fmtAgo(c.last_ms, now).replace(" ago", "")} · ${c.frames} frames · ${c.dropped} dropped · ` +
        `${c.flagged} flagged · ${c.infer_ms !== null ? c.infer_ms.toFixed(0) + " ms per frame" : ""}`
      : `waiting for frames from ${c.source}`;
    if (c.last_ms) img.src = `/screen/camera/${encodeURIComponent(name)}.jpg?t=${Math.floor(now / 1000)}`;
    img.hidden = !c.last_ms;
    list.replaceChildren(...c.models.map((m) => {
      const li = document.createElement("li");
      li.className = `verdict verdict-${m.verdict}`;
      const b = document.createElement("strong");
      b.textContent = VERDICTS[m.verdict] || m.verdict;
      li.append(b, ` ${m.model}: ${m.summary}`);
      return li;
    }));
  }
}

function render(s) {
  const now = s.now_ms;
  set("clock", new Date(now).toLocaleTimeString("en-GB"));
  renderVision(s.vision, now);
  if (s.board) {
    renderLine(s.board.line, now);
    renderTags(s.board);
    renderAlarms(s.board, now);
  } else {
    renderLine(null, now);
    set("tags-note", "Analytics is not configured in this box's profile: no live tags or alarms.");
  }
  renderUplink(s, now);
  renderClock(s.clock);
}

// A clock that cannot be trusted is said first: times on this screen may be wrong, and no
// shift figures are shown (a 1970 night shift would be worse than none).
function renderClock(c) {
  const untrusted = Boolean(c) && !c.trusted;
  $("clock-warning").hidden = !untrusted;
  set("clock-warning", untrusted ? `⚠ Clock not synchronised: ${c.why}` : "");
  if (untrusted) set("oee-parts", "No shift figures while the clock is not synchronised.");
}

function connect() {
  const es = new EventSource("/screen/events");
  es.addEventListener("state", (e) => {
    set("link", "● live");
    $("link").className = "link live";
    render(JSON.parse(e.data));
  });
  es.onerror = () => {
    set("link", "● reconnecting…");
    $("link").className = "link down";
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(location.search);
  $("operator").value = localStorage.getItem("foodflow.operator") || "";
  const kiosk = () => {
    document.body.classList.add("kiosk");
    document.addEventListener("click", () => document.documentElement.requestFullscreen?.().catch(() => {}), { once: true });
  };
  if (params.get("kiosk") === "1") kiosk();
  $("kiosk").addEventListener("click", () => { params.set("kiosk", "1"); location.search = params.toString(); });
  connect();
});
