// fs gui: the Compare view (#/compare?models=a,b): several models' losses on one graph and their
// newest previews side by side, to answer "which of my models is better". The selection lives in
// the address so a comparison can be bookmarked; the model list's "Compare" ticks build it.
// Data: GET api/models/NAME/losses per model (as the Graph tab) and GET api/compare (the newest
// preview of each model and the loss recorded at that preview's iteration).

import { $, $$, api, el, fmt, withToken, modelPath, reportError, ema, makeChart, PALETTE, stateBadge } from "./app.js";

/** The Compare view's address for ``names`` (each name encoded, so a comma inside one survives). */
export function compareHash(names) {
  return `#/compare?models=${names.map(encodeURIComponent).join(",")}`;
}

/** The model names of the view's query text (``models=a,b``). */
function namesFrom(query) {
  const part = query.split("&").find((p) => p.startsWith("models="));
  if (!part) return [];
  const names = part.slice("models=".length).split(",").filter(Boolean).map((n) => {
    try {
      return decodeURIComponent(n);
    } catch (err) {
      return n;
    }
  });
  return Array.from(new Set(names));
}

// ---------------------------------------------------------------- ticks on the model list

const ticked = new Set(); // names ticked on the model cards (this tab only)

/** The "Compare" tick on a model's card. */
export function compareTick(name) {
  const box = el("input", { type: "checkbox", "data-compare": name, "aria-label": `Compare ${name}` });
  box.checked = ticked.has(name);
  box.addEventListener("change", () => {
    if (box.checked) ticked.add(name);
    else ticked.delete(name);
    updateBar();
  });
  queueMicrotask(updateBar); // once the list has placed the new card
  return el("label", { class: "cmp-tick", title: "Tick two or more models, then Compare" }, box, "Compare");
}

function updateBar() {
  const boxes = $$("[data-compare]");
  const listed = new Set(boxes.map((node) => node.dataset.compare));
  if (!listed.size) return; // the list is not drawn yet
  for (const name of Array.from(ticked)) if (!listed.has(name)) ticked.delete(name);
  for (const box of boxes) box.checked = ticked.has(box.dataset.compare);
  const names = Array.from(ticked);
  $("#cmp-bar").hidden = listed.size < 2;
  $("#cmp-bar-text").textContent = names.length
    ? `${names.length} ticked: ${names.join(", ")}`
    : "Tick Compare on two or more models to see them on one graph.";
  const go = $("#cmp-bar-go");
  go.href = compareHash(names);
  go.textContent = names.length >= 2 ? `Compare ${names.length} models` : "Compare";
  go.classList.toggle("disabled", names.length < 2);
  go.setAttribute("aria-disabled", names.length < 2 ? "true" : "false");
}

// ---------------------------------------------------------------- the view

