// fs gui: the page. Plain ES module, no build step; uPlot (vendor/) draws the graphs.
// Talks to the JSON API of fs_core/gui/app.py; the access token travels as the X-FS-Token header
// (and as ?token= where a header cannot be set: EventSource, <img>, download links).

import { compareTick, routeCompare } from "./compare.js";
import { attachPicker } from "./picker.js";
import { hideFaces, showFaces } from "./faces.js";
import { JOB_VIEWS, jobsRoute } from "./jobs.js";
import { markersPlugin, renderLiveSettings } from "./settings.js";
import { loadWorstFaces } from "./worst.js";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// ---------------------------------------------------------------- token and requests

const TOKEN_KEY = "fs-gui-token";

function takeTokenFromAddress() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token !== null) {
    sessionStorage.setItem(TOKEN_KEY, token);
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/** A URL for places that cannot send headers (EventSource, img, download links). */
function withToken(path) {
  const t = token();
  if (!t) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t);
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (token()) headers["X-FS-Token"] = token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, "Cannot reach the fs gui program. Is it still running?");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
    if (response.status === 403) showAccessProblem();
    throw new ApiError(response.status, message);
  }
  hideBanner("net");
  return data;
}

function modelPath(name, rest = "") {
  return `api/models/${encodeURIComponent(name)}${rest}`;
}

