// hookgate console: recent events, an event's detail, replay, the live
// tail and per-source health, from the admin API next to this page
// (events, health, replay, stream). It asks the API only when the live
// stream says something changed: Caddy logs every admin request. It is a
// module (strict, deferred, fetched in cors mode).

const base = new URL(".", location.href);
const $ = (sel, el = document) => el.querySelector(sel);
const kinds = ["verified", "rejected", "duplicate", "handshake", "retry", "delivered", "dead"];
const tailMax = 200;
let sources = [];

// el builds an element with text (never HTML: every value may come from
// a webhook).
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path, opts = {}) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json" }, ...opts };
  if (opts.json !== undefined) {
    init.method = init.method || "POST";
    init.body = JSON.stringify(opts.json);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(new URL(path, base), init);
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { error: text }; }
  if (!resp.ok) throw new Error((body && body.error) || `HTTP ${resp.status}`);
  return body;
}

function notice(msg, bad) {
  const n = $("#notice");
  n.textContent = msg;
  n.style.background = bad ? "var(--bad-bg)" : "";
  n.style.color = bad ? "var(--bad)" : "";
  n.hidden = !msg;
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

const pct = (x) => (x === undefined || x === null ? "–" : `${(100 * x).toFixed(x >= 0.995 || x === 0 ? 0 : 1)}%`);
const num = (x, d = 1) => (x === undefined || x === null ? "–" : Number(x).toFixed(d));
const ms = (x) => (x === undefined || x === null ? "–" : x < 1000 ? `${Math.round(x)} ms` : `${(x / 1000).toFixed(1)} s`);
const pad = (n) => String(n).padStart(2, "0");
const clock = (iso) => { const d = new Date(iso); return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`; };
const day = (iso) => { const d = new Date(iso); return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`; };
const stamp = (iso) => (iso ? `${day(iso)} ${clock(iso)}` : "");
// when writes today's times as a clock, older ones with their day.
const when = (iso) => (day(iso) === day(new Date().toISOString()) ? clock(iso) : `${day(iso).slice(5)} ${clock(iso).slice(0, 5)}`);

// ---- health ----

async function loadHealth() {
  const h = await api("health");
  sources = h.sources;
  const box = $("#health");
  box.replaceChildren();
  if (!sources.length) box.append(el("p", { class: "empty", text: "No webhook_verify source in this config." }));
  for (const s of sources) box.append(healthCard(s));
  const sel = $("#filters [name=source]");
  const cur = sel.value;
  sel.replaceChildren(el("option", { value: "", text: "all" }),
    ...sources.filter((s) => s.records).map((s) => el("option", { value: s.source, text: s.source })));
  sel.value = cur;
}

function healthCard(s) {
  const card = el("article", { class: `card ${s.status}`, "data-source": s.source });
  card.append(el("h3", {}, s.source, el("span", { class: `pill status-${s.status}`, text: s.status })));
  card.append(el("p", { class: "reason" + (s.status === "unhealthy" ? " unhealthy-text" : ""), text: s.reason || (s.requests ? "No problem seen." : "No request in 15 min.") }));
  const dl = el("dl");
  const add = (k, v, title) => dl.append(el("div", { title }, el("dt", { text: k }), el("dd", { text: v })));
  add("Requests", s.requests, "requests in the last 15 minutes");
  add("Verified", s.requests ? pct(1 - (s.rejected_share || 0)) : "–", s.last_rejection_reason ? `last rejection: ${s.last_rejection_reason}` : "");
  add("Last event", ago(s.last_event_at), stamp(s.last_event_at));
  if (s.records) {
    add("Delivered", pct(s.success_rate), "delivered / (delivered + dead), last 15 minutes");
    add("Attempts/delivery", num(s.attempts_per_delivery));
    add("p50 / p99", `${ms(s.latency_p50_ms)} / ${ms(s.latency_p99_ms)}`, "the app's answer time, last 256 attempts");
    add("Pending", s.pending + (s.oldest_pending_seconds ? ` (oldest ${Math.round(s.oldest_pending_seconds)} s)` : ""));
    add("Dead kept", s.dead_kept);
  } else {
    add("Recorded", "no", "no deliver block: events are verified and passed on, not recorded");
  }
  card.append(dl);
  const keys = s.keys.filter((k) => k.state !== "ok" || k.expires);
  if (keys.length) {
    card.append(el("div", { class: "keys" }, "Keys: ", ...keys.flatMap((k, i) => [
      i ? ", " : "",
      el("span", { class: k.state === "ok" ? "" : `pill ${k.state === "expired" ? "status-unhealthy" : "status-degraded"}`,
        text: `${k.name} ${k.state === "expired" ? "expired" : "expires"} ${day(k.expires)}` }),
    ])));
  }
  if (s.records && s.dead_kept > 0) {
    card.append(el("div", { class: "actions" }, el("button", { type: "button", class: "retry-source", onclick: () => retryDead(s.source), text: `Retry ${s.dead_kept} dead` })));
  }
  return card;
}

// ---- events ----

function filterQuery() {
  const f = new FormData($("#filters"));
  const q = new URLSearchParams({ limit: "100" });
  for (const k of ["source", "status", "type"]) if (f.get(k)) q.set(k, f.get(k).trim());
  if (f.get("since")) q.set("since", new Date(Date.now() - Number(f.get("since")) * 60000).toISOString());
  return q;
}

async function loadEvents() {
  const { events } = await api("events?" + filterQuery());
  const tb = $("#events tbody");
  tb.replaceChildren(...events.map(eventRow));
  $("#events-empty").hidden = events.length > 0;
}

function eventRow(e) {
  const tr = el("tr", { "data-source": e.source, "data-id": e.id, onclick: () => openDetail(e.source, e.id) },
    el("td", { title: stamp(e.received_at), text: when(e.received_at) }),
    el("td", { text: e.source }),
    el("td", { class: "id", text: e.id }),
    el("td", { text: e.type || "–" }),
    el("td", {}, el("span", { class: `pill k-${e.status}`, text: e.status })),
    el("td", { class: "num", text: e.attempts }),
    el("td", { class: "err", title: e.last_error || "", text: e.last_error || "" }),
    el("td", {}, el("button", { type: "button", class: "replay", text: "Replay", disabled: e.payload_dropped ? "" : undefined,
      title: e.payload_dropped ? "Not kept once delivered (record metadata_only): nothing to replay" : undefined,
      onclick: (ev) => { ev.stopPropagation(); replay(e.source, e.id); } })));
  return tr;
}

async function replay(source, id) {
  try {
    await api(`events/${encodeURIComponent(source)}/${encodeURIComponent(id)}/replay`, { method: "POST" });
    notice(`Replaying ${source}/${id}: it is delivered again as a new attempt.`);
  } catch (err) {
    notice(`Replay of ${source}/${id} failed: ${err.message}`, true);
  }
}

async function retryDead(source) {
  const what = source ? `every dead event of ${source}` : "every dead event";
  if (!confirm(`Replay ${what}, 10 per second?`)) return;
  try {
    const job = await api("replay", { json: source ? { source, status: "dead" } : { status: "dead" } });
    notice(`Replaying ${job.matched} dead event${job.matched === 1 ? "" : "s"} at ${job.rate}/s (job ${job.id}).`);
    // One look when it should be done, rather than polling.
    setTimeout(async () => {
      try {
        const j = await api(`replay/${job.id}`);
        notice(`Job ${j.id}: ${j.replayed} replayed, ${j.skipped} skipped, ${j.failed} failed (${j.state}).`, j.failed > 0);
      } catch { /* the stream shows the deliveries anyway */ }
    }, (job.matched / job.rate) * 1000 + 1500);
  } catch (err) {
    notice(`Bulk retry failed: ${err.message}`, true);
  }
}

// ---- detail ----

async function openDetail(source, id) {
  let e;
  try {
    e = await api(`events/${encodeURIComponent(source)}/${encodeURIComponent(id)}`);
  } catch (err) {
    notice(`${source}/${id}: ${err.message}`, true);
    return;
  }
  $("#d-title").textContent = `${e.source} / ${e.id}`;
  const meta = $("#d-meta");
  meta.replaceChildren();
  const add = (k, v) => v !== undefined && v !== "" && meta.append(el("dt", { text: k }), el("dd", {}, v));
  add("Type", e.type || "–");
  add("Status", el("span", { class: `pill k-${e.status}`, text: e.status }));
  add("Received", stamp(e.received_at));
  add("Finished", stamp(e.finished_at));
  for (const d of e.deliveries) add(`→ ${d.destination}`, `${d.status}, ${d.attempts} attempt${d.attempts === 1 ? "" : "s"}${d.next_at ? `, next ${stamp(d.next_at)}` : ""}${d.reason ? ` — ${d.reason}` : ""}`);
  $("#d-replay").onclick = () => replay(e.source, e.id);
  $("#d-replay").disabled = !!e.payload_dropped;
  $("#d-attempts tbody").replaceChildren(...(e.attempts.length ? e.attempts.map((a) => el("tr", {},
    el("td", { text: a.number }), el("td", { text: stamp(a.at) }), el("td", { text: a.destination }),
    el("td", { text: a.status || "–" }), el("td", { class: "num", text: ms(a.latency_ms) }), el("td", { text: a.error || "" })))
    : [el("tr", {}, el("td", { colspan: 6, class: "empty", text: "No attempt yet." }))]));
  $("#d-headers tbody").replaceChildren(...Object.keys(e.headers).sort().map((k) =>
    el("tr", {}, el("td", { text: k }), el("td", { text: e.headers[k].join(", ") }))));
  const body = $("#d-body");
  if (e.body_hidden) {
    body.textContent = "(bodies are hidden by this gateway's configuration: hide_payloads)";
  } else if (e.payload_dropped) {
    body.textContent = "(not kept: this gateway records metadata only (record metadata_only) and dropped the headers and body once the event was delivered)";
  } else if (e.body !== undefined) {
    try { body.textContent = JSON.stringify(JSON.parse(e.body), null, 2); } catch { body.textContent = e.body; }
  } else {
    body.textContent = `(binary, base64)\n${e.body_base64 || ""}`;
  }
  $("#d-size").textContent = e.payload_dropped ? "" : `${e.body_size} bytes`;
  const dlg = $("#detail");
  if (!dlg.open) dlg.showModal();
}

// ---- live tail ----

let refreshTimer = null;
function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    Promise.all([loadEvents(), loadHealth()]).catch((err) => notice(err.message, true));
  }, 700);
}

