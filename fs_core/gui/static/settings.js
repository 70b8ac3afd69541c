// fs gui: the Settings tab (change a model's settings, live while it trains) and the graph's
// markers of those changes. Plain ES module imported by app.js, which lends it its helpers
// (api: the token-carrying fetch, el: element builder, modelPath: a model's API path).

import { readOption } from "./app.js";

const RUN_HELP = {
  batch_size: "Faces per side per iteration (1-256).",
  faces_a: "Folder of faces A, inside the root.",
  faces_b: "Folder of faces B, inside the root.",
  save_interval: "Save every N iterations.",
  snapshot_interval: "Snapshot every N iterations (0: never).",
};
const SAFE_POINT = new Set(["batch_size", "faces_a", "faces_b"]);

function show(value) {
  if (typeof value === "number" && !Number.isInteger(value)) return String(Number(value.toPrecision(6)));
  if (Array.isArray(value)) return JSON.stringify(value);
  return value === null || value === undefined ? "" : String(value);
}

function inputFor(h, option, disabled) {
  const id = `live-${option.key}`.replace(/[^A-Za-z0-9_-]/g, "_");
  const value = option.value;
  let input;
  if (typeof value === "boolean" || typeof option.default === "boolean") {
    input = h.el("input", { type: "checkbox", id, disabled });
    input.checked = Boolean(value);
  } else if (Array.isArray(option.choices) && option.choices.length) {
    input = h.el("select", { id, disabled }, option.choices.map((c) => h.el("option", { value: JSON.stringify(c) }, String(c))));
    input.value = JSON.stringify(value);
  } else if (typeof value === "number" || typeof option.default === "number") {
    input = h.el("input", { type: "number", id, disabled, step: "any", min: option.min ?? null, max: option.max ?? null });
    input.value = value ?? "";
  } else if (Array.isArray(value)) {
    input = h.el("input", { type: "text", id, disabled, spellcheck: "false" });
    input.value = JSON.stringify(value);
    input.dataset.json = "1";
  } else {
    input = h.el("input", { type: "text", id, disabled, spellcheck: "false" });
    input.value = value ?? "";
  }
  if (value === null || value === undefined) input.placeholder = "not recorded: type a value to set it";
  input.dataset.key = option.key;
  input.dataset.original = input.type === "checkbox" ? String(input.checked) : input.value;
  return input;
}

function changed(input) {
  return (input.type === "checkbox" ? String(input.checked) : input.value) !== input.dataset.original;
}

function optionRow(h, option) {
  const fixed = Boolean(option.fixed);
  const disabled = Boolean(option.locked) || fixed;
  const input = inputFor(h, option, disabled);
  const badges = [];
  if (option.locked) badges.push(h.el("span", { class: "lock", title: "Fixed when the model was created: it cannot change" }, "locked"));
  else if (fixed) badges.push(h.el("span", { class: "lock", title: option.fixed }, "config file only"));
  if (option.live) {
    const was = option.replaces === null || option.replaces === undefined ? "" : ` (was ${show(option.replaces)})`;
    badges.push(h.el("span", { class: "live-badge", title: "Changed while training; kept in settings.toml" }, `changed${was}`));
  }
  let when = "";
  if (!disabled) {
    when = SAFE_POINT.has(option.key)
      ? " Applies at the next safe point (a save, then a new session)."
      : option.applies === "now" ? " Applies at once." : " Applies after a save, in a new session.";
  }
  const range = option.min != null || option.max != null ? ` (${option.min ?? "…"} to ${option.max ?? "…"})` : "";
  return h.el("div", { class: `opt${disabled ? " locked" : ""}`, title: option.help || "" },
    h.el("div", { class: "opt-label" }, h.el("label", { for: input.id, class: "opt-name" }, option.name.replace(/_/g, " ")), ...badges),
    input,
    h.el("p", { class: "opt-help" }, (option.help || RUN_HELP[option.key] || "") + range + when));
}

