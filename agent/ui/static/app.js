// edgecascade dashboard. Everything it shows comes from the daemon's API,
// called with the bearer token the user entered once (sessionStorage, this
// tab only; never in a URL). The events stream is read with fetch(), since
// EventSource cannot send an Authorization header.
"use strict";

const TOKEN_KEY = "edgecascade.token";
const MAX_ROWS = 50;
const $ = (id) => document.getElementById(id);

const state = {
  features: {},
  threshold: null,
  rows: 0,
  streamAbort: null,
  lastEventID: "",
  started: false,
};

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

class Unauthorized extends Error {}

// api calls the daemon with the token; a 401 opens the token form.
async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (token()) headers["Authorization"] = "Bearer " + token();
  const resp = await fetch(path, Object.assign({}, opts, { headers, cache: "no-store" }));
  if (resp.status === 401) {
    askToken(token() ? "The token was refused: enter the daemon's server.auth_token." : null);
    throw new Unauthorized("unauthorized");
  }
  return resp;
}

async function getJSON(path) {
  const resp = await api(path);
  if (!resp.ok) throw new Error(path + ": " + resp.status);
  return resp.json();
}

function askToken(msg) {
  $("login").hidden = false;
  $("main").hidden = true;
  if (msg) $("login-msg").textContent = msg;
  setStatus("token needed", "bad");
  $("token").focus();
}

function setStatus(text, cls) {
  const s = $("status");
  s.textContent = text;
  s.className = "pill" + (cls ? " " + cls : "");
}

// el builds an element with text and class.
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function facts(dl, pairs) {
  dl.replaceChildren();
  for (const [k, v, cls] of pairs) {
    if (v === undefined || v === null || v === "") continue;
    dl.append(el("dt", k), el("dd", v, cls));
  }
}

const fmt = {
  num: (v, d = 3) => (v === undefined || v === null ? "—" : Number(v).toFixed(d)),
  pct: (v) => (v === undefined || v === null ? "—" : (100 * v).toFixed(1) + "%"),
  money: (v) => (v ? "$" + Number(v).toFixed(4) : "$0"),
  int: (v) => (v || 0).toLocaleString("en"),
  time: (t) => { const d = new Date(t); return isNaN(d) ? "" : d.toLocaleTimeString("en-GB"); },
};

// ---- live decisions -------------------------------------------------------

function routeOf(e) {
  if (e.deferred_id) return "deferred";
  return e.route || "";
}

function addDecision(e, fresh) {
  const tbody = $("decisions").tBodies[0];
  const tr = el("tr", null, fresh ? "fresh" : "");
  const score = e.score === undefined || e.score === null ? "—" : fmt.num(e.score);
  const below = e.score !== undefined && e.score !== null && e.score < e.threshold;
  const ms = (e.local_ms || 0) + (e.cloud_ms || 0);
  tr.append(
    el("td", fmt.time(e.time)),
    el("td", e.policy),
    el("td", routeOf(e), "route-" + routeOf(e)),
    el("td", score + " / " + fmt.num(e.threshold), below ? "below" : ""),
    el("td", e.reason, "reason"),
    el("td", Math.round(ms)),
    el("td", e.cost ? "$" + Number(e.cost).toFixed(5) : "—"),
  );
  const fb = el("td", null, "fb");
  if (e.label) {
    fb.append(thumb(e.label.correct), el("span", " " + (e.label.source || "labelled"), "note"));
  } else if (state.features.feedback && e.id) {
    for (const [correct, name] of [[true, "right"], [false, "wrong"]]) {
      const b = el("button", null, "thumb");
      b.append(thumb(correct));
      b.setAttribute("aria-label", "this answer was " + name);
      b.type = "button";
      b.title = "this answer was " + name;
      b.dataset.correct = String(correct);
      b.addEventListener("click", (ev) => { ev.stopPropagation(); sendFeedback(e.id, correct, fb); });
      fb.append(b);
    }
  }
  tr.append(fb);
  tr.dataset.id = e.id || "";
  tr.addEventListener("click", () => showDecision(e));
  tbody.prepend(tr);
  while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
  $("decisions-empty").hidden = tbody.rows.length > 0;
}

