// Sedna dashboard: a single page over /api. The server pushes changes as server-sent events (/api/stream);
// the page never polls: it re-reads an object's details only when an event says that object changed.
"use strict";

const S = { rows: new Map(), info: null, route: null, detail: null, plots: new Map(), reload: null, logs: new Map() };
const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const keyOf = (t) => `${t.plural}/${t.namespace}/${t.name}`;

function age(ts) {
  if (!ts) return "";
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 120) return `${Math.floor(s)}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
const fmt = (v) => v == null ? "–" : (Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : v.toPrecision(3));

function phaseChip(row) {
  const p = row.phase || "Pending";
  const cls = row.failing ? "bad" : /Running|Completed|Succeeded|Ready|Training|Deploy|samples|metrics/.test(p) ? "ok"
    : p === "—" ? "" : "warn";
  return `<span class="chip ${cls}">${esc(p)}</span>${row.failing ? ` <span class="chip bad">failing</span>` : ""}`;
}

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  if (!r.ok) throw Object.assign(new Error(`${url}: HTTP ${r.status}`), { status: r.status });
  return r.json();
}

// ---- live stream ------------------------------------------------------------------------------------------

function connect() {
  const live = $("#live");
  const es = new EventSource("/api/stream");
  es.addEventListener("open", () => { live.classList.add("on"); live.lastElementChild.textContent = "live"; });
  es.addEventListener("error", () => { live.classList.remove("on"); live.lastElementChild.textContent = "reconnecting"; });
  es.addEventListener("snapshot", (e) => {
    S.rows = new Map(JSON.parse(e.data).items.map((r) => [keyOf(r), r]));
    if (S.route.page === "overview") renderOverview();
    else scheduleReload(0);
  });
  es.addEventListener("change", (e) => {
    const m = JSON.parse(e.data);
    const k = keyOf(m.target);
    if (m.row) S.rows.set(k, m.row); else S.rows.delete(k);
    if (S.route.page === "overview") renderOverview();
    else if (S.route.key === k) scheduleReload(250);
  });
}

function scheduleReload(ms) {
  clearTimeout(S.reload);
  S.reload = setTimeout(loadDetail, ms);
}

// ---- routing ----------------------------------------------------------------------------------------------

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "o" && parts.length === 4) {
    return { page: "object", plural: parts[1], namespace: parts[2], name: parts[3], key: parts.slice(1).join("/") };
  }
  return { page: "overview" };
}

function onRoute() {
  S.route = parseRoute();
  S.plots.forEach((p) => p.u.destroy());
  S.plots.clear();
  S.detail = null;
  if (S.route.page === "overview") {
    $("#crumbs").innerHTML = `<span>Overview</span>`;
    renderOverview();
  } else {
    const r = S.route;
    $("#crumbs").innerHTML = `<a href="#/">Overview</a> / <span>${esc(r.namespace)}/${esc(r.name)}</span>`;
    $("#main").innerHTML = `<div class="empty">Loading ${esc(r.name)}…</div>`;
    loadDetail();
  }
}

// ---- overview ---------------------------------------------------------------------------------------------

function renderOverview() {
  const rows = [...S.rows.values()].sort((a, b) =>
    (b.failing - a.failing) || a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  const failing = rows.filter((r) => r.failing).length;
  const kinds = new Set(rows.map((r) => r.kind)).size;
  const pods = rows.reduce((n, r) => n + r.pods, 0);
  const body = rows.map((r) => `
    <tr class="link ${r.failing ? "failing" : ""}" data-key="${esc(keyOf(r))}" data-failing="${r.failing}">
      <td data-l="Kind"><span class="kind">${esc(r.kind)}</span></td>
      <td><a class="name" href="#/o/${encodeURIComponent(r.plural)}/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}">${esc(r.name)}</a>
        <div class="ns">${esc(r.namespace)}</div></td>
      <td data-l="Phase">${phaseChip(r)}</td>
      <td data-l="Condition">${r.condition ? `<b>${esc(r.condition)}</b>` : ""}${r.reason ? ` <span class="muted">(${esc(r.reason)})</span>` : ""}
        ${r.message ? `<div class="msg">${esc(r.message)}</div>` : ""}</td>
      <td data-l="Pods">${r.pods}${r.failingPods ? ` <span class="chip bad">${r.failingPods} failing</span>` : ""}${r.restarts ? ` <span class="muted">${r.restarts} restarts</span>` : ""}</td>
      <td data-l="Age" class="age" data-ts="${esc(r.created)}">${age(r.created)}</td>
    </tr>`).join("");
  $("#main").innerHTML = `
    <h1>Sedna objects</h1><div class="sub">Every Sedna custom resource in every namespace; failing ones first.</div>
    <div class="cards">
      <div class="card"><div class="n">${rows.length}</div><div class="l">objects</div></div>
      <div class="card ${failing ? "bad" : ""}"><div class="n" id="failing-count">${failing}</div><div class="l">failing</div></div>
      <div class="card"><div class="n">${kinds}</div><div class="l">kinds</div></div>
      <div class="card"><div class="n">${pods}</div><div class="l">worker pods</div></div>
    </div>
    ${watchNotice()}
    <div class="panel">${rows.length ? `<table class="rows" id="overview"><thead><tr><th>Kind</th><th>Name</th><th>Phase / stage</th>
      <th>Condition</th><th>Pods</th><th>Age</th></tr></thead><tbody>${body}</tbody></table>`
      : `<div class="empty">No Sedna objects yet. <code>kubectl apply -f</code> an example and it appears here.</div>`}</div>`;
  for (const tr of document.querySelectorAll("#overview tr.link")) {
    tr.addEventListener("click", (e) => { if (e.target.tagName !== "A") location.hash = `#/o/${tr.dataset.key.split("/").map(encodeURIComponent).join("/")}`; });
  }
}

