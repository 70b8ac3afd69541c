// fs gui: convert, export and import from the page (the Convert and Jobs views, the job view, and
// the Convert/Export buttons of a model's page). Talks to the routes of fs_core/gui/job_routes.py.
// Jobs live in files on the server, so everything here is re-read from it: a reload finds them.

import { $, api, el, withToken } from "./app.js";
import { attachPicker } from "./picker.js";

/** The views this module draws (app.js routes #/convert, #/jobs and #/job/ID here). */
export const JOB_VIEWS = ["convert", "jobs", "job"];

const STATE_LABEL = { running: "Running", starting: "Starting", done: "Done", failed: "Failed", cancelled: "Cancelled" };
const KIND_LABEL = { convert: "Convert", export: "Export", import: "Import" };

/** GET ``path``, or POST ``body`` as JSON: app.js's api() (the token, one-line errors). */
function request(path, body) {
  return api(path, body === undefined ? {} : { method: "POST", body });
}

function showError(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

function badge(node, state) {
  node.textContent = STATE_LABEL[state] || state;
  node.className = "badge job-" + state;
}

/** The relative path of an absolute one under the root (for display). */
function underRoot(path) {
  const root = (document.querySelector("#root-label")?.textContent || "").replace(/\/$/, "");
  return root && path && path.startsWith(root + "/") ? path.slice(root.length + 1) : path || "";
}

function progressText(job) {
  const p = job.progress;
  if (!p || !Number.isFinite(p.total)) return job.state === "running" ? "Starting (loading the model)…" : "";
  if (p.done === 0 && job.state === "running") return `0 / ${p.total} frames: loading the model…`;
  const rate = p.seconds > 0 ? p.done / p.seconds : 0;
  return `${p.done} / ${p.total} frames` + (rate ? ` · ${rate.toFixed(1)} frames/s` : "");
}

function progressShare(job) {
  const p = job.progress;
  if (job.state === "done") return 1;
  return p && p.total > 0 ? p.done / p.total : 0;
}

// ---------------------------------------------------------------- shared options

let optionsPromise = null;

/** The convert and export choices, from the server's [convert] section and fs export's lists. */
function loadOptions() {
  if (!optionsPromise) {
    optionsPromise = request("api/convert/options").catch((err) => {
      optionsPromise = null;
      throw err;
    });
  }
  return optionsPromise;
}

function fill(select, values, selected) {
  select.replaceChildren(...values.map((v) => el("option", { value: v }, v)));
  if (selected !== undefined && values.includes(selected)) select.value = selected;
}

// ---------------------------------------------------------------- convert view

const convert = {
  wired: false,
  previewTimer: null,
  framesTimer: null,
  ask: 0, // the latest preview asked for; older answers are dropped

  wire() {
    if (this.wired) return;
    this.wired = true;
    const form = $("#cv-form");
    attachPicker($("#cv-input"), { kind: "video-or-folder", title: "Choose a video, or a folder of frames" });
    attachPicker($("#cv-alignments"), { kind: "file", title: "Choose the alignments file" });
    $("#cv-input").addEventListener("input", () => this.inputChanged());
    $("#cv-alignments").addEventListener("change", () => this.inputChanged());
    $("#cv-model").addEventListener("change", () => this.schedulePreview());
    $("#cv-frame").addEventListener("input", () => this.frameCaption());
    $("#cv-frame").addEventListener("change", () => this.schedulePreview(0));
    for (const input of form.querySelectorAll("[data-option]")) {
      input.addEventListener("change", () => {
        this.writerFields();
        this.schedulePreview();
      });
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.start();
    });
  },

  async open(params) {
    this.wire();
    showError($("#cv-error"), "");
    try {
      const [options, models, inputs] = await Promise.all([loadOptions(), request("api/models"), request("api/convert/inputs")]);
      $("#cv-inputs").replaceChildren(...inputs.inputs.map((path) => el("option", { value: path })));
      const names = (models.models || []).map((m) => m.name);
      const chosen = params.get("model") || $("#cv-model").value || names[0];
      fill($("#cv-model"), names, chosen);
      for (const [name, spec] of Object.entries(options.convert)) {
        const input = $(`#cv-${name}`);
        if (!input || input.dataset.filled) continue;
        input.dataset.filled = "1";
        input.title = spec.help || "";
        if (input.tagName === "SELECT") fill(input, spec.choices.map(String), String(spec.default));
        else if (input.type === "checkbox") input.checked = Boolean(spec.default);
        else {
          input.value = spec.default;
          if (spec.min !== undefined) input.min = spec.min;
          if (spec.max !== undefined) input.max = spec.max;
        }
      }
      this.writerFields();
      if (!names.length) showError($("#cv-error"), "No model under the root yet: train one first (New training), or import one (Jobs).");
    } catch (err) {
      showError($("#cv-error"), err.message);
    }
    if (params.get("input")) $("#cv-input").value = params.get("input");
    if ($("#cv-input").value) this.inputChanged();
  },

  close() {
    clearTimeout(this.previewTimer);
    clearTimeout(this.framesTimer);
    this.ask += 1;
  },

  /** Only the format field of the chosen writer is shown. */
  writerFields() {
    const writer = $("#cv-writer").value;
    for (const [name, shown] of [["writer_format", writer === "opencv"], ["video_container", writer === "ffmpeg"]]) {
      $(`#cv-${name}`).hidden = !shown;
      $(`#cv-${name}-label`).hidden = !shown;
    }
  },

  options() {
    const out = {};
    for (const input of $("#cv-form").querySelectorAll("[data-option]")) {
      if (input.hidden) continue;
      const name = input.dataset.option;
      if (input.type === "checkbox") out[name] = input.checked;
      else if (input.type === "number") out[name] = input.value === "" ? undefined : Number(input.value);
      else out[name] = input.value;
    }
    return out;
  },

  form() {
    return {
      model: $("#cv-model").value,
      input: $("#cv-input").value.trim(),
      alignments: $("#cv-alignments").value.trim(),
      output: $("#cv-output").value.trim(),
      options: this.options(),
    };
  },

  inputChanged() {
    clearTimeout(this.framesTimer);
    this.framesTimer = setTimeout(() => this.loadFrames(), 400);
  },

  async loadFrames() {
    const { input, alignments } = this.form();
    const slider = $("#cv-frame");
    const info = $("#cv-input-info");
    if (!input) return;
    const query = new URLSearchParams({ input });
    if (alignments) query.set("alignments", alignments);
    try {
      const frames = await request(`api/convert/frames?${query}`);
      info.classList.remove("bad");
      info.textContent = `${frames.count} frames, ${frames.width} × ${frames.height}` +
        (frames.video ? " (video)" : "") + ` · alignments: ${frames.alignments}`;
      if (!alignments) $("#cv-alignments").placeholder = frames.alignments;
      slider.max = Math.max(0, frames.count - 1);
      slider.disabled = frames.count < 1;
      if (Number(slider.value) > Number(slider.max)) slider.value = slider.max;
      this.frameCaption();
      this.schedulePreview();
    } catch (err) {
      info.classList.add("bad");
      info.textContent = err.message;
      slider.disabled = true;
      this.ask += 1; // drop a preview of the previous input
      this.frameCaption();
      $("#cv-before").hidden = true;
      $("#cv-after").hidden = true;
      $("#cv-preview-state").className = "muted small";
      $("#cv-preview-state").textContent = "Choose a model and an input to see a frame before and after the swap.";
    }
  },

  frameCaption() {
    const slider = $("#cv-frame");
    $("#cv-frame-caption").textContent = slider.disabled ? "" : `${Number(slider.value) + 1} of ${Number(slider.max) + 1}`;
  },

  schedulePreview(delay = 500) {
    clearTimeout(this.previewTimer);
    this.previewTimer = setTimeout(() => this.preview(++this.ask), delay);
  },

  async preview(ask) {
    const form = this.form();
    const slider = $("#cv-frame");
    const state = $("#cv-preview-state");
    if (!form.model || !form.input || slider.disabled) return;
    const frame = Number(slider.value);
    let answer;
    try {
      answer = await request("api/convert/preview", { ...form, frame });
    } catch (err) {
      if (ask !== this.ask) return;
      state.className = "error-line";
      state.textContent = err.message;
      return;
    }
    if (ask !== this.ask) return;
    const before = $("#cv-before");
    const after = $("#cv-after");
    const base = `api/convert/preview/${answer.key}`;
    before.src = withToken(`${base}/before.png`);
    before.hidden = false;
    if (answer.state === "ready") {
      after.src = withToken(`${base}/after.png`);
      after.hidden = false;
      after.classList.remove("stale");
      state.className = "muted small";
      state.textContent = `Frame ${frame + 1} (${answer.name}) before and after the swap.`;
      return;
    }
    if (answer.state === "failed") {
      after.hidden = true;
      state.className = "error-line";
      state.textContent = answer.error;
      return;
    }
    after.classList.add("stale");
    state.className = "muted small computing";
    state.textContent = answer.state === "busy"
      ? "Waiting: other frames are being swapped…"
      : `Swapping frame ${frame + 1}… (fs convert loads the model for it: a few seconds)`;
    this.previewTimer = setTimeout(() => ask === this.ask && this.preview(ask), 1000);
  },

  async start() {
    const button = $("#cv-start");
    showError($("#cv-error"), "");
    button.disabled = true;
    try {
      const job = await request("api/convert", this.form());
      window.location.hash = `#/job/${encodeURIComponent(job.id)}`;
    } catch (err) {
      showError($("#cv-error"), err.message);
    } finally {
      button.disabled = false;
    }
  },
};