async function sendFeedback(id, correct, cell) {
  try {
    const resp = await api("/v1/cascade/feedback", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id, correct }),
    });
    let text = resp.ok ? " sent" : "error " + resp.status;
    if (resp.status === 409) text = "already labelled";
    if (resp.status === 404) text = "no longer in the log";
    cell.replaceChildren();
    if (resp.ok) cell.append(thumb(correct));
    cell.append(el("span", text, resp.ok ? "ok" : "bad"));
  } catch (err) {
    if (!(err instanceof Unauthorized)) cell.replaceChildren(el("span", "error", "bad"));
  }
}

function showDecision(e) {
  const pairs = [];
  for (const [k, v] of Object.entries(e)) {
    if (v === null || v === undefined || v === "") continue;
    pairs.push([k, typeof v === "object" ? JSON.stringify(v) : String(v)]);
  }
  facts($("detail-body"), pairs);
  $("detail").showModal();
}

async function loadDecisions() {
  if (!state.features.decisions) return;
  const list = await getJSON("/v1/cascade/decisions?n=20");
  $("decisions").tBodies[0].replaceChildren();
  for (const e of list.data || []) addDecision(e, false);
}

// readEvents reads the SSE stream with fetch (the token goes in a header)
// and reconnects from the last event id.
async function readEvents() {
  if (!state.features.events) {
    $("stream-state").textContent = "(events off: polling the decision log)";
    setInterval(() => loadDecisions().catch(() => {}), 3000);
    return;
  }
  for (;;) {
    const ctl = new AbortController();
    state.streamAbort = ctl;
    try {
      const headers = { Accept: "text/event-stream" };
      if (state.lastEventID) headers["Last-Event-ID"] = state.lastEventID;
      const resp = await api("/v1/cascade/events", { headers, signal: ctl.signal });
      if (!resp.ok) throw new Error("events: " + resp.status);
      $("stream-state").textContent = "(live)";
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          handleEvent(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch (err) {
      if (err instanceof Unauthorized) return;
    }
    $("stream-state").textContent = "(reconnecting…)";
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function handleEvent(block) {
  let type = "message", data = "", id = "";
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const [k, ...rest] = line.split(":");
    const v = rest.join(":").replace(/^ /, "");
    if (k === "event") type = v;
    else if (k === "data") data += v;
    else if (k === "id") id = v;
  }
  if (id) state.lastEventID = id;
  if (!data) return;
  let obj;
  try { obj = JSON.parse(data); } catch { return; }
  if (type === "decision") addDecision(obj, true);
  if (type.startsWith("deferred.") || type === "cloud.state" || type === "decision") scheduleRefresh();
}

// ---- summary and health ---------------------------------------------------

let refreshTimer = null;
function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh().catch(() => {}); }, 500);
}

async function refresh() {
  const [sum, health] = await Promise.all([getJSON("/v1/cascade/summary"), healthz()]);
  state.features = sum.features || {};
  state.threshold = sum.confidence.threshold;
  renderUsage(sum);
  renderConfidence(sum.confidence);
  renderHealth(health, sum);
  setStatus(health.status || "ok", health.status === "ok" ? "ok" : "bad");
}

async function healthz() {
  // /healthz answers 503 with its body when something is down.
  const resp = await api("/healthz");
  return resp.json();
}