function watchNotice() {
  const errs = Object.entries((S.info && S.info.watchErrors) || {}).filter(([, v]) => !/404/.test(v));
  return errs.length ? `<div class="notice">Not watching ${errs.map(([k, v]) => `${esc(k)} (${esc(v)})`).join(", ")}</div>` : "";
}

// ---- object page ------------------------------------------------------------------------------------------

async function loadDetail() {
  const r = S.route;
  if (!r || r.page !== "object") return;
  let d;
  try {
    d = await getJSON(`/api/objects/${[r.plural, r.namespace, r.name].map(encodeURIComponent).join("/")}`);
  } catch (err) {
    if (S.route === r) $("#main").innerHTML = `<div class="empty">${err.status === 404 ? "Not found (deleted?)" : esc(err.message)} — <a href="#/">back to the overview</a></div>`;
    return;
  }
  if (S.route !== r) return;
  S.detail = d;
  renderDetail(d);
}

function renderDetail(d) {
  const row = d.row;
  let main = $("#detail");
  if (!main) {
    $("#main").innerHTML = `<div id="detail">
      <div id="head"></div>
      <div id="kindview"></div>
      <div class="panel"><h2>Metrics over time</h2><div class="plots" id="plots"></div>
        <div class="muted" style="font-size:12px;margin-top:8px">${esc(S.info ? S.info.historyNote : "")}</div></div>
      <div class="panel"><h2>Pods</h2><div id="pods"></div></div>
      <div class="panel"><h2>Events</h2><div id="events"></div></div>
      <div class="panel"><details><summary>Object (JSON)</summary><pre class="log" id="raw"></pre></details></div>
    </div>`;
    main = $("#detail");
  }
  $("#head").innerHTML = `<h1>${esc(row.name)} ${phaseChip(row)}</h1>
    <div class="sub"><span class="kind">${esc(row.kind)}</span> in <b>${esc(row.namespace)}</b> · created ${age(row.created)} ago
      ${row.condition ? ` · ${esc(row.condition)}${row.reason ? ` (${esc(row.reason)})` : ""}` : ""}
      ${row.message ? `<div class="msg">${esc(row.message)}</div>` : ""}</div>`;
  $("#kindview").innerHTML = kindView(row.kind, d);
  renderPlots(d.history, row.kind);
  renderPods(d.pods);
  $("#events").innerHTML = d.events.length ? `<table class="rows"><thead><tr><th>Type</th><th>Reason</th><th>Object</th><th>Message</th><th>Age</th></tr></thead><tbody>
    ${d.events.map((e) => `<tr><td data-l="Type"><span class="chip ${e.type === "Warning" ? "warn" : ""}">${esc(e.type || "Normal")}</span></td>
      <td data-l="Reason"><b>${esc(e.reason)}</b>${e.count > 1 ? ` <span class="muted">×${e.count}</span>` : ""}</td>
      <td data-l="Object" class="mono">${esc(e.object)}</td><td class="msg">${esc(e.message)}</td><td data-l="Age">${age(e.time)}</td></tr>`).join("")}
    </tbody></table>` : `<div class="empty">No events</div>`;
  const raw = $("#raw");
  if (raw) raw.textContent = JSON.stringify(d.object, null, 2);
}