// ---------------------------------------------------------------- jobs list and import

const jobsList = {
  wired: false,
  timer: null,

  wire() {
    if (this.wired) return;
    this.wired = true;
    attachPicker($("#im-input"), { kind: "folder", title: "Choose the faceswap model folder" });
    $("#im-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      showError($("#im-error"), "");
      try {
        const job = await request("api/import", { input: $("#im-input").value.trim(), name: $("#im-name").value.trim() });
        window.location.hash = `#/job/${encodeURIComponent(job.id)}`;
      } catch (err) {
        showError($("#im-error"), err.message);
      }
    });
  },

  open() {
    this.wire();
    this.close();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), 2000);
  },

  close() {
    clearInterval(this.timer);
    this.timer = null;
  },

  async refresh() {
    let data;
    try {
      data = await request("api/jobs");
    } catch (err) {
      return;
    }
    const rows = data.jobs.map((job) => {
      const state = el("span");
      badge(state, job.state);
      return el(
        "tr", { "data-job": job.id },
        el("td", {}, el("a", { href: `#/job/${encodeURIComponent(job.id)}` }, job.title || `${KIND_LABEL[job.kind]} ${job.model}`)),
        el("td", {}, state),
        el("td", {}, job.kind === "convert" ? progressText(job) : job.state === "failed" ? job.error : ""),
        el("td", {}, when(job.created)),
      );
    });
    $("#jobs-table tbody").replaceChildren(...rows);
    $("#jobs-table").hidden = rows.length === 0;
    $("#jobs-empty").hidden = rows.length > 0;
  },
};