function renderUsage(s) {
  const t = s.today, m = s.this_month, b = s.budget;
  const cap = (used, limit) => (limit ? used + " / " + limit : String(used));
  const rows = [
    ["requests", fmt.int(t.requests), fmt.int(m.requests)],
    ["answered locally", fmt.pct(t.requests ? t.local_share : null), fmt.pct(m.requests ? m.local_share : null)],
    ["cloud calls", cap(t.cloud, b && b.limits.day.calls), cap(m.cloud, b && b.limits.month.calls)],
    ["deferred", fmt.int(t.deferred), fmt.int(m.deferred)],
    ["tokens", cap(fmt.int(t.prompt_tokens + t.completion_tokens), b && b.limits.day.tokens), cap(fmt.int(m.prompt_tokens + m.completion_tokens), b && b.limits.month.tokens)],
    ["cloud cost", cap(fmt.money(t.cost), b && b.limits.day.cost && fmt.money(b.limits.day.cost)), cap(fmt.money(m.cost), b && b.limits.month.cost && fmt.money(b.limits.month.cost))],
    ["saved vs always-cloud", fmt.money(t.savings), fmt.money(m.savings)],
  ];
  const joules = (p) => (p.energy_j != null ? p.energy_j.toFixed(1) + " J" : "—");
  if (t.energy_j != null || m.energy_j != null) rows.push(["local energy", joules(t), joules(m)]);
  const tbody = $("usage").tBodies[0];
  tbody.replaceChildren();
  for (const r of rows) {
    const tr = el("tr");
    r.forEach((c) => tr.append(el("td", c)));
    tbody.append(tr);
  }
  const notes = [];
  if (s.energy) notes.push("Energy since start: " + s.energy.joules.toFixed(1) + " J over " + s.energy.generations + " local generations.");
  else notes.push("Energy: not measured on this machine.");
  notes.push("Cloud prices: $" + s.prices.input_per_1k + " / $" + s.prices.output_per_1k + " per 1K tokens (in / out).");
  if (b && b.exhausted) notes.push("Budget exhausted: " + b.exhausted + ".");
  if (!s.complete) notes.push("Counted from the last " + s.counted + " decisions.");
  $("usage-note").textContent = notes.join(" ");
}

function renderConfidence(c) {
  const pairs = [
    ["scorer", c.scorer],
    ["threshold", fmt.num(c.threshold)],
    ["source", (c.online ? "online (adapt.enabled), starting from " : "") +
      (c.source === "config" ? "configuration (cascade.threshold)" : "calibration " + c.source)],
    ["method", c.method],
    ["calibrated on", c.items ? c.items + " labelled items" : ""],
    ["accepted accuracy", c.accepted_accuracy != null ? fmt.pct(c.accepted_accuracy) : ""],
  ];
  if (c.certificate) {
    pairs.push(["certified", "≥ " + fmt.pct(c.certificate.target) + " right (error ≤ " + fmt.pct(c.certificate.error_bound) + " at δ = " + c.certificate.delta + ")"]);
  }
  if (c.guarantee) pairs.push(["promise", c.guarantee]);
  const l = c.labels;
  if (l) {
    pairs.push(["from labels", l.accepted
      ? fmt.pct(l.accuracy) + " of " + l.accepted + " labelled local answers right (≥ " + fmt.pct(l.lower_bound) + " at δ = " + l.delta + ")"
      : l.labelled + " labelled, none answered locally"]);
  }
  for (const st of c.stages || []) {
    pairs.push(["stage " + st.name, st.scorer + " ≥ " + fmt.num(st.threshold)]);
  }
  const o = c.online;
  if (o) {
    const win = (w) => (w.escalate_all ? "escalate all" : fmt.num(w.threshold)) +
      (w.bound != null ? " · bound " + fmt.pct(w.bound) : " · no bound yet") +
      (w.below ? " · below target" : "");
    pairs.push(["online target", "≥ " + fmt.pct(o.target) + " right at " + fmt.pct(o.confidence) + " confidence, window " + o.window]);
    pairs.push(["online threshold", win(o.global), o.global.below ? "bad" : ""]);
    for (const g of o.groups || []) {
      pairs.push(["group " + g.group, g.own ? win(g) : "shares the global threshold (too few labels)", g.below ? "bad" : ""]);
    }
  }
  if (c.error) pairs.push(["calibration", c.error, "bad"]);
  facts($("confidence"), pairs);
  histogram($("histogram"), c.scores || [], c.threshold);
  $("reliability-fig").hidden = !c.reliability;
  if (c.reliability) reliability($("reliability"), c.reliability, c.threshold);
}