function kindView(kind, d) {
  const p = d.page || {};
  if (kind === "FederatedLearningJob") {
    const rounds = p.rounds || [];
    const shown = rounds.slice(-30);
    return `<div class="grid2" style="margin-bottom:16px">
      <div class="panel"><h2>Rounds</h2><div class="cards"><div class="card"><div class="n" id="round">${rounds.length ? rounds[rounds.length - 1].round : 0}</div><div class="l">current round</div></div></div>
        <div class="timeline">${shown.map((r) => `<div class="step"><b>#${r.round}</b><span>${age(r.time)} ago</span></div>`).join("") || `<span class="muted">no round reported yet</span>`}</div></div>
      <div class="panel"><h2>Aggregated model ${esc(p.model || "")}</h2>${metricTable(p.modelMetrics)}
        <h2 style="margin-top:14px">Workers</h2>${workerList(d.pods)}</div></div>`;
  }
  if (kind === "IncrementalLearningJob" || kind === "LifelongLearningJob") {
    const stages = p.stages || [];
    return `<div class="panel"><h2>Stages</h2>
      <div class="sub">Deployed model: <code>${esc(p.deployedModel || "none yet")}</code>
      ${p.knowledgeBase ? ` · knowledge base: <code>${esc(JSON.stringify(p.knowledgeBase))}</code>` : ""}</div>
      ${stages.length ? `<table class="rows stages"><thead><tr><th>Stage</th><th>State</th><th>Models and metrics</th><th>When</th></tr></thead><tbody>
      ${stages.map((s) => `<tr><td data-l="Stage"><b>${esc(s.stage)}</b></td><td data-l="State"><span class="chip ${s.type === "Failed" ? "bad" : s.type === "Completed" ? "ok" : "warn"}">${esc(s.type)}</span>
        <div class="msg">${esc(s.reason)} ${esc(s.message)}</div></td>
        <td>${s.models.map((m) => `<div><span class="muted">${esc(m.side)}</span> <code>${esc(m.url)}</code> ${Object.entries(m.metrics).map(([k, v]) => `<span class="chip">${esc(k)} ${fmt(v)}</span>`).join(" ")}</div>`).join("") || `<span class="muted">–</span>`}</td>
        <td data-l="When">${age(s.time)}</td></tr>`).join("")}</tbody></table>` : `<div class="empty">No stage yet</div>`}</div>`;
  }
  if (kind === "JointInferenceService") {
    const m = p.metrics || {};
    const card = (label, v, bad) => `<div class="card ${bad ? "bad" : ""}"><div class="n">${fmt(v)}</div><div class="l">${esc(label)}</div></div>`;
    const inf = m.inferenceNumber, hard = m.hardExampleNumber;
    const ratio = m.uploadCloudRatio ?? (inf ? hard / inf : null);
    const failed = m.failedOffloads ?? m.failedOffloadNumber;
    return `<div class="cards" id="ji-cards">${card("inferences", inf)}${card("hard examples", hard)}
      ${card("hard-example ratio", ratio)}${card("failed offloads", failed, failed > 0)}</div>`;
  }
  const sample = p.sample || {};
  return Object.keys(sample).length ? `<div class="cards">${Object.entries(sample).map(([k, v]) =>
    `<div class="card"><div class="n">${fmt(v)}</div><div class="l">${esc(k)}</div></div>`).join("")}</div>` : "";
}

function metricTable(m) {
  const e = Object.entries(m || {});
  return e.length ? `<div>${e.map(([k, v]) => `<span class="chip">${esc(k)} ${fmt(v)}</span>`).join(" ")}</div>` : `<div class="muted">no metrics reported yet</div>`;
}

function workerList(pods) {
  return (pods || []).length ? pods.map((p) => `<div><span class="chip ${podClass(p)}">${esc(p.state)}</span>
    <span class="mono">${esc(p.workerType || "worker")}@${esc(p.node || "?")}</span></div>`).join("") : `<div class="muted">no workers</div>`;
}

// ---- plots ------------------------------------------------------------------------------------------------

const PREFERRED = ["inferenceNumber", "hardExampleNumber", "uploadCloudRatio", "failedOffloadNumber", "round", "accuracy", "loss",
  "framesProcessed", "matches"];
const podClass = (p) => p.failing ? "bad" : /Running|Completed|Succeeded/.test(p.state) ? "ok" : "warn";

function renderPlots(h, kind) {
  const box = $("#plots");
  const names = Object.keys(h.series || {}).sort((a, b) => {
    const ia = PREFERRED.indexOf(a), ib = PREFERRED.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  if (!names.length) { box.innerHTML = `<div class="empty">No numbers reported yet; points appear as the ${esc(kind)} reports progress.</div>`; return; }
  const empty = box.querySelector(".empty");
  if (empty) empty.remove();
  const css = getComputedStyle(document.documentElement);
  const colors = [css.getPropertyValue("--accent"), "#1f9d55", "#c77c02", "#d1293d", "#8b5cf6", "#0891b2"];
  names.forEach((name, i) => {
    const data = [h.t, h.series[name]];
    const last = [...h.series[name]].reverse().find((v) => v != null);
    let entry = S.plots.get(name);
    if (!entry) {
      const el = document.createElement("div");
      el.className = "plot";
      el.dataset.metric = name;
      el.innerHTML = `<div class="t"><b>${esc(name)}</b><span class="v"></span></div><div class="c"></div>`;
      box.appendChild(el);
      const width = Math.max(240, el.clientWidth - 20);
      const u = new uPlot({
        width, height: 150, legend: { show: false }, cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [{ stroke: css.getPropertyValue("--muted"), grid: { stroke: css.getPropertyValue("--line") }, ticks: { show: false } },
               { stroke: css.getPropertyValue("--muted"), grid: { stroke: css.getPropertyValue("--line") }, ticks: { show: false }, size: 44 }],
        series: [{}, { label: name, stroke: colors[i % colors.length].trim(), width: 2, points: { size: 5 },
                       fill: colors[i % colors.length].trim() + "22", spanGaps: true }],
      }, data, el.querySelector(".c"));
      entry = { el, u };
      S.plots.set(name, entry);
    } else {
      entry.u.setData(data);
    }
    if (h.t.length === 1) entry.u.setScale("x", { min: h.t[0] - 60, max: h.t[0] + 60 });   // one point: ±1 min
    entry.el.dataset.points = String(h.t.length);
    entry.el.querySelector(".v").textContent = fmt(last);
  });
  names.forEach((name) => box.appendChild(S.plots.get(name).el));   // the preferred order, new metrics included
}

window.addEventListener("resize", () => {
  S.plots.forEach((p) => p.u.setSize({ width: Math.max(240, p.el.clientWidth - 20), height: 150 }));
});

// ---- pods and logs ----------------------------------------------------------------------------------------

function renderPods(pods) {
  const box = $("#pods");
  if (!pods.length) { box.innerHTML = `<div class="empty">No pods</div>`; return; }
  box.innerHTML = `<table class="rows" id="pod-table"><thead><tr><th>Pod</th><th>Node</th><th>State</th><th>Restarts</th><th>Last exit code</th><th>Age</th><th></th></tr></thead><tbody>
    ${pods.map((p) => `<tr class="${p.failing ? "failing" : ""}" data-pod="${esc(p.name)}" data-failing="${p.failing}">
      <td><span class="name mono">${esc(p.name)}</span>${p.workerType ? `<div class="ns">${esc(p.workerType)}</div>` : ""}</td>
      <td data-l="Node">${esc(p.node)}</td>
      <td data-l="State"><span class="chip ${podClass(p)}">${esc(p.state)}</span>
        ${p.containers.filter((c) => c.message).map((c) => `<div class="msg">${esc(c.message)}</div>`).join("")}</td>
      <td data-l="Restarts">${p.restarts}</td>
      <td data-l="Last exit code" class="exit">${p.lastExitCode == null ? "–" : `<span class="chip ${p.lastExitCode ? "bad" : ""}">${esc(p.lastExitCode)}</span>`}</td>
      <td data-l="Age">${age(p.created)}</td>
      <td><button class="small" data-log="${esc(p.name)}" type="button">log</button></td></tr>
      <tr class="logrow" data-logrow="${esc(p.name)}" ${S.logs.has(p.name) ? "" : "hidden"}><td colspan="7"><pre class="log"></pre></td></tr>`).join("")}
    </tbody></table>`;
  for (const b of box.querySelectorAll("button[data-log]")) {
    b.addEventListener("click", () => toggleLog(b.dataset.log));
  }
  for (const name of S.logs.keys()) loadLog(name);
}

function toggleLog(name) {
  const row = document.querySelector(`tr[data-logrow="${CSS.escape(name)}"]`);
  if (S.logs.has(name)) { S.logs.delete(name); row.hidden = true; return; }
  S.logs.set(name, true);
  row.hidden = false;
  loadLog(name);
}

async function loadLog(name) {
  const row = document.querySelector(`tr[data-logrow="${CSS.escape(name)}"]`);
  if (!row) return;
  const pre = row.querySelector("pre");
  try {
    const d = await getJSON(`/api/pods/${encodeURIComponent(S.route.namespace)}/${encodeURIComponent(name)}/log?tailLines=100`);
    pre.textContent = d.text || "(empty log)";
    pre.scrollTop = pre.scrollHeight;
  } catch (err) {
    pre.textContent = `(log unavailable: ${err.message})`;
  }
}

// ---- start ------------------------------------------------------------------------------------------------

$("#theme").addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  localStorage.setItem("sedna-theme", next);
  if (S.route.page === "object") { S.plots.forEach((p) => p.u.destroy()); S.plots.clear(); if (S.detail) renderDetail(S.detail); }
});
setInterval(() => document.querySelectorAll("td.age").forEach((td) => { td.textContent = age(td.dataset.ts); }), 30000);
window.addEventListener("hashchange", onRoute);

(async function start() {
  try {
    S.info = await getJSON("/api/info");
    $("#links").innerHTML = S.info.metricsLinks.map((l) => `<a href="${esc(l.url)}" target="_blank" rel="noopener">${esc(l.name)} metrics</a>`).join("");
    $("#foot").textContent = `sedna ${S.info.version} · read-only view of the cluster · ${S.info.historyNote}`;
  } catch (err) {
    $("#main").innerHTML = `<div class="empty">Cannot reach the dashboard API: ${esc(err.message)}</div>`;
  }
  onRoute();
  connect();
})();