// ---------------------------------------------------------------- one job

const jobView = {
  wired: false,
  id: null,
  timer: null,
  shownResult: null,

  wire() {
    if (this.wired) return;
    this.wired = true;
    $("#jb-cancel").addEventListener("click", async () => {
      if (!this.id || !window.confirm("Cancel this job? A video being written is deleted; frames already written stay.")) return;
      try {
        await request(`api/jobs/${encodeURIComponent(this.id)}/cancel`, {});
      } catch (err) {
        showError($("#jb-error"), err.message);
      }
      this.refresh();
    });
  },

  open(id) {
    this.wire();
    if (this.id !== id) {
      this.id = id;
      this.shownResult = null;
      $("#jb-result").replaceChildren();
      $("#jb-title").textContent = "";
      $("#jb-download").hidden = true;
    }
    this.refresh();
    this.timer = setInterval(() => this.refresh(), 1000);
  },

  close() {
    clearInterval(this.timer);
    this.timer = null;
  },

  async refresh() {
    const id = this.id;
    let job;
    try {
      job = await request(`api/jobs/${encodeURIComponent(id)}`);
    } catch (err) {
      showError($("#jb-error"), err.message);
      return;
    }
    if (id !== this.id) return;
    document.title = `${job.title || "Job"} · fs`;
    $("#jb-title").textContent = job.title || `${KIND_LABEL[job.kind]} ${job.model}`;
    badge($("#jb-state"), job.state);
    const parts = [`Started ${when(job.created)}`];
    if (job.ended) parts.push(`ended ${when(job.ended)}`);
    if (job.output) parts.push(`output: ${underRoot(job.output)}`);
    $("#jb-sub").textContent = parts.join(" · ");
    $("#jb-cancel").hidden = job.state !== "running";
    const showProgress = job.kind === "convert" || job.state === "running";
    $("#jb-progress-box").hidden = !showProgress;
    $("#jb-progress").style.width = `${Math.round(progressShare(job) * 100)}%`;
    $("#jb-progress").classList.toggle("indeterminate", job.state === "running" && !(job.progress && job.progress.done));
    $("#jb-progress-text").textContent = job.kind === "convert" ? progressText(job) : job.state === "running" ? "Working… (an export takes from seconds to minutes)" : "";
    showError($("#jb-error"), job.state === "failed" ? job.error : "");
    $("#jb-log").textContent = (job.log || []).join("\n");
    if (job.state !== "running" && job.state !== "starting") this.close();
    if (job.state === "done" && this.shownResult !== id) {
      this.shownResult = id;
      this.showResult(job);
    }
  },

  async showResult(job) {
    const box = $("#jb-result");
    const base = `api/jobs/${encodeURIComponent(job.id)}`;
    if (job.kind === "import") {
      box.replaceChildren(el("p", {}, "Imported. ", el("a", { href: `#/model/${encodeURIComponent(job.model)}` }, `Open ${job.model}`), " to train it on."));
      return;
    }
    const download = $("#jb-download");
    download.href = withToken(`${base}/download`);
    download.hidden = false;
    if (job.kind === "export") {
      download.textContent = job.format === "savedmodel" ? "Download (.zip)" : "Download";
      // fs export's closing line says how the consuming tool must cut the faces
      const summary = (job.log || []).filter((line) => line.startsWith("Exported ")).pop();
      box.replaceChildren(el("p", { class: "jb-summary" }, summary || `Written to ${underRoot(job.output)}.`));
      return;
    }
    download.textContent = "Download";
    let result;
    try {
      result = await request(`${base}/result`);
    } catch (err) {
      showError($("#jb-error"), err.message);
      return;
    }
    const file = (name) => withToken(`${base}/files/${name.split("/").map(encodeURIComponent).join("/")}`);
    if (result.count === 1 && result.videos.length === 1) {
      download.href = file(result.videos[0]); // a folder holding just the video: the video itself
      download.setAttribute("download", result.videos[0].split("/").pop());
    } else if (!result.is_file) download.textContent = "Download (.zip)";
    const nodes = [];
    for (const video of result.videos) {
      nodes.push(el("video", { class: "jb-video", controls: true, preload: "metadata", src: file(video) }));
    }
    if (result.images.length) {
      const step = Math.max(1, Math.ceil(result.images.length / 12));
      const picked = result.images.filter((_, i) => i % step === 0);
      nodes.push(el("p", { class: "muted small" }, `${result.images.length} images` + (step > 1 ? `; every ${step}th shown` : "")));
      nodes.push(el("div", { class: "jb-strip" }, picked.map((name) => el("a", { href: file(name), target: "_blank", rel: "noopener" },
        el("img", { src: file(name), alt: name, loading: "lazy", title: name })))));
    }
    if (!nodes.length) nodes.push(el("p", { class: "muted" }, "The convert wrote no frames (were they all outside the ranges or done before?)."));
    box.replaceChildren(...nodes);
  },
};