function renderHealth(h, s) {
  const rs = h.cloud && h.cloud.reachability;
  const pairs = [
    ["local", (h.local.backend || "") + " · " + h.local.model, h.local.ok ? "ok" : "bad"],
    ["", h.local.ok ? "answering" : h.local.error, h.local.ok ? "ok" : "bad"],
    ["cloud", (h.cloud.provider || "") + " · " + h.cloud.model, h.cloud.reachable ? "ok" : "bad"],
    ["", h.cloud.reachable ? "reachable" : h.cloud.error || "unreachable", h.cloud.reachable ? "ok" : "bad"],
  ];
  if (rs) {
    pairs.push(["breaker", rs.state + (rs.consecutive_failures ? " (" + rs.consecutive_failures + " failures)" : ""), rs.state === "online" ? "ok" : "warn"]);
    pairs.push(["offline switch", rs.state === "offline" ? "on" : "off", rs.state === "offline" ? "warn" : ""]);
  }
  if (h.decisions) pairs.push(["decision log", h.decisions.ok ? "writing" : h.decisions.error, h.decisions.ok ? "ok" : "bad"]);
  facts($("health"), pairs.filter((p) => p[1] !== undefined));
  const o = h.outbox;
  $("outbox").textContent = o
    ? "queued " + o.queued + " · sending " + o.sending + " · done " + o.done + " · failed " + o.failed + (o.error ? " · " + o.error : "")
    : "off (outbox.enabled false)";
  const ul = $("deferred");
  ul.replaceChildren();
  for (const it of s.deferred || []) {
    const li = el("li", it.id + ": " + it.state + (it.attempts ? ", " + it.attempts + " attempts" : "") + (it.last_error ? " (" + it.last_error + ")" : ""));
    li.className = it.state === "failed" ? "bad" : it.state === "done" ? "ok" : "warn";
    ul.append(li);
  }
  const rules = $("rules");
  rules.replaceChildren();
  if (!(s.resource_rules || []).length) rules.append(el("li", "none (resources.enabled false)"));
  for (const r of s.resource_rules || []) {
    const cond = ["on_battery", "battery_below", "temp_above", "offline"].filter((k) => r[k] !== undefined).map((k) => k + " " + r[k]).join(", ");
    rules.append(el("li", (r.name || "rule") + ": " + (cond || "always") + " → " + r.action));
  }
}

// ---- charts (SVG) ----------------------------------------------------------

const SVGNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// thumb draws a thumbs-up (right) or thumbs-down (wrong) icon: SVG, since
// small devices often lack an emoji font.
function thumb(up) {
  const root = svg("svg", { viewBox: "0 0 16 16", class: "icon", "aria-hidden": "true" });
  const g = svg("g", up ? {} : { transform: "rotate(180 8 8)" });
  g.append(svg("rect", { x: 1, y: 7, width: 3, height: 8, rx: 0.5 }));
  g.append(svg("path", { d: "M5 7 L8 1.5 C9 1.1 10.1 2 9.7 3.2 L9 6 H13.5 C14.5 6 15.2 7 14.9 8 L13.6 13.6 C13.4 14.4 12.7 15 11.9 15 H5 Z" }));
  root.append(g);
  return root;
}