// ---------------------------------------------------------------- small helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fmt = {
  int(value) {
    return Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "–";
  },
  loss(value) {
    if (!Number.isFinite(value)) return "–";
    if (value !== 0 && Math.abs(value) < 0.001) return value.toExponential(2);
    return value.toFixed(4);
  },
  rate(value) {
    return Number.isFinite(value) ? value.toFixed(value >= 100 ? 0 : 1) : "–";
  },
  /** Decimal units, as fs prints them: 950 kB, 410 MB, 1.2 GB. */
  bytes(value) {
    if (!Number.isFinite(value)) return "–";
    for (const [unit, scale] of [["TB", 1e12], ["GB", 1e9], ["MB", 1e6], ["kB", 1e3]]) {
      if (value >= scale) {
        const v = value / scale;
        return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${unit}`;
      }
    }
    return `${Math.max(0, Math.round(value))} B`;
  },
  duration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return "–";
    seconds = Math.round(seconds);
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    if (d) return `${d} d ${h} h`;
    if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m) return `${m} min ${String(s).padStart(2, "0")} s`;
    return `${s} s`;
  },
  date(value) {
    const date = toDate(value);
    if (!date) return "";
    return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  },
  ago(value) {
    const date = toDate(value);
    if (!date) return "never";
    const seconds = (Date.now() - date.getTime()) / 1000;
    if (seconds < 0) return fmt.date(value);
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    if (seconds < 86400 * 7) return `${Math.floor(seconds / 86400)} days ago`;
    return fmt.date(value);
  },
};

function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

const STATE_LABEL = { training: "Training", stopped: "Stopped", failed: "Failed", new: "Not started" };
const STATE_HELP = {
  training: "Training is running now",
  stopped: "Not training. Use Resume to continue.",
  failed: "Training ended with an error",
  new: "This folder has no training yet",
};

function stateBadge(node, state) {
  node.className = `badge state-${state || "new"}`;
  node.textContent = STATE_LABEL[state] || state || "Unknown";
  node.title = STATE_HELP[state] || "";
}

function sparkline(values, width = 120, height = 32) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  const finite = (values || []).filter(Number.isFinite);
  if (finite.length < 2) {
    svg.setAttribute("aria-label", "No loss trend yet");
    return svg;
  }
  svg.setAttribute("aria-label", `Loss trend: from ${fmt.loss(finite[0])} to ${fmt.loss(finite[finite.length - 1])}`);
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const span = hi - lo || 1;
  const points = finite.map((v, i) => {
    const x = (i / (finite.length - 1)) * (width - 2) + 1;
    const y = height - 2 - ((v - lo) / span) * (height - 4);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.append(line);
  const title = document.createElementNS(ns, "title");
  title.textContent = "Loss over the whole training (lower is better)";
  svg.append(title);
  return svg;
}

// ---------------------------------------------------------------- banner

const banners = new Map();

function showBanner(key, html) {
  banners.set(key, html);
  renderBanner();
}

function hideBanner(key) {
  if (banners.delete(key)) renderBanner();
}

function renderBanner() {
  const node = $("#banner");
  const texts = Array.from(banners.values());
  node.hidden = texts.length === 0;
  node.innerHTML = texts.join("<br>");
}

function showAccessProblem() {
  showBanner("token", "This page has no valid access key, so it cannot change anything. " +
    "Open the full address that <code>fs gui</code> printed when it started (it ends with <code>?token=…</code>).");
}

function reportError(err, key = "net") {
  if (err instanceof ApiError && err.status === 0) showBanner(key, err.message);
  else console.error(err);
}

// ---------------------------------------------------------------- app state

const app = {
  info: null,
  models: [],
  view: null,
  listTimer: null,
  model: null, // the open model view (see ModelView)
};

async function loadInfo() {
  try {
    app.info = await api("api/info");
  } catch (err) {
    reportError(err);
    return;
  }
  $("#root-label").textContent = app.info.root || "";
  for (const node of $$(".root-name")) node.textContent = app.info.root || "the root folder";
  fillSelect($("#f-model"), app.info.models_available || [], app.info.models_available?.includes("original") ? "original" : null);
  const presets = $("#f-preset");
  presets.replaceChildren(el("option", { value: "" }, "None"), ...(app.info.presets || []).map((p) => el("option", { value: p }, p)));
}

function fillSelect(select, values, selected) {
  const current = select.value;
  select.replaceChildren(...values.map((v) => el("option", { value: v }, v)));
  if (values.includes(current)) select.value = current;
  else if (selected) select.value = selected;
}

// ---------------------------------------------------------------- router

function route() {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [pathPart, queryPart] = hash.split("?");
  const parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  let view = "models";
  if (parts[0] === "new") view = "new";
  else if (parts[0] === "model" && parts[1]) view = "model";
  else if (parts[0] === "compare") view = "compare";
  else if (parts.length) view = JOB_VIEWS.includes(parts[0]) ? parts[0] : "missing";

  for (const section of $$(".view")) section.hidden = section.id !== `view-${view}`;
  $("#nav-models").classList.toggle("current", view === "models" || view === "model");
  $("#nav-new").classList.toggle("current", view === "new");
  $("#nav-compare").classList.toggle("current", view === "compare");
  routeCompare(view === "compare" ? queryPart || "" : null);

  if (view !== "model" && app.model) {
    app.model.close();
    app.model = null;
  }
  if (app.listTimer) {
    clearInterval(app.listTimer);
    app.listTimer = null;
  }
  if (view === "models") {
    document.title = "Models · fs";
    refreshModels();
    app.listTimer = setInterval(refreshModels, 2000);
  } else if (view === "model") {
    const name = parts[1];
    const tab = parts[2] || "preview";
    document.title = `${name} · fs`;
    if (!app.model || app.model.name !== name) {
      if (app.model) app.model.close();
      app.model = new ModelView(name);
    }
    app.model.showTab(tab);
  } else if (view === "new") {
    document.title = "New training · fs";
    newForm.open(new URLSearchParams(queryPart || ""));
  }
  jobsRoute(view, parts, new URLSearchParams(queryPart || ""));
  app.view = view;
}

// ---------------------------------------------------------------- models list

async function refreshModels() {
  let data;
  try {
    data = await api("api/models");
  } catch (err) {
    reportError(err);
    return;
  }
  app.models = data.models || [];
  renderModels(app.models);
  $("#f-model-names").replaceChildren(...app.models.map((m) => el("option", { value: m.name })));
}

function renderModels(models) {
  $("#models-loading").hidden = true;
  $("#models-empty").hidden = models.length > 0;
  const list = $("#model-list");
  const existing = new Map($$("[data-model]", list).map((node) => [node.dataset.model, node]));
  const seen = new Set();
  let previous = null;
  for (const model of models) {
    seen.add(model.name);
    let card = existing.get(model.name);
    if (!card) card = buildCard(model.name);
    updateCard(card, model);
    if (previous ? previous.nextSibling !== card : list.firstChild !== card) {
      if (previous) previous.after(card);
      else list.prepend(card);
    }
    previous = card;
  }
  for (const [name, node] of existing) if (!seen.has(name)) node.remove();
}

function buildCard(name) {
  const href = `#/model/${encodeURIComponent(name)}`;
  const stat = (field, label, help) => el("div", {},
    el("dt", { class: "tip", title: help }, label), el("dd", { "data-field": field }, "–"));
  return el("article", { class: "card", "data-model": name },
    el("div", { class: "card-top" },
      el("h2", {}, el("a", { href, class: "card-link" }, name)),
      compareTick(name),
      el("span", { class: "badge", "data-role": "state" })),
    el("p", { class: "card-sub", "data-role": "sub" }),
    el("p", { class: "error-line", "data-role": "error", hidden: true }),
    el("dl", { class: "nums" },
      stat("iterations", "Iterations", "Training steps done so far, over all sessions"),
      stat("loss-a", "Loss A", "How different the model's face A is from the real one. Lower is better."),
      stat("loss-b", "Loss B", "How different the model's face B is from the real one. Lower is better."),
      stat("examples-per-second", "Faces / s", "Face pictures processed per second while training")),
    el("div", { class: "card-bottom" },
      el("span", { class: "muted small", "data-role": "saved" }),
      el("span", { "data-role": "spark" })));
}

function updateCard(card, model) {
  const status = model.status || {};
  const set = (field, text) => {
    const node = card.querySelector(`[data-field="${field}"]`);
    if (node.textContent !== text) node.textContent = text;
  };
  set("iterations", fmt.int(model.iterations));
  set("loss-a", fmt.loss(status.loss_a));
  set("loss-b", fmt.loss(status.loss_b));
  set("examples-per-second", model.state === "training" ? fmt.rate(status.examples_per_second) : "–");
  stateBadge(card.querySelector('[data-role="state"]'), model.state);
  card.classList.toggle("is-training", model.state === "training");
  card.classList.toggle("is-failed", model.state === "failed");
  card.querySelector('[data-role="sub"]').textContent = model.model ? `Model type: ${model.model}` : "Model type: not known yet";
  const error = card.querySelector('[data-role="error"]');
  error.hidden = !model.error;
  error.textContent = model.error ? model.error : "";
  error.title = model.error || "";
  const saved = card.querySelector('[data-role="saved"]');
  saved.textContent = `Last saved: ${fmt.ago(model.last_save)}`;
  saved.title = model.last_save ? fmt.date(model.last_save) : "";
  const trendKey = JSON.stringify(model.trend || []);
  const spark = card.querySelector('[data-role="spark"]');
  if (spark.dataset.key !== trendKey) {
    spark.dataset.key = trendKey;
    spark.replaceChildren(sparkline(model.trend));
  }
}

// ---------------------------------------------------------------- charts

const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#475569", "#ea580c"];
const TERM_LABEL = { loss_a: "Loss A", loss_b: "Loss B" };

function termLabel(term) {
  if (TERM_LABEL[term]) return TERM_LABEL[term];
  const side = term.match(/^([ab])\/(.*)$/);
  if (side) return `${side[1].toUpperCase()}: ${side[2].replace(/_/g, " ")}`;
  return term.replace(/_/g, " ");
}

/** Lines shown at first: the two totals; the other terms are one click away in the legend. */
function shownByDefault(term) {
  return term === "loss_a" || term === "loss_b";
}

/** Exponential moving average, debiased as TensorBoard does (a smooth start). */
function ema(values, weight) {
  if (!weight) return values.slice();
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n += 1;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

/** uPlot data and series for a loss_series answer. */
function chartData(series, { smoothing = 0, mode = "smoothed", log = false, terms = null, shown = {} } = {}) {
  const xs = series.iterations || [];
  const data = [xs];
  const uSeries = [{ label: "Iteration", value: (u, v) => (v == null ? "–" : fmt.int(v)) }];
  const clean = (arr) => (log ? arr.map((v) => (Number.isFinite(v) && v > 0 ? v : null)) : arr.map((v) => (Number.isFinite(v) ? v : null)));
  const names = Object.keys(series.terms || {}).filter((t) => !terms || terms.includes(t));
  names.forEach((term, i) => {
    const color = PALETTE[i % PALETTE.length];
    const raw = series.terms[term];
    if (mode === "raw" || mode === "both") {
      const label = mode === "both" ? `${termLabel(term)} (raw)` : termLabel(term);
      data.push(clean(raw));
      uSeries.push({
        label, stroke: mode === "both" ? color + "55" : color, width: 1, spanGaps: true, points: { show: false },
        show: shown[label] ?? shownByDefault(term), value: (u, v) => fmt.loss(v),
      });
    }
    if (mode === "smoothed" || mode === "both") {
      const label = termLabel(term);
      data.push(clean(ema(raw, smoothing)));
      uSeries.push({ label, stroke: color, width: 2, spanGaps: true, points: { show: false }, show: shown[label] ?? shownByDefault(term),
        value: (u, v) => fmt.loss(v) });
    }
  });
  return { data, series: uSeries, log, markers: series.markers || [] };
}

function makeChart(target, built, height = 340, shown = null) {
  const width = Math.max(320, target.clientWidth || 800);
  const opts = {
    hooks: shown ? {
      // remember which lines the user hid or showed (legend clicks), across redraws
      setSeries: [(u, index) => { if (index) shown[u.series[index].label] = u.series[index].show; }],
    } : {},
    width, height,
    scales: { x: { time: false }, y: built.log ? { distr: 3 } : {} },
    axes: [
      { label: "Iterations", incrs: INTEGER_STEPS, values: (u, ticks) => ticks.map(compactNumber) },
      { label: "Loss", size: 64, values: (u, ticks) => ticks.map((v) => (v == null ? "" : shortLoss(v))) },
    ],
    series: built.series,
    cursor: { drag: { x: true, y: false } },
    legend: { live: true },
    plugins: [markersPlugin(built.markers || [])],
  };
  target.replaceChildren();
  return new uPlot(opts, built.data, target);
}

const INTEGER_STEPS = [1, 2, 5].flatMap((m) => Array.from({ length: 13 }, (_, e) => m * 10 ** e)).sort((a, b) => a - b);

function compactNumber(v) {
  if (v == null) return "";
  if (Math.abs(v) >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (Math.abs(v) >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  return v.toLocaleString("en-US");
}

function shortLoss(v) {
  if (v === 0) return "0";
  if (Math.abs(v) < 0.001 || Math.abs(v) >= 1000) return v.toExponential(1);
  return +v.toPrecision(3) + "";
}

// ---------------------------------------------------------------- one model

class ModelView {
  constructor(name) {
    this.name = name;
    this.detail = null;
    this.tab = "preview";
    this.source = null;
    this.timers = [];
    this.closed = false;
    this.previews = [];
    this.previewIndex = -1;
    this.followNewest = true;
    this.chart = null;
    this.chartKey = "";
    this.shown = {};
    this.series = null;
    this.graphLoading = false;
    this.lastGraphFetch = 0;
    this.sessionChart = null;
    this.pendingStatus = null;
    this.lastStatusRender = 0;
    this.statusTimer = null;
    this.messages = [];

    $("#m-name").textContent = name;
    $("#m-sub").textContent = "Loading…";
    $("#m-error").hidden = true;
    $("#m-action-msg").textContent = "";
    for (const node of $$("[data-live]")) node.textContent = "–";
    $("#m-progress").style.width = "0";
    $("#m-disk").hidden = true;
    $("#gr-chart").replaceChildren();
    $("#an-chart").replaceChildren();
    $("#an-graph-title").hidden = true;
    $("#msg-body").replaceChildren();
    $("#msg-log").textContent = "";
    $("#st-options").replaceChildren();
    $("#pv-image").hidden = true;
    $("#pv-timeline").hidden = true;
    $("#pv-download").hidden = true;
    $("#gr-session").replaceChildren(el("option", { value: "" }, "All sessions"));
    for (const tab of $$("[role=tab]")) tab.onclick = () => { window.location.hash = `#/model/${encodeURIComponent(name)}/${tab.dataset.tab}`; };
    $("#st-retrain").href = `#/new?model=${encodeURIComponent(name)}`;
    $("#an-csv").href = withToken(modelPath(name, "/analysis.csv"));
    $("#an-csv").setAttribute("download", `${name}_sessions.csv`);

    this.refresh();
    this.openStream();
    this.timers.push(setInterval(() => this.refresh(), 5000));
    this.timers.push(setInterval(() => {
      if (this.tab === "graph" && this.isTraining() && Date.now() - this.lastGraphFetch > 9500) this.loadGraph();
    }, 1000));
    this.onResize = () => this.resizeCharts();
    window.addEventListener("resize", this.onResize);
  }

  close() {
    this.closed = true;
    hideFaces();
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.statusTimer);
    if (this.source) this.source.close();
    window.removeEventListener("resize", this.onResize);
    if (this.chart) this.chart.destroy();
    if (this.sessionChart) this.sessionChart.destroy();
  }

  isTraining() {
    return this.detail && this.detail.state === "training";
  }

  showTab(tab) {
    if (!["preview", "graph", "analysis", "messages", "settings", "faces"].includes(tab)) tab = "preview";
    this.tab = tab;
    for (const node of $$("[role=tab]")) {
      const on = node.dataset.tab === tab;
      node.setAttribute("aria-selected", on ? "true" : "false");
      node.tabIndex = on ? 0 : -1;
    }
    for (const panel of $$("[role=tabpanel]")) panel.hidden = panel.id !== `panel-${tab}`;
    if (tab === "graph") this.loadGraph();
    if (tab === "settings") this.loadSettings();
    if (tab === "analysis" && this.sessionChart) this.resizeCharts();
    if (tab === "faces") showFaces(this.name, api); else hideFaces();
    if (tab === "analysis") loadWorstFaces(this.name, { api, withToken, el, fmt, modelPath });
  }

  async refresh() {
    let detail;
    try {
      detail = await api(modelPath(this.name));
    } catch (err) {
      if (this.closed) return;
      if (err.status === 404) {
        $("#m-sub").textContent = "Waiting for this model folder to appear…";
        stateBadge($("#m-state"), "new");
      } else if (err.status === 400) { // a name the server refuses (a link out of the root)
        $("#m-sub").textContent = "";
        stateBadge($("#m-state"), "failed");
        $("#m-error").hidden = false;
        $("#m-error").textContent = err.message;
      } else {
        reportError(err);
      }
      return;
    }
    if (this.closed) return;
    const wasTraining = this.isTraining();
    this.detail = detail;
    this.renderHead();
    if (detail.status && (!this.gotStream || !this.isTraining())) this.renderStatus({ ...detail.status, state: detail.state });
    this.renderPreviews(detail.previews || []);
    this.renderSessions(detail.sessions || []);
    this.renderRecipe(detail.recipe || null);
    this.renderMessages(detail.messages || [], detail.log_tail || []);
    if (wasTraining && !this.isTraining() && this.tab === "graph") this.loadGraph();
  }

  renderHead() {
    const d = this.detail;
    stateBadge($("#m-state"), d.state);
    const parts = [];
    parts.push(d.model ? `Model type: ${d.model}` : "Model type: not known yet");
    parts.push(`Last saved: ${fmt.ago(d.last_save)}`);
    if (d.session) parts.push(`Session ${d.session}`);
    if (d.target) parts.push(`Training to ${fmt.int(d.target)} iterations this session`);
    if (d.recipe && d.recipe.stage) parts.push(`Schedule stage ${d.recipe.stage.stage}`);
    $("#m-sub").textContent = parts.join(" · ");
    const error = $("#m-error");
    error.hidden = !(d.error && d.state === "failed");
    error.textContent = d.error ? `What went wrong: ${d.error}` : "";
    const training = d.state === "training";
    $("#btn-stop").hidden = !training;
    $("#btn-save").hidden = !training;
    $("#btn-snapshot").hidden = !training;
    $("#pv-request").hidden = !training;
    $("#btn-resume").hidden = training || d.state === "new";
    $("#btn-restore").hidden = training || d.state === "new";
    $("#m-live-note").textContent = training ? "" : (d.state === "new" ? "This model has not trained yet." : "Not training now: the numbers are from the last time it trained.");
  }

  // ---- live status

  openStream() {
    if (typeof EventSource === "undefined") return;
    const source = new EventSource(withToken(modelPath(this.name, "/stream")));
    this.source = source;
    source.addEventListener("status", (e) => {
      const status = safeJson(e.data);
      if (!status) return;
      this.gotStream = true;
      // a status without numbers (no progress yet) only tells the state
      if (status.iteration !== undefined && status.iteration !== null) this.queueStatus(status);
      if (this.detail && status.state && status.state !== this.detail.state) this.refresh();
    });
    source.addEventListener("save", () => {
      this.refresh();
      if (this.tab === "analysis") loadWorstFaces(this.name, { api, withToken, el, fmt, modelPath });
      if (this.tab === "graph") this.loadGraph();
    });
    source.addEventListener("preview", () => this.refresh());
    source.addEventListener("message", (e) => {
      const message = safeJson(e.data);
      if (message) this.addMessage(message);
    });
    source.addEventListener("end", () => {
      this.refresh();
      if (this.tab === "graph") this.loadGraph();
    });
    source.onopen = () => { $("#m-live-note").classList.remove("warn"); };
    source.onerror = () => {
      if (this.closed) return;
      if (this.isTraining()) {
        $("#m-live-note").textContent = "Live updates interrupted — reconnecting…";
        $("#m-live-note").classList.add("warn");
      }
    };
  }

  /** At most four redraws a second, whatever the server sends. */
  queueStatus(status) {
    this.pendingStatus = status;
    if (this.statusTimer) return;
    const wait = Math.max(0, 250 - (Date.now() - this.lastStatusRender));
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      this.lastStatusRender = Date.now();
      if (!this.closed && this.pendingStatus) this.renderStatus(this.pendingStatus);
      this.pendingStatus = null;
    }, wait);
  }

  renderStatus(status) {
    const set = (key, text) => {
      const node = $(`[data-live="${key}"]`);
      if (node.textContent !== text) node.textContent = text;
    };
    set("elapsed", fmt.duration(status.elapsed));
    set("session-iterations", fmt.int(status.session_iterations));
    set("iterations", fmt.int(status.iteration));
    set("loss-a", fmt.loss(status.loss_a));
    set("loss-b", fmt.loss(status.loss_b));
    const training = (status.state || (this.detail && this.detail.state)) === "training";
    set("examples-per-second", training ? fmt.rate(status.examples_per_second) : "–");
    const target = this.detail && this.detail.target;
    let eta = status.eta_seconds;
    if (!Number.isFinite(eta) && training && target && status.elapsed > 0 && status.session_iterations > 0) {
      eta = ((target - status.session_iterations) * status.elapsed) / status.session_iterations;
    }
    set("eta", training ? fmt.duration(eta) : "–");
    // the trainer adds disk_free to its progress only while the model's disk is low
    const disk = $("#m-disk");
    const low = training && Number.isFinite(status.disk_free);
    if (disk.hidden !== !low) disk.hidden = !low;
    const diskText = low
      ? `Low disk space: ${fmt.bytes(status.disk_free)} free for this model. Snapshots and backups are skipped while they do not fit; training stops before a save that cannot fit. Free some space, or keep fewer snapshots (snapshot_keep) and backups (backup_keep).`
      : "";
    if (disk.textContent !== diskText) disk.textContent = diskText;
    const bar = $("#m-progress");
    if (target && Number.isFinite(status.session_iterations)) {
      bar.style.width = `${Math.min(100, (100 * status.session_iterations) / target).toFixed(1)}%`;
    }
  }

  // ---- preview

  renderPreviews(previews) {
    const changed = previews.length !== this.previews.length ||
      (previews.length && previews[previews.length - 1].iteration !== this.previews[this.previews.length - 1].iteration);
    this.previews = previews;
    const slider = $("#pv-slider");
    $("#pv-timeline").hidden = previews.length < 2;
    $("#pv-empty").hidden = previews.length > 0;
    $("#pv-image").hidden = previews.length === 0;
    $("#pv-download").hidden = previews.length === 0;
    if (!previews.length) return;
    slider.max = String(previews.length - 1);
    if (this.followNewest || this.previewIndex >= previews.length || this.previewIndex < 0) this.previewIndex = previews.length - 1;
    slider.value = String(this.previewIndex);
    if (changed || !$("#pv-image").src) this.showPreview();
  }

  showPreview() {
    const entry = this.previews[this.previewIndex];
    if (!entry) return;
    const masked = $("#pv-mask").checked;
    const rel = (masked ? entry.mask : entry.plain) || entry.mask || entry.plain;
    const url = withToken(modelPath(this.name, `/files/${rel.split("/").map(encodeURIComponent).join("/")}`));
    const img = $("#pv-image");
    if (img.getAttribute("src") !== url) img.src = url;
    img.alt = `Preview at iteration ${fmt.int(entry.iteration)}${masked ? ", with the mask shown" : ""}`;
    const when = entry.time ? ` · ${fmt.date(entry.time)}` : "";
    const newest = this.previewIndex === this.previews.length - 1 ? " (newest)" : "";
    $("#pv-caption").textContent = `Iteration ${fmt.int(entry.iteration)}${when}${newest} — ${this.previewIndex + 1} of ${this.previews.length}`;
    $("#pv-slider").setAttribute("aria-valuetext", `Iteration ${fmt.int(entry.iteration)}`);
    const link = $("#pv-download");
    link.href = url;
    link.setAttribute("download", `${this.name}_${String(entry.iteration).padStart(9, "0")}${masked ? "" : "_plain"}.png`);
  }

  // ---- graph

  graphOptions() {
    return {
      session: $("#gr-session").value,
      last: $("#gr-last").value,
      smoothing: Number($("#gr-smooth").value),
      mode: $("input[name=gr-mode]:checked").value,
      log: $("#gr-log").checked,
    };
  }

  async loadGraph() {
    if (this.graphLoading) return;
    this.graphLoading = true;
    this.lastGraphFetch = Date.now();
    const o = this.graphOptions();
    const q = new URLSearchParams({ max_points: "2000" });
    if (o.session) q.set("session", o.session);
    if (o.last) q.set("last", o.last);
    try {
      this.series = await api(modelPath(this.name, `/losses?${q}`));
    } catch (err) {
      reportError(err);
      return;
    } finally {
      this.graphLoading = false;
    }
    if (this.closed) return;
    this.updateSessionPicker(this.series.sessions || []);
    this.drawGraph();
  }

  updateSessionPicker(sessions) {
    const select = $("#gr-session");
    const current = select.value;
    const key = JSON.stringify(sessions.map((s) => s.id));
    if (select.dataset.key === key) return;
    select.dataset.key = key;
    select.replaceChildren(el("option", { value: "" }, "All sessions"),
      ...sessions.map((s) => el("option", { value: String(s.id) },
        `Session ${s.id} (iterations ${fmt.int(s.first_iteration)}–${fmt.int(s.last_iteration)})`)));
    select.value = sessions.some((s) => String(s.id) === current) ? current : "";
  }

  drawGraph() {
    const target = $("#gr-chart");
    const series = this.series;
    const empty = !series || !(series.iterations || []).length;
    $("#gr-empty").hidden = !empty;
    target.hidden = empty;
    if (empty) {
      if (this.chart) this.chart.destroy();
      this.chart = null;
      return;
    }
    const o = this.graphOptions();
    const built = chartData(series, { ...o, shown: this.shown });
    const key = JSON.stringify([built.series.map((s) => s.label), o.log]);
    if (this.chart && this.chartKey === key) {
      this.chart.setData(built.data);
    } else {
      if (this.chart) this.chart.destroy();
      this.chart = makeChart(target, built, 340, this.shown);
      this.chartKey = key;
    }
    queueMicrotask(() => { document.body.dataset.graphDrawnAt = performance.now(); }); // bench_gui
  }

  resizeCharts() {
    if (this.chart) this.chart.setSize({ width: Math.max(320, $("#gr-chart").clientWidth), height: 340 });
    if (this.sessionChart) this.sessionChart.setSize({ width: Math.max(320, $("#an-chart").clientWidth), height: 260 });
  }

  // ---- analysis

  renderSessions(sessions) {
    const key = JSON.stringify(sessions);
    const body = $("#an-table tbody");
    if (body.dataset.key === key) return;
    body.dataset.key = key;
    $("#an-empty").hidden = sessions.length > 0;
    $("#an-table").hidden = sessions.length === 0;
    body.replaceChildren(...sessions.map((s) => el("tr", { "data-session": s.id },
      el("td", {}, String(s.id)),
      el("td", {}, fmt.date(s.start) || "–"),
      el("td", {}, fmt.date(s.end) || "–"),
      el("td", {}, s.elapsed || "–"),
      el("td", { class: "num" }, s.batch_size === "" || s.batch_size == null ? "–" : String(s.batch_size)),
      el("td", { class: "num" }, fmt.int(Number(s.iterations))),
      el("td", { class: "num" }, s.examples_per_second === "" || s.examples_per_second == null ? "–" : fmt.rate(Number(s.examples_per_second))),
      el("td", {}, el("button", { type: "button", class: "small", onclick: () => this.showSessionGraph(s.id) }, "Show graph")))));
  }

  // the schedule stage, the held-out curve and the collapse guard's actions (docs/recipes.md)
  renderRecipe(recipe) {
    const box = $("#an-recipe");
    const key = JSON.stringify(recipe);
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    box.hidden = !recipe;
    if (!recipe) return;
    const items = [];
    if (recipe.stage) {
      const file = String(recipe.stage.file || "").split("/").pop();
      items.push(`Schedule: stage ${recipe.stage.stage} (began at iteration ${fmt.int(recipe.stage.at)}) of ${file}`);
    }
    if (recipe.pretrained) {
      items.push(`Started from the pretrained model ${recipe.pretrained.from} (${fmt.int(recipe.pretrained.iterations)} iterations)`);
    }
    const held = recipe.holdout;
    if (held) {
      let text = `Held-out faces: ${held.count} per side, never trained on`;
      if (held.best != null) text += `; best held-out loss ${fmt.loss(held.best)} at iteration ${fmt.int(held.best_iteration)}`;
      if (held.verdict) text += `; ${held.verdict}`;
      items.push(text);
    }
    for (const g of recipe.guard || []) {
      items.push(`Collapse guard (session ${g.session}): ${g.cause} at iteration ${fmt.int(g.iteration)}, rolled back to ${fmt.int(g.restored_to)} (${g.from}), learning rate now ${Number(g.learning_rate).toExponential(2)}`);
    }
    $("#an-recipe-list").replaceChildren(...items.map((text) => el("li", {}, text)));
    const curve = $("#an-holdout");
    const points = held ? held.points || [] : [];
    if (points.length >= 2) {
      const spark = sparkline(points.map((p) => p[1]), 360, 60);
      spark.setAttribute("aria-label", `Held-out loss from iteration ${fmt.int(points[0][0])} to ${fmt.int(points[points.length - 1][0])}: ${fmt.loss(points[0][1])} to ${fmt.loss(points[points.length - 1][1])}`);
      curve.replaceChildren(el("p", { class: "hint" }, "Held-out loss (A + B) at each save:"), spark);
    } else {
      curve.replaceChildren();
    }
  }

  async showSessionGraph(id) {
    for (const row of $$("#an-table tbody tr")) row.classList.toggle("selected", row.dataset.session === String(id));
    const title = $("#an-graph-title");
    title.hidden = false;
    title.textContent = `Session ${id}: loss against iterations`;
    let series;
    try {
      series = await api(modelPath(this.name, `/losses?session=${encodeURIComponent(id)}&max_points=1000`));
    } catch (err) {
      reportError(err);
      return;
    }
    if (this.closed) return;
    const target = $("#an-chart");
    if (this.sessionChart) this.sessionChart.destroy();
    this.sessionChart = null;
    if (!(series.iterations || []).length) {
      target.replaceChildren(el("p", { class: "empty" }, "No losses recorded for this session."));
      return;
    }
    this.sessionChart = makeChart(target, chartData(series, { smoothing: Number($("#gr-smooth").value), mode: "smoothed" }), 260);
  }

  // ---- messages

  renderMessages(messages, logTail) {
    this.messages = messages.slice(-200);
    this.drawMessages();
    const log = $("#msg-log");
    const text = logTail.length ? logTail.join("\n") : "(nothing written yet)";
    if (log.textContent !== text) log.textContent = text;
  }

  addMessage(message) {
    this.messages.push(message);
    if (this.messages.length > 200) this.messages.shift();
    this.drawMessages();
  }

  drawMessages() {
    const key = this.messages.length + ":" + (this.messages.length ? this.messages[this.messages.length - 1].time + this.messages[this.messages.length - 1].text : "");
    const body = $("#msg-body");
    if (body.dataset.key === key) return;
    body.dataset.key = key;
    const wrap = $("#msg-wrap");
    const atBottom = wrap.scrollHeight - wrap.scrollTop - wrap.clientHeight < 30;
    $("#msg-empty").hidden = this.messages.length > 0;
    wrap.hidden = this.messages.length === 0;
    body.replaceChildren(...this.messages.map((m) => el("tr", { class: `level-${String(m.level || "INFO").toLowerCase()}` },
      el("td", { class: "when" }, m.time ? toDate(m.time).toLocaleTimeString() : ""),
      el("td", { class: "level" }, levelWord(m.level)),
      el("td", { class: "text" }, m.text || ""))));
    if (atBottom) wrap.scrollTop = wrap.scrollHeight;
  }

  // ---- settings

  async loadSettings() {
    const box = $("#st-options");
    if (box.dataset.loaded === this.name) return;
    if (!this.detail) {
      box.replaceChildren(el("p", { class: "muted" }, "Loading…"));
      setTimeout(() => this.tab === "settings" && !this.closed && this.loadSettings(), 500);
      return;
    }
    if (!this.detail.model) {
      box.replaceChildren(el("p", { class: "empty" }, "No settings yet: they are stored when the model is first saved."));
      return;
    }
    box.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    box.dataset.loaded = this.name;
    await renderLiveSettings(box, this.name, { api, el, modelPath });
  }

  // ---- buttons

  async command(kind, label) {
    const msg = $("#m-action-msg");
    msg.className = "action-msg";
    msg.textContent = `${label}…`;
    try {
      const answer = await api(modelPath(this.name, `/${kind}`), { method: "POST" });
      const text = {
        stop: "Stopping: the model is saved first, then training ends.",
        save: "Saving now.",
        snapshot: "Saving and making a snapshot now.",
        preview: "A new preview is being drawn; it appears here in a few seconds.",
        restore: (answer && answer.message) || "Restored the backup.",
        resume: "Training started again.",
      }[kind];
      msg.textContent = text;
      msg.classList.add("ok");
      setTimeout(() => this.refresh(), kind === "resume" ? 1500 : 600);
    } catch (err) {
      msg.textContent = `${label} did not work: ${err.message}`;
      msg.classList.add("bad");
    }
  }
}

function levelWord(level) {
  return { WARNING: "Warning", ERROR: "Error", CRITICAL: "Error", INFO: "Info", DEBUG: "Detail" }[level] || level || "";
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    return null;
  }
}

// ---------------------------------------------------------------- config options

function optionInput(section, option, readonly, disableLocked) {
  const id = `opt-${readonly ? "ro" : "ed"}-${section}-${option.name}`.replace(/[^A-Za-z0-9_-]/g, "_");
  const disabled = readonly || (option.locked && disableLocked);
  const value = option.value;
  let input;
  if (typeof value === "boolean" || typeof option.default === "boolean") {
    input = el("input", { type: "checkbox", id, disabled });
    input.checked = Boolean(value);
  } else if (Array.isArray(option.choices) && option.choices.length) {
    input = el("select", { id, disabled }, option.choices.map((c) => el("option", { value: JSON.stringify(c) }, String(c))));
    input.value = JSON.stringify(value);
  } else if (typeof value === "number" || typeof option.default === "number") {
    input = el("input", { type: "number", id, disabled, step: "any", min: option.min ?? null, max: option.max ?? null });
    input.value = value ?? "";
  } else if (Array.isArray(value) || (value && typeof value === "object")) {
    input = el("input", { type: "text", id, disabled, spellcheck: "false" });
    input.value = JSON.stringify(value);
    input.dataset.json = "1";
  } else {
    input = el("input", { type: "text", id, disabled, spellcheck: "false" });
    input.value = value ?? "";
  }
  input.dataset.section = section;
  input.dataset.option = option.name;
  input.dataset.original = JSON.stringify(value);
  const label = el("label", { for: id, class: "opt-name" }, option.name.replace(/_/g, " "));
  const lock = option.locked ? el("span", { class: "lock", title: "Fixed when a model is created: it cannot change afterwards" }, "locked") : null;
  const range = option.min != null || option.max != null ? ` (${option.min ?? "…"} to ${option.max ?? "…"})` : "";
  const help = el("p", { class: "opt-help" }, (option.help || "") + range);
  const row = el("div", { class: `opt${option.locked && disabled ? " locked" : ""}`, title: option.help || "" },
    el("div", { class: "opt-label" }, label, lock), input, help);
  return row;
}

function readOption(input) {
  if (input.type === "checkbox") return input.checked;
  if (input.tagName === "SELECT") return JSON.parse(input.value);
  if (input.type === "number") return input.value === "" ? null : Number(input.value);
  if (input.dataset.json) {
    try {
      return JSON.parse(input.value);
    } catch (err) {
      return input.value;
    }
  }
  return input.value;
}

/** The options of /api/config with a model's stored values (and its locked list) on top. */
function withStoredValues(sections, stored, locked) {
  const lockedSet = new Set(locked);
  const out = {};
  for (const [section, options] of Object.entries(sections)) {
    const values = stored[section] || {};
    out[section] = options.map((o) => ({
      ...o,
      value: Object.prototype.hasOwnProperty.call(values, o.name) ? values[o.name] : o.value,
      locked: o.locked || lockedSet.has(`${section}.${o.name}`),
    }));
  }
  return out;
}

function renderOptions(box, sections, { readonly = false, disableLocked = true } = {}) {
  const names = Object.keys(sections);
  if (!names.length) {
    box.replaceChildren(el("p", { class: "muted" }, "No settings to show."));
    return;
  }
  box.replaceChildren(...names.filter((section) => sections[section].length).map((section) => el("fieldset", { class: "opt-section" },
    el("legend", {}, `[${section}]`),
    sections[section].map((option) => optionInput(section, option, readonly, disableLocked)))));
}

function tomlValue(value) {
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(value).replace(/^(-?\d+)e/, "$1.0e");
  if (Array.isArray(value)) return `[${value.map(tomlValue).join(", ")}]`;
  return JSON.stringify(String(value));
}

function tomlKey(key) {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
}

function tomlSection(section) {
  return section.split(".").map(tomlKey).join(".");
}

// ---------------------------------------------------------------- new training form

const FIELDS = {
  faces_a: ["#f-faces-a", "Faces A folder"],
  faces_b: ["#f-faces-b", "Faces B folder"],
  model_dir: ["#f-model-dir", "Model folder"],
  model: ["#f-model", "Model type"],
  preset: ["#f-preset", "Preset"],
  batch_size: ["#f-batch", "Batch size"],
  iterations: ["#f-iterations", "Iterations"],
  save_interval: ["#f-save", "Save every"],
  snapshot_interval: ["#f-snapshot", "Snapshot every"],
  warmup: ["#f-warmup", "Warm-up"],
  config_toml: ["#f-config", "Settings text"],
};

const newForm = {
  config: null,
  configKey: null,
  full: "",

  init() {
    for (const id of ["#f-faces-a", "#f-faces-b"]) attachPicker($(id), { kind: "folder" });
    $("#train-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    $("#f-model").addEventListener("change", () => {
      $("#f-preset").value = ""; // a preset belongs to one model type
      if ($("#cfg-details").open) this.loadConfig();
    });
    $("#f-preset").addEventListener("change", () => this.loadConfig());
    $("#f-model-dir").addEventListener("change", () => this.modelDirChanged());
    $("#f-model-dir").addEventListener("input", () => this.modelDirNote());
    $("#cfg-options").addEventListener("change", () => this.writeToml());
    $("#cfg-options").addEventListener("input", () => this.writeToml());
    $("#cfg-full").addEventListener("click", () => {
      if (this.full) $("#f-config").value = this.full;
    });
    $("#cfg-details").addEventListener("toggle", () => {
      if ($("#cfg-details").open) this.loadConfig();
    });
  },

  existing(name) {
    return app.models.find((m) => m.name === name);
  },

  async open(params) {
    if (!app.models.length) await refreshModels();
    const model = params.get("model");
    if (model) {
      $("#f-model-dir").value = model;
      this.modelDirChanged();
      const found = this.existing(model);
      if (found && found.model) $("#f-model").value = found.model;
      $("#cfg-details").open = true;
    }
    this.modelDirNote();
  },

  modelDirNote() {
    const name = $("#f-model-dir").value.trim();
    const found = this.existing(name);
    const note = $("#f-model-note");
    note.hidden = !found;
    if (found) {
      note.textContent = found.state === "training"
        ? `"${name}" is training right now: stop it first, or pick another name.`
        : `"${name}" already holds a model (${found.model || "unknown type"}, ${fmt.int(found.iterations)} iterations): training continues it.`;
    }
  },

  modelDirChanged() {
    this.modelDirNote();
    const found = this.existing($("#f-model-dir").value.trim());
    if (found && found.model && Array.from($("#f-model").options).some((o) => o.value === found.model)) $("#f-model").value = found.model;
    if ($("#cfg-details").open) this.loadConfig();
  },

  async loadConfig() {
    const dir = $("#f-model-dir").value.trim();
    const existing = this.existing(dir);
    const preset = $("#f-preset").value;
    const q = new URLSearchParams();
    // a preset brings its own model type; an existing model keeps its own
    if (preset) q.set("preset", preset);
    else q.set("model", (existing && existing.model) || $("#f-model").value);
    const key = `${q}|${existing ? dir : ""}`;
    if (this.configKey === key && this.config) return;
    this.configKey = key;
    $("#cfg-status").textContent = "Loading the settings…";
    let config;
    let stored = null;
    try {
      config = await api(`api/config?${q}`);
      if (existing && existing.model) stored = await api(modelPath(dir));
    } catch (err) {
      if (this.configKey !== key) return;
      $("#cfg-status").textContent = `Could not load the settings: ${err.message}`;
      $("#cfg-options").replaceChildren();
      this.configKey = null;
      this.config = null;
      return;
    }
    if (this.configKey !== key) return;
    this.config = config;
    this.full = config.toml || "";
    let sections = config.sections || {};
    if (stored) sections = withStoredValues(sections, stored.config || {}, stored.locked || []);
    const owner = Object.keys(sections).find((name) => name.startsWith("model."));
    if (preset && owner) {
      const arch = owner.slice("model.".length);
      if (Array.from($("#f-model").options).some((o) => o.value === arch)) $("#f-model").value = arch;
    }
    renderOptions($("#cfg-options"), sections, { disableLocked: Boolean(stored) });
    this.writeToml();
    const locked = Object.values(sections).flat().filter((o) => o.locked).length;
    $("#cfg-status").textContent = stored
      ? `This model exists already: its ${locked} locked settings cannot change and are greyed out.`
      : (locked ? `${locked} settings are locked once the model is created: choose them now.` : "");
  },

  writeToml() {
    const changed = new Map();
    for (const input of $$("#cfg-options [data-option]")) {
      if (input.disabled) continue;
      const value = readOption(input);
      if (value === null || JSON.stringify(value) === input.dataset.original) continue;
      if (!changed.has(input.dataset.section)) changed.set(input.dataset.section, []);
      changed.get(input.dataset.section).push(`${tomlKey(input.dataset.option)} = ${tomlValue(value)}`);
    }
    const lines = ["# settings changed in the page (everything else keeps its value)"];
    for (const [section, rows] of changed) lines.push("", `[${tomlSection(section)}]`, ...rows);
    $("#f-config").value = changed.size ? lines.join("\n") + "\n" : "";
  },

  values() {
    const text = (id) => $(id).value.trim();
    const number = (id) => {
      const raw = $(id).value.trim();
      return raw === "" ? null : Number(raw);
    };
    return {
      faces_a: text("#f-faces-a"),
      faces_b: text("#f-faces-b"),
      model_dir: text("#f-model-dir"),
      model: $("#f-model").value,
      batch_size: number("#f-batch"),
      iterations: number("#f-iterations"),
      save_interval: number("#f-save"),
      snapshot_interval: number("#f-snapshot") ?? 0,
      config_toml: $("#f-config").value.trim() ? $("#f-config").value : null,
      preset: $("#f-preset").value || null,
      no_warp: $("#f-no-warp").checked,
      no_flip: $("#f-no-flip").checked,
      no_color: $("#f-no-color").checked,
      warp_to_landmarks: $("#f-warp-landmarks").checked,
      warmup: number("#f-warmup") ?? 0,
      lr_finder: $("#f-lr-finder").checked,
    };
  },

  check(v) {
    const missing = [];
    if (!v.faces_a) missing.push("Faces A folder");
    if (!v.faces_b) missing.push("Faces B folder");
    if (!v.model_dir) missing.push("Model folder");
    if (!v.model) missing.push("Model type");
    if (missing.length) return `Please fill in: ${missing.join(", ")}.`;
    const whole = [["Batch size", v.batch_size, 1], ["Iterations", v.iterations, 1], ["Save every", v.save_interval, 1],
      ["Snapshot every", v.snapshot_interval, 0], ["Warm-up", v.warmup, 0]];
    for (const [label, value, min] of whole) {
      if (!Number.isInteger(value) || value < min) return `${label} must be a whole number of ${min} or more.`;
    }
    return null;
  },

  showError(text) {
    const box = $("#form-error");
    for (const node of $$("#train-form [aria-invalid]")) node.removeAttribute("aria-invalid");
    box.hidden = !text;
    if (!text) {
      box.textContent = "";
      return;
    }
    // the server names a field by its key ("faces_a: ..."): show the label the form uses
    const match = text.match(/^([a-z_]+)([: ].*)$/);
    const field = match && FIELDS[match[1]];
    if (field) {
      text = field[1] + match[2];
      $(field[0]).setAttribute("aria-invalid", "true");
    }
    box.textContent = `Training was not started: ${text}`;
    box.scrollIntoView({ block: "nearest" });
  },

  async submit() {
    const values = this.values();
    const problem = this.check(values);
    if (problem) {
      this.showError(problem);
      return;
    }
    this.showError("");
    const button = $("#btn-start");
    button.disabled = true;
    button.textContent = "Starting…";
    try {
      const answer = await api("api/train", { method: "POST", body: values });
      window.location.hash = `#/model/${encodeURIComponent(answer.model || values.model_dir)}`;
      refreshModels();
    } catch (err) {
      this.showError(err.message);
    } finally {
      button.disabled = false;
      button.textContent = "Start";
    }
  },
};