/** Render the editable settings of model `name` into `box`; `h` = {api, el, modelPath}. */
export async function renderLiveSettings(box, name, h) {
  let view;
  try {
    view = await h.api(h.modelPath(name, "/settings"));
  } catch (err) {
    box.replaceChildren(h.el("p", { class: "error-line" }, `Could not load the settings: ${err.message}`));
    return;
  }
  box.classList.remove("readonly");
  const message = h.el("p", { class: "action-msg", id: "st-msg", role: "status" });
  const apply = h.el("button", { type: "button", class: "primary", id: "st-apply" }, "Apply");
  const forget = h.el("button", { type: "button", id: "st-forget", title: "Forget every changed setting: the config file's values apply from the next start" }, "Forget changes");
  const lead = h.el("p", { class: "hint" }, view.training
    ? "This model is training: Apply sends the changes to the trainer, which applies them between iterations."
    : "No trainer runs on this model: Apply stores the changes for its next start.");
  const run = view.run.map((option) => ({ ...option, default: typeof option.value === "number" ? 0 : "" }));
  const fieldsets = [
    h.el("fieldset", { class: "opt-section" }, h.el("legend", {}, "[run]"), run.map((o) => optionRow(h, o))),
    ...Object.entries(view.sections).filter(([, rows]) => rows.length).map(([section, rows]) => h.el("fieldset", { class: "opt-section" },
      h.el("legend", {}, `[${section}]`), rows.map((o) => optionRow(h, o)))),
  ];
  const bar = h.el("div", { class: "live-bar" }, apply, forget, message);
  box.replaceChildren(lead, bar, ...fieldsets);

  const send = async (body, busy, note = "") => {
    message.className = "action-msg";
    message.textContent = busy;
    apply.disabled = forget.disabled = true;
    try {
      const answer = await h.api(h.modelPath(name, "/settings"), { method: "POST", body });
      const text = answer.message + note;
      message.textContent = text;
      message.classList.add("ok");
      setTimeout(() => box.isConnected && renderLiveSettings(box, name, h).then(() => {
        const again = box.querySelector("#st-msg");
        if (again) { again.textContent = text; again.classList.add("ok"); }
      }), 400);
    } catch (err) {
      message.textContent = err.message;
      message.classList.add("bad");
    } finally {
      apply.disabled = forget.disabled = false;
    }
  };
  apply.addEventListener("click", () => {
    const changes = {};
    for (const input of box.querySelectorAll("[data-key]")) {
      if (!input.disabled && changed(input)) changes[input.dataset.key] = readOption(input);
    }
    if (!Object.keys(changes).length) {
      message.className = "action-msg";
      message.textContent = "Nothing changed: edit a setting first.";
      return;
    }
    const safe = Object.keys(changes).some((key) => SAFE_POINT.has(key));
    send({ changes }, view.training ? "Sending to the trainer…" : "Storing…", safe && view.training
      ? " Batch size and face folders apply at the next safe point: after a save, in a new session." : "");
  });
  forget.addEventListener("click", () => send({ reset: ["all"] }, "Forgetting…"));
}

/** A uPlot plugin drawing each marker ({iteration, label}) as a labelled vertical line. */
export function markersPlugin(markers) {
  const draw = (u) => {
    for (const old of u.over.querySelectorAll(".graph-marker")) old.remove();
    markers.forEach((marker, i) => {
      const x = u.valToPos(marker.iteration, "x");
      if (!Number.isFinite(x) || x < 0 || x > u.over.clientWidth) return;
      const line = document.createElement("div");
      line.className = "graph-marker";
      line.style.left = `${x}px`;
      line.title = `Iteration ${marker.iteration.toLocaleString("en-US")}: ${marker.label}`;
      const label = document.createElement("span");
      label.className = "graph-marker-label";
      label.style.top = `${2 + (i % 3) * 16}px`;
      label.textContent = marker.label;
      line.append(label);
      u.over.append(line);
    });
  };
  return { hooks: { draw: [draw] } };
}