function histogram(box, scores, thr) {
  const W = 320, H = 110, P = 14, bins = 20;
  const all = scores.concat(thr !== null ? [thr] : []);
  let lo = Math.min(...all), hi = Math.max(...all);
  if (!isFinite(lo)) { lo = 0; hi = 1; }
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const counts = new Array(bins).fill(0);
  for (const s of scores) counts[Math.min(bins - 1, Math.floor(((s - lo) / (hi - lo)) * bins))]++;
  const top = Math.max(1, ...counts);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "histogram of recent scores" });
  const x = (v) => P + ((v - lo) / (hi - lo)) * (W - 2 * P);
  const bw = (W - 2 * P) / bins;
  counts.forEach((c, i) => {
    const h = ((H - 2 * P) * c) / top;
    root.append(svg("rect", { class: "bar", x: P + i * bw + 1, y: H - P - h, width: Math.max(1, bw - 2), height: h }));
  });
  root.append(svg("line", { class: "axis", x1: P, x2: W - P, y1: H - P, y2: H - P }));
  if (thr !== null) root.append(svg("line", { class: "thr", x1: x(thr), x2: x(thr), y1: P - 6, y2: H - P }));
  root.append(svg("text", { x: P, y: H - 2 }, lo.toFixed(2)), svg("text", { x: W - P, y: H - 2, "text-anchor": "end" }, hi.toFixed(2)));
  root.append(svg("text", { x: W - P, y: 10, "text-anchor": "end" }, scores.length + " scores"));
  box.replaceChildren(root);
}

function reliability(box, m, thr) {
  const W = 320, H = 130, P = 16;
  const xs = m.x || [], ys = m.y || [];
  let lo = Math.min(...xs, thr), hi = Math.max(...xs, thr);
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const x = (v) => P + ((v - lo) / (hi - lo)) * (W - 2 * P);
  const y = (p) => H - P - p * (H - 2 * P);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "reliability curve" });
  root.append(svg("line", { class: "axis", x1: P, x2: W - P, y1: H - P, y2: H - P }));
  root.append(svg("line", { class: "axis", x1: P, x2: P, y1: P, y2: H - P }));
  root.append(svg("polyline", { class: "curve", points: xs.map((v, i) => x(v) + "," + y(ys[i])).join(" ") }));
  root.append(svg("line", { class: "thr", x1: x(thr), x2: x(thr), y1: P, y2: H - P }));
  root.append(svg("text", { x: 2, y: P }, "1"), svg("text", { x: 2, y: H - P }, "0"));
  root.append(svg("text", { x: P, y: H - 2 }, lo.toFixed(2)), svg("text", { x: W - P, y: H - 2, "text-anchor": "end" }, hi.toFixed(2)));
  box.replaceChildren(root);
}

// ---- try it ----------------------------------------------------------------

async function tryIt(ev) {
  ev.preventDefault();
  const q = $("try-q").value.trim();
  if (!q) return;
  const btn = $("try-send");
  btn.disabled = true;
  $("try-out").hidden = false;
  $("try-answer").textContent = "…";
  facts($("try-decision"), []);
  try {
    const resp = await api("/v1/chat/completions", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: $("try-policy").value, messages: [{ role: "user", content: q }] }),
    });
    const body = await resp.json();
    if (!resp.ok) {
      $("try-answer").textContent = "Error " + resp.status + ": " + ((body.error && body.error.message) || "");
      return;
    }
    $("try-answer").textContent = body.choices[0].message.content;
    const d = body.cascade || {};
    facts($("try-decision"), [
      ["route", d.route, "route-" + d.route],
      ["confidence", d.confidence != null ? fmt.num(d.confidence) : ""],
      ["score / threshold", d.score != null ? fmt.num(d.score) + " / " + fmt.num(d.threshold) : ""],
      ["reason", d.reason],
      ["deferred", d.deferred_id],
      ["id", body.id],
    ]);
  } catch (err) {
    if (!(err instanceof Unauthorized)) $("try-answer").textContent = "Error: " + err.message;
  } finally {
    btn.disabled = false;
  }
}

// ---- start -----------------------------------------------------------------

async function start() {
  try {
    await refresh();
  } catch (err) {
    if (!(err instanceof Unauthorized)) setStatus("unreachable", "bad");
    return;
  }
  $("login").hidden = true;
  $("main").hidden = false;
  if (state.started) return;
  state.started = true;
  await loadDecisions().catch(() => {});
  readEvents();
  setInterval(() => refresh().catch(() => {}), 5000);
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("token-button").addEventListener("click", () => askToken(null));
  $("try-form").addEventListener("submit", tryIt);
  $("detail-close").addEventListener("click", () => $("detail").close());
  start();
});
