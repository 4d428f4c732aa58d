"use strict";
// The dashboard: reads this API's own endpoints and its push channel (/stream).
// Every request goes through api(), which never throws: a failed or non-2xx answer is
// shown on the page, not logged to the console.

(function () {
  const REFRESH_MS = 15000;
  const KEY_STORE = "petrosa.apiKey";
  const state = {
    key: "",
    datasets: [],
    latest: new Map(),
    history: [],
    jobs: new Map(),
    chartDataset: "",
    source: null,
    timers: {},
  };
  const $ = (id) => document.getElementById(id);
  let chart = null;

  async function api(path) {
    const headers = state.key ? { "X-API-Key": state.key } : {};
    try {
      const response = await fetch(path, { headers });
      const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
      if (response.status === 401 || response.status === 403) {
        notice("This API needs a key with the read scope: enter it above.");
      }
      return { ok: response.ok, status: response.status, body };
    } catch (error) {
      notice("The API does not answer; retrying.");
      return { ok: false, status: 0, body: null };
    }
  }

  function notice(text) {
    const el = $("notice");
    el.textContent = text || "";
    el.hidden = !text;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else if (name.startsWith("data-")) node.setAttribute(name, value);
      else node[name] = value;
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function band(score) {
    if (score === null || score === undefined) return "";
    return score >= 90 ? "healthy" : score >= 70 ? "degraded" : "unhealthy";
  }

  function ago(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
    return `${Math.round(seconds / 86400)} d`;
  }

  function isoTime(ms) {
    return ms === null || ms === undefined ? "" : new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  // --- datasets table -------------------------------------------------------------------

  async function loadDatasets() {
    const answer = await api("/catalog/datasets");
    if (!answer.ok) return;
    notice("");
    state.datasets = answer.body.data;
    renderDatasets();
    fillChartChoices();
  }

  function renderDatasets() {
    const filter = $("filter").value.trim().toLowerCase();
    const rows = state.datasets
      .filter((d) => !filter || d.dataset_id.toLowerCase().includes(filter))
      .sort((a, b) => (score(a) ?? 101) - (score(b) ?? 101) || a.dataset_id.localeCompare(b.dataset_id));
    const body = $("datasets").tBodies[0];
    body.replaceChildren(...rows.map(datasetRow));
    $("dataset-count").textContent = `${rows.length} of ${state.datasets.length}`;
  }

  function score(d) {
    const latest = state.latest.get(d.dataset_id);
    return latest ? latest.score : d.health_score;
  }

  function datasetRow(d) {
    const latest = state.latest.get(d.dataset_id);
    const s = score(d);
    const completeness = latest ? `${(latest.completeness * 100).toFixed(1)} %` : "";
    const row = el(
      "tr",
      { "data-dataset": d.dataset_id, class: d.dataset_id === state.chartDataset ? "selected" : "" },
      el("td", {}, d.dataset_id),
      el("td", { class: "num" }, d.record_count.toLocaleString()),
      el("td", {}, isoTime(d.last_time)),
      el("td", { class: "num" }, ago(d.freshness_seconds)),
      el("td", { class: "num" }, s === null || s === undefined ? "—" : el("span", { class: `score ${band(s)}` }, s.toFixed(1))),
      el("td", { class: "num" }, completeness),
    );
    if (d.kind === "candles") row.addEventListener("click", () => chooseChart(d.dataset_id));
    return row;
  }

  async function loadSummary() {
    const answer = await api("/health/summary");
    const pill = $("overall");
    if (!answer.ok) {
      pill.textContent = "unknown";
      return;
    }
    const s = answer.body.data;
    pill.className = `pill ${s.status}`;
    pill.textContent = `${s.status} · ${s.total_datasets} datasets · ${s.open_findings} open findings`;
  }

  // --- health heatmap ---------------------------------------------------------------------

  async function loadHistory() {
    const answer = await api("/health/history?limit=48");
    if (!answer.ok) return;
    state.history = answer.body.data;
    for (const row of state.history) {
      const last = row.measurements[row.measurements.length - 1];
      if (last) state.latest.set(row.dataset_id, last);
    }
    renderHeatmap();
    renderDatasets();
  }

  const CELL = { label: 190, height: 14, gap: 1 };
  const SCORE_COLORS = { healthy: "#2ea043", degraded: "#d29922", unhealthy: "#e5534b" };

  function renderHeatmap() {
    const canvas = $("heatmap");
    const rows = state.history.filter((r) => r.measurements.length);
    $("heatmap-empty").hidden = rows.length > 0;
    canvas.hidden = rows.length === 0;
    canvas.dataset.rows = String(rows.length);
    if (!rows.length) return;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 1100;
    const height = rows.length * (CELL.height + CELL.gap) + 4;
    canvas.style.height = `${height}px`;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.font = "11px system-ui, sans-serif";
    const columns = Math.max(...rows.map((r) => r.measurements.length));
    // Cells of at most 22 px, right-aligned: the newest measurement is always at the edge.
    const cell = Math.min(22, Math.max(4, (width - CELL.label) / Math.max(columns, 1)));
    const origin = width - columns * cell;
    rows.forEach((row, i) => {
      const top = i * (CELL.height + CELL.gap);
      ctx.fillStyle = "#8593a3";
      ctx.fillText(row.dataset_id, 2, top + 11, CELL.label - 8);
      const shift = columns - row.measurements.length;
      row.measurements.forEach((m, j) => {
        ctx.fillStyle = SCORE_COLORS[m.band] || "#3b4450";
        ctx.fillRect(origin + (shift + j) * cell, top, Math.max(cell - 1, 1), CELL.height);
      });
    });
    canvas.onmousemove = (event) => {
      const rect = canvas.getBoundingClientRect();
      const row = rows[Math.floor((event.clientY - rect.top) / (CELL.height + CELL.gap))];
      if (!row) return;
      const shift = columns - row.measurements.length;
      const m = row.measurements[Math.floor((event.clientX - rect.left - origin) / cell) - shift];
      canvas.title = m ? `${row.dataset_id} ${isoTime(m.measured_time)}: ${m.score.toFixed(1)} (completeness ${(m.completeness * 100).toFixed(1)} %)` : row.dataset_id;
    };
  }

  // --- findings and jobs ------------------------------------------------------------------

  async function loadFindings() {
    const answer = await api("/health/findings?limit=100");
    if (!answer.ok) return;
    const findings = answer.body.data;
    $("findings-count").textContent = String(findings.length);
    $("findings").replaceChildren(
      ...(findings.length ? findings.map(findingItem) : [el("li", { class: "muted" }, "none open")]),
    );
  }

  function findingItem(f) {
    const range = f.range_start ? `${isoTime(f.range_start)} → ${isoTime(f.range_end)}` : "";
    return el(
      "li",
      { "data-dataset": f.dataset_id, "data-check": f.check },
      el("span", { class: `sev-${f.severity}` }, `${f.check} `),
      f.dataset_id,
      el("div", { class: "meta" }, `${f.severity} · ${range} · seen ${isoTime(f.last_seen_time)}`),
    );
  }

  async function loadJobs() {
    const answer = await api("/backfill/jobs?limit=20");
    if (!answer.ok) return;
    state.jobs = new Map(answer.body.data.map((j) => [j.id, jobView(j)]));
    renderJobs();
  }

  function jobView(j) {
    return {
      id: j.id ?? j.job_id, dataset: j.dataset_id, status: j.status, progress: j.progress,
      records: j.records_written, created: j.created_time,
    };
  }

  function renderJobs() {
    const jobs = [...state.jobs.values()].sort((a, b) => b.created - a.created).slice(0, 20);
    $("jobs").replaceChildren(
      ...(jobs.length ? jobs.map(jobItem) : [el("li", { class: "muted" }, "no backfill jobs")]),
    );
  }

  function jobItem(j) {
    const fill = el("div");
    fill.style.width = `${Math.min(100, j.progress)}%`; // CSSOM: allowed by the page's CSP
    return el(
      "li",
      { "data-job": j.id, "data-status": j.status },
      `${j.dataset} `,
      el("span", { class: "muted" }, `${j.status} · ${j.progress.toFixed(1)} % · ${j.records} records`),
      el("div", { class: "bar" }, fill),
    );
  }

  // --- live chart and push channel --------------------------------------------------------

  function fillChartChoices() {
    const select = $("chart-dataset");
    const candles = state.datasets.filter((d) => d.kind === "candles" && d.record_count > 0);
    const names = candles.map((d) => d.dataset_id);
    if (names.join() !== [...select.options].map((o) => o.value).join()) {
      select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    }
    if (!state.chartDataset && candles.length) {
      // The freshest dataset, the longest among equally fresh ones: the live market.
      const rank = (d) => [d.last_time || 0, d.record_count];
      const best = candles.reduce((a, b) => {
        const [ra, rb] = [rank(a), rank(b)];
        return rb[0] > ra[0] || (rb[0] === ra[0] && rb[1] > ra[1]) ? b : a;
      });
      chooseChart(best.dataset_id);
    }
    select.value = state.chartDataset;
  }

  async function chooseChart(datasetId) {
    state.chartDataset = datasetId;
    $("chart-dataset").value = datasetId;
    renderDatasets();
    const [, symbol, interval] = datasetId.split(":");
    const answer = await api(`/data/candles?pair=${symbol}&period=${interval}&order=desc&limit=240`);
    if (answer.ok) chart.set(answer.body.data.slice().reverse());
    $("chart-status").textContent = answer.ok ? "" : `cannot read candles (${answer.status})`;
    $("analytics-pair").textContent = `${symbol} ${interval}`;
    connect();
    loadAnalytics(symbol, interval);
  }

  function connect() {
    if (state.source) state.source.close();
    const topics = ["jobs", "findings", "health"];
    if (state.chartDataset) topics.unshift(state.chartDataset);
    let url = `/stream?datasets=${encodeURIComponent(topics.join(","))}`;
    if (state.key) url += `&api_key=${encodeURIComponent(state.key)}`;
    const source = new EventSource(url);
    state.source = source;
    const live = $("live");
    source.onopen = () => { live.className = "pill on"; live.textContent = "live"; };
    source.onerror = () => { live.className = "pill off"; live.textContent = "reconnecting"; };
    source.addEventListener("candles", (event) => {
      const candle = JSON.parse(event.data);
      if (`candles:${candle.symbol}:${candle.interval}` === state.chartDataset) chart.upsert(candle);
    });
    source.addEventListener("job", (event) => {
      const job = jobView(JSON.parse(event.data));
      state.jobs.set(job.id, job);
      renderJobs();
    });
    source.addEventListener("finding", () => later("findings", loadFindings, 500));
    source.addEventListener("health", (event) => {
      const h = JSON.parse(event.data);
      state.latest.set(h.dataset_id, h);
      later("history", loadHistory, 2000);
      later("summary", loadSummary, 2000);
    });
    source.addEventListener("reset", () => chooseChart(state.chartDataset));
    source.addEventListener("dropped", () => { source.close(); setTimeout(connect, 2000); });
  }

  function later(name, fn, ms) {
    if (state.timers[name]) return;
    state.timers[name] = setTimeout(() => { state.timers[name] = null; fn(); }, ms);
  }

  // --- analytics (the newest stored figures; /analysis/* computes on demand) ----------

  async function loadAnalytics(symbol, interval) {
    const box = $("analytics");
    const answer = await api(`/ui/api/analytics?dataset=${encodeURIComponent(`candles:${symbol}:${interval}`)}`);
    const figures = answer.ok ? answer.body.data : [];
    if (!figures.length) {
      box.replaceChildren(el("p", { class: "muted" }, "no analytics yet"));
      return;
    }
    box.replaceChildren(el("div", { class: "figures" }, ...figures.flatMap(figureCells)));
  }

  function figureCells(f) {
    const v = f.value;
    let shown = "—";
    if (typeof v === "number") shown = Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(4);
    else if (v && typeof v === "object") shown = Object.entries(v).filter(([, x]) => typeof x !== "object").slice(0, 3).map(([k, x]) => `${k} ${typeof x === "number" ? x.toPrecision(3) : x}`).join(", ");
    else if (typeof v === "string") shown = v;
    return [el("span", { class: "muted", title: `${f.method}, ${f.window} bars` }, f.family), el("span", {}, shown)];
  }

  // --- start ------------------------------------------------------------------------------

  async function refresh() {
    await Promise.all([loadSummary(), loadDatasets(), loadFindings(), loadJobs()]);
    await loadHistory();
  }

  function start() {
    chart = new window.CandleChart($("chart"));
    const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
    state.key = fromHash || sessionStorage.getItem(KEY_STORE) || "";
    $("key").value = state.key;
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      state.key = $("key").value.trim();
      sessionStorage.setItem(KEY_STORE, state.key);
      refresh().then(connect);
    });
    $("filter").addEventListener("input", renderDatasets);
    $("chart-dataset").addEventListener("change", (event) => chooseChart(event.target.value));
    refresh().then(() => { if (!state.source) connect(); });
    setInterval(refresh, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