// ---------------------------------------------------------------- wiring

function wireModelView() {
  const cmd = (kind, label) => () => app.model && app.model.command(kind, label);
  $("#btn-stop").addEventListener("click", cmd("stop", "Stop"));
  $("#btn-save").addEventListener("click", cmd("save", "Save now"));
  $("#btn-snapshot").addEventListener("click", cmd("snapshot", "Snapshot now"));
  $("#pv-request").addEventListener("click", cmd("preview", "New preview"));
  $("#btn-resume").addEventListener("click", cmd("resume", "Resume"));
  $("#btn-restore").addEventListener("click", () => {
    if (!app.model) return;
    if (!window.confirm("Replace the model with its backup from the previous save? The training done since that save is lost.")) return;
    app.model.command("restore", "Restore backup");
  });
  $("#pv-mask").addEventListener("change", () => app.model && app.model.showPreview());
  $("#pv-slider").addEventListener("input", (e) => {
    if (!app.model) return;
    app.model.previewIndex = Number(e.target.value);
    app.model.followNewest = app.model.previewIndex === app.model.previews.length - 1;
    app.model.showPreview();
  });
  const regraph = () => app.model && app.model.drawGraph();
  $("#gr-smooth").addEventListener("input", () => {
    $("#gr-smooth-val").value = Number($("#gr-smooth").value).toFixed(2);
    regraph();
  });
  for (const radio of $$("input[name=gr-mode]")) radio.addEventListener("change", regraph);
  $("#gr-log").addEventListener("change", regraph);
  $("#gr-session").addEventListener("change", () => app.model && app.model.loadGraph());
  $("#gr-last").addEventListener("change", () => app.model && app.model.loadGraph());
  // arrow keys move between tabs (the usual tab-list keyboard pattern)
  $(".tabs").addEventListener("keydown", (e) => {
    const tabs = $$("[role=tab]");
    const at = tabs.indexOf(document.activeElement);
    if (at < 0 || !["ArrowLeft", "ArrowRight"].includes(e.key)) return;
    const next = tabs[(at + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    next.focus();
    next.click();
  });
}

function start() {
  takeTokenFromAddress();
  wireModelView();
  newForm.init();
  window.addEventListener("hashchange", route);
  loadInfo().then(() => {
    if (app.view === "new" && $("#cfg-details").open) newForm.loadConfig();
  });
  route();
}

start();

// for the feature modules (compare.js, picker.js, jobs.js, faces.js, settings.js), which import them
// from here
export { $, $$, api, el, fmt, withToken, modelPath, reportError, ema, makeChart, PALETTE, stateBadge, readOption };