const view = {
  names: [],
  series: new Map(), // name -> loss_series answer
  entries: [],
  chart: null,
  chartKey: "",
  shown: {},
  timer: null,
  token: 0, // the newest load; older answers are dropped
  wired: false,

  wire() {
    if (this.wired) return;
    this.wired = true;
    $("#cmp-smooth").addEventListener("input", () => {
      $("#cmp-smooth-val").value = Number($("#cmp-smooth").value).toFixed(2);
      this.draw();
    });
    $("#cmp-log").addEventListener("change", () => this.draw());
    $("#cmp-last").addEventListener("change", () => this.load());
    $("#cmp-pick-list").addEventListener("change", () => {
      const names = $$("#cmp-pick-list input:checked").map((node) => node.value);
      ticked.clear();
      for (const name of names) ticked.add(name);
      window.location.hash = compareHash(names);
    });
    window.addEventListener("resize", () => {
      if (this.chart) this.chart.setSize({ width: Math.max(320, $("#cmp-chart").clientWidth), height: 380 });
    });
  },

  open(query) {
    this.wire();
    const names = namesFrom(query);
    if (!names.length && ticked.size) {
      // the nav link, after ticking models in the list: show those
      window.location.replace(compareHash(Array.from(ticked)));
      return;
    }
    ticked.clear(); // the address is the selection; the list's ticks follow it
    for (const name of names) ticked.add(name);
    document.title = "Compare models · fs";
    const changed = names.join("\n") !== this.names.join("\n");
    this.names = names;
    if (changed) this.shown = {};
    this.load();
    this.pickList();
    clearInterval(this.timer);
    // while a compared model trains, its curve and preview move on
    this.timer = setInterval(() => {
      if (this.entries.some((e) => e.state === "training")) this.load();
    }, 10000);
  },

  close() {
    clearInterval(this.timer);
    this.timer = null;
    this.token += 1;
    if (this.chart) this.chart.destroy();
    this.chart = null;
    this.chartKey = "";
  },

  async pickList() {
    let models;
    try {
      models = (await api("api/models")).models || [];
    } catch (err) {
      reportError(err);
      return;
    }
    const known = new Set(models.map((m) => m.name));
    const names = [...models.map((m) => m.name), ...this.names.filter((n) => !known.has(n))];
    $("#cmp-pick-list").replaceChildren(...names.map((name) => {
      const box = el("input", { type: "checkbox", value: name });
      box.checked = this.names.includes(name);
      return el("label", { class: "check" }, box, name);
    }));
    if (!names.length) $("#cmp-pick-list").replaceChildren(el("span", { class: "muted" }, "No models in the root folder yet."));
  },

  async load() {
    const token = ++this.token;
    const names = this.names;
    if (!names.length) {
      this.entries = [];
      this.series = new Map();
      this.draw();
      this.drawPreviews();
      return;
    }
    const q = new URLSearchParams({ max_points: "2000" });
    if ($("#cmp-last").value) q.set("last", $("#cmp-last").value);
    const losses = names.map((name) => api(modelPath(name, `/losses?${q}`)).catch((err) => ({ error: err.message })));
    let entries;
    try {
      entries = (await api(`api/compare?models=${names.map(encodeURIComponent).join(",")}`)).models || [];
    } catch (err) {
      if (token !== this.token) return;
      reportError(err);
      $("#cmp-previews").replaceChildren(el("p", { class: "error-line" }, `Could not load the models: ${err.message}`));
      return;
    }
    const answers = await Promise.all(losses);
    if (token !== this.token) return;
    this.entries = entries;
    this.series = new Map(names.map((name, i) => [name, answers[i]]));
    this.draw();
    this.drawPreviews();
  },

  /** One table for uPlot: each model's own iterations joined on one x axis, A solid, B dashed. */
  built() {
    const smoothing = Number($("#cmp-smooth").value);
    const log = $("#cmp-log").checked;
    const clean = (arr) => arr.map((v) => (Number.isFinite(v) && (!log || v > 0) ? v : null));
    const tables = [];
    const series = [{ label: "Iteration", value: (u, v) => (v == null ? "–" : fmt.int(v)) }];
    this.names.forEach((name, i) => {
      const answer = this.series.get(name);
      const xs = (answer && answer.iterations) || [];
      if (!xs.length) return;
      const color = PALETTE[i % PALETTE.length];
      const table = [xs];
      for (const [term, side, dash] of [["loss_a", "A", undefined], ["loss_b", "B", [7, 4]]]) {
        const values = answer.terms && answer.terms[term];
        if (!values) continue;
        table.push(clean(ema(values, smoothing)));
        const label = `${name} · ${side}`;
        series.push({ label, stroke: color, width: 2, dash, spanGaps: true, points: { show: false },
          show: this.shown[label] ?? true, value: (u, v) => fmt.loss(v) });
      }
      if (table.length > 1) tables.push(table);
    });
    if (!tables.length) return null;
    return { data: tables.length === 1 ? tables[0] : uPlot.join(tables), series, log };
  },

  draw() {
    const target = $("#cmp-chart");
    const empty = $("#cmp-empty");
    const built = this.names.length >= 1 ? this.built() : null;
    if (!built) {
      if (this.chart) this.chart.destroy();
      this.chart = null;
      this.chartKey = "";
      target.replaceChildren();
      target.hidden = true;
      empty.hidden = false;
      empty.textContent = this.names.length < 2
        ? "Pick two or more models above to compare them."
        : "No losses recorded yet for these models.";
      return;
    }
    target.hidden = false;
    empty.hidden = this.names.length >= 2;
    empty.textContent = "Pick one more model above to compare.";
    const key = JSON.stringify([built.series.map((s) => s.label), built.log]);
    if (this.chart && this.chartKey === key) {
      this.chart.setData(built.data);
    } else {
      if (this.chart) this.chart.destroy();
      this.chart = makeChart(target, built, 380, this.shown);
      this.chartKey = key;
    }
  },

  drawPreviews() {
    const box = $("#cmp-previews");
    $("#cmp-previews-title").hidden = !this.entries.length;
    if (!this.entries.length) {
      box.replaceChildren();
      return;
    }
    box.replaceChildren(...this.entries.map((entry, i) => previewCard(entry, PALETTE[this.names.indexOf(entry.name) % PALETTE.length] || PALETTE[i])));
  },
};