// ---------------------------------------------------------------- a model's page

const modelBar = {
  wired: false,
  name: null,

  wire() {
    if (this.wired) return;
    this.wired = true;
    const panel = $("#jm-export");
    $("#jm-export-open").addEventListener("click", async () => {
      panel.hidden = !panel.hidden;
      $("#jm-export-open").setAttribute("aria-expanded", String(!panel.hidden));
      if (!panel.hidden) this.fillExport();
    });
    panel.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError($("#jm-export-error"), "");
      $("#jm-export-start").disabled = true;
      try {
        const job = await request("api/export", {
          model: this.name, format: $("#jm-format").value, direction: $("#jm-direction").value, precision: $("#jm-precision").value,
        });
        window.location.hash = `#/job/${encodeURIComponent(job.id)}`;
      } catch (err) {
        showError($("#jm-export-error"), err.message);
      } finally {
        $("#jm-export-start").disabled = false;
      }
    });
  },

  async fillExport() {
    try {
      const { export: spec } = await loadOptions();
      if (!$("#jm-format").options.length) {
        fill($("#jm-format"), spec.formats, "savedmodel");
        fill($("#jm-direction"), spec.directions, "a-to-b");
        fill($("#jm-precision"), spec.precisions, "float32");
      }
      if (!spec.tensorflow) showError($("#jm-export-error"), "fs export needs TensorFlow, which is not installed here: pip install tensorflow");
    } catch (err) {
      showError($("#jm-export-error"), err.message);
    }
  },

  open(name) {
    this.wire();
    if (this.name !== name) {
      this.name = name;
      $("#jm-export").hidden = true;
      $("#jm-export-open").setAttribute("aria-expanded", "false");
      showError($("#jm-export-error"), "");
    }
    $("#jm-convert").href = `#/convert?model=${encodeURIComponent(name)}`;
  },
};

// ---------------------------------------------------------------- routing

/** Called by app.js's router on every change of view. */
export function jobsRoute(view, parts, params) {
  $("#nav-convert").classList.toggle("current", view === "convert");
  $("#nav-jobs").classList.toggle("current", view === "jobs" || view === "job");
  if (view !== "convert") convert.close();
  if (view !== "jobs") jobsList.close();
  jobView.close();
  if (view === "model") modelBar.open(parts[1]);
  else if (view === "convert") {
    document.title = "Convert · fs";
    convert.open(params);
  } else if (view === "jobs") {
    document.title = "Jobs · fs";
    jobsList.open();
  } else if (view === "job") {
    if (parts[1]) jobView.open(parts[1]);
    else window.location.hash = "#/jobs";
  }
}