function tailItem(kind, d) {
  let what = [d.id || "", d.type || ""].filter(Boolean).join(" ");
  if (kind === "rejected") what = `${d.reason}${d.status ? ` (${d.status})` : ""}${d.shadow ? " shadow" : ""}`;
  if (kind === "delivered" || kind === "retry" || kind === "dead") {
    const how = kind === "dead" ? d.reason : [d.status ? `HTTP ${d.status}` : d.error, d.latency_ms !== undefined ? ms(d.latency_ms) : ""].filter(Boolean).join(", ");
    what += ` → ${d.destination} #${d.attempt}${how ? `: ${how}` : ""}`;
  }
  if (kind === "verified" && d.resumed) what += " (resumed)";
  return el("li", { class: "fresh", "data-kind": kind, "data-id": d.id || "" },
    el("time", { datetime: d.at, text: clock(d.at) }),
    el("span", {}, el("span", { class: `pill k-${kind}`, text: kind })),
    el("span", { class: "what", title: what }, el("span", { class: "src", text: `${d.source} ` }), el("span", { class: "id", text: what })));
}

function connect() {
  const es = new EventSource(new URL("stream", base));
  const pill = $("#live");
  es.onopen = () => { pill.textContent = "● live"; pill.className = "pill on"; };
  es.onerror = () => { pill.textContent = "reconnecting…"; pill.className = "pill off"; };
  for (const kind of kinds) {
    es.addEventListener(kind, (m) => {
      const d = JSON.parse(m.data);
      const list = $("#tail");
      list.prepend(tailItem(kind, d));
      while (list.children.length > tailMax) list.lastChild.remove();
      if (kind !== "handshake") refreshSoon();
    });
  }
  es.addEventListener("gap", () => notice("Some events recorded while the tail was away were not resumed; the table below lists them."));
}

// ---- start ----

document.addEventListener("DOMContentLoaded", async () => {
  $("#filters").addEventListener("input", () => loadEvents().catch((err) => notice(err.message, true)));
  $("#filters").addEventListener("submit", (e) => e.preventDefault());
  $("#retry-dead").addEventListener("click", () => retryDead(""));
  try {
    await Promise.all([loadHealth(), loadEvents()]);
  } catch (err) {
    notice(err.message, true);
  }
  connect();
  // Relative times move on without asking the gateway.
  setInterval(() => {
    for (const c of document.querySelectorAll(".card")) {
      const s = sources.find((x) => x.source === c.dataset.source);
      const dd = c.querySelectorAll("dd")[2];
      if (s && dd) dd.textContent = ago(s.last_event_at);
    }
  }, 10000);
  window.hookgateReady = true;
});