function previewCard(entry, color) {
  const title = el("h3", {}, el("span", { class: "cmp-swatch", style: `background:${color}` }),
    el("a", { href: `#/model/${encodeURIComponent(entry.name)}` }, entry.name));
  if (entry.error && entry.state === undefined) {
    return el("figure", { class: "cmp-card", "data-compare-model": entry.name }, title, el("p", { class: "error-line" }, entry.error));
  }
  const badge = el("span", { class: "badge" });
  stateBadge(badge, entry.state);
  const head = el("div", { class: "cmp-card-head" }, title, badge);
  const lines = [];
  const pv = entry.preview;
  let picture;
  if (pv) {
    const rel = pv.mask || pv.plain;
    const url = withToken(modelPath(entry.name, `/files/${rel.split("/").map(encodeURIComponent).join("/")}`));
    picture = el("a", { href: `#/model/${encodeURIComponent(entry.name)}/preview`, class: "cmp-image" },
      el("img", { src: url, alt: `Newest preview of ${entry.name}, iteration ${fmt.int(pv.iteration)}`, loading: "lazy" }));
    lines.push(`Preview at iteration ${fmt.int(pv.iteration)}${pv.time ? ` · ${fmt.date(pv.time)}` : ""}`);
    const at = entry.preview_loss;
    if (at) {
      const when = at.iteration === pv.iteration ? "" : ` (recorded at iteration ${fmt.int(at.iteration)})`;
      lines.push(`Loss A ${fmt.loss(at.loss_a)} · Loss B ${fmt.loss(at.loss_b)}${when}`);
    } else {
      lines.push("No loss recorded up to this preview.");
    }
  } else {
    picture = el("p", { class: "empty cmp-noimage" }, "No preview yet: one is drawn at each save.");
  }
  const status = entry.status || {};
  const model = entry.model ? `${entry.model}, ` : "";
  if (!pv || entry.iterations !== pv.iteration) {
    lines.push(`Now: ${model}${fmt.int(entry.iterations)} iterations · Loss A ${fmt.loss(status.loss_a)} · Loss B ${fmt.loss(status.loss_b)}`);
  } else if (entry.model) {
    lines.push(`Model type: ${entry.model}`);
  }
  return el("figure", { class: "cmp-card", "data-compare-model": entry.name }, head, picture,
    el("figcaption", {}, ...lines.map((text) => el("div", {}, text))),
    entry.error ? el("p", { class: "error-line" }, entry.error) : null);
}

/** Called by the router: ``query`` is the view's query text when Compare is shown, else null. */
export function routeCompare(query) {
  if (query === null) {
    view.close();
    updateBar();
    return;
  }
  view.open(query);
}
