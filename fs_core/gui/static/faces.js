// fs gui: the Faces tab -- the face-set report of the folders the model last trained on
// (routes in fs_core/gui/faces.py). The report runs in the background on the server, started when
// the tab first opens and again when the folders changed; this polls its progress while the tab
// is open, then draws the pose heat-maps side by side (SVG made by the
// server from numbers) and each finding's faces with their thumbnails and file names.

import { el as node } from "./app.js";

const POLL_MS = 1000;
let current = null; // { name, api, timer }: the model whose Faces tab is open

function facesPath(name, rest = "") {
  return `api/models/${encodeURIComponent(name)}/faces${rest}`;
}

function root() {
  return document.getElementById("faces-root");
}

/** Open (or refresh) the Faces tab for model `name`; `api` is the page's JSON request helper. */
export function showFaces(name, api) {
  hideFaces();
  current = { name, api, timer: null, autoStarted: false };
  root().replaceChildren(node("p", { class: "muted", text: "Loading…" }));
  poll(current);
}

/** Stop polling (the tab was left or another model opened). */
export function hideFaces() {
  if (current && current.timer) clearTimeout(current.timer);
  current = null;
}

async function poll(view) {
  let data;
  try {
    data = await view.api(facesPath(view.name));
  } catch (err) {
    if (view !== current) return;
    root().replaceChildren(node("p", { class: "error-line", text: err.message }));
    return;
  }
  if (view !== current) return;
  render(view, data);
  if (data.state === "running") view.timer = setTimeout(() => poll(view), POLL_MS);
  // made on first opening, and made again when the folders changed since (once per opening:
  // folders that keep changing do not restart it for ever)
  else if (!view.autoStarted && (data.state === "none" || (data.state === "ready" && data.stale))) {
    view.autoStarted = true;
    start(view);
  }
}

async function start(view) {
  try {
    const identity = document.getElementById("faces-identity")?.checked ? "?identity=1" : "";
    await view.api(facesPath(view.name, `/run${identity}`), { method: "POST" });
  } catch (err) {
    root().replaceChildren(node("p", { class: "error-line", text: err.message }));
    return;
  }
  if (view === current) poll(view);
}

function folderLine(data) {
  const sides = Object.entries(data.folders || {}).map(([side, path]) => `${side}: ${path}`);
  return node("p", { class: "muted small", id: "faces-folders", text: sides.join("   ·   ") });
}

/** The identity choice beside the run button: the check is slow (about 0.1 s a face), so it is
 * asked for; without the extract extra, a line names it. */
function identityChoice(data) {
  if (!data.identity_available) {
    return node("p", { class: "muted small", id: "faces-identity-note", text: 'Identity outliers (faces of another person) need the extract extra: pip install "fs-core[extract]".' });
  }
  const box = node("input", { type: "checkbox", id: "faces-identity" });
  return node("label", { class: "small", for: "faces-identity" }, box, " Also look for faces of another person (identity; about 0.1 s a face)");
}

function render(view, data) {
  const out = [];
  const button = (label, primary = false) => node("button", { type: "button", id: "faces-run", class: primary ? "primary" : null, onclick: () => start(view) }, label);
  if (data.state === "unavailable") {
    out.push(node("div", { class: "empty" },
      node("p", { class: "empty-title", text: "No face folders to check." }),
      node("p", { text: data.error })));
  } else if (data.state === "none" || data.state === "failed") {
    out.push(folderLine(data));
    if (data.error) out.push(node("p", { class: "error-line", text: data.error }));
    out.push(node("div", { class: "empty" },
      node("p", { class: "empty-title", text: "Check the face sets this model trains on." }),
      node("p", { text: "The report finds what makes a swap fail: poses face A has and face B lacks, blurred faces, near-duplicates, badly placed landmarks." }),
      button("Check the faces", true), identityChoice(data)));
  } else if (data.state === "running") {
    out.push(folderLine(data));
    const share = data.total ? Math.round((100 * data.done) / data.total) : 0;
    out.push(node("p", { id: "faces-progress-text", text: data.total ? `Measuring faces: ${data.done} of ${data.total}` : "Listing the faces…" }));
    const bar = node("div", { class: "progress faces-progress" }, node("div", { style: `width: ${share}%` }));
    out.push(bar);
  } else if (data.state === "ready") {
    const head = node("div", { class: "toolbar" }, button(data.stale ? "Check again (faces changed)" : "Check again"), identityChoice(data));
    out.push(head, folderLine(data));
    if (data.stale) out.push(node("p", { class: "warn-line", id: "faces-stale", text: "The folders changed since this report was made." }));
    if (data.error) out.push(node("p", { class: "error-line", text: `The last check failed: ${data.error}` }));
    out.push(...reportNodes(data.report));
  }
  root().replaceChildren(...out);
}

function faceFigure(face) {
  const caption = face.error || `${Number(face.value.toPrecision(3))} ${face.unit || ""}`.trim();
  return node("figure", { class: "face", title: face.path },
    face.thumb ? node("img", { src: face.thumb, alt: face.name, width: 72, height: 72 }) : null,
    node("figcaption", {}, node("span", { class: "face-name", text: face.name }), node("br"),
      node("span", { class: "muted", text: caption })));
}

function findingNode(finding) {
  const section = node("section", { class: "faces-finding", "data-kind": finding.kind },
    node("h2", { class: "subhead" }, `${finding.side}: ${finding.title} `,
      node("span", { class: "muted", text: `(${finding.count})` })),
    node("p", { class: "hint", text: finding.rule }));
  const unshown = [];
  for (const group of finding.groups) {
    if (group.label) section.append(node("div", { class: "faces-group", text: group.label }));
    const shown = group.faces.filter((face) => face.thumb || face.error);
    for (const face of group.faces) if (!(face.thumb || face.error)) unshown.push(face.path);
    if (shown.length) section.append(node("div", { class: "faces-grid" }, ...shown.map(faceFigure)));
  }
  if (unshown.length) {
    section.append(node("details", { class: "faces-more" },
      node("summary", { text: `${unshown.length} more, by name` }),
      node("pre", { text: unshown.join("\n") })));
  }
  return section;
}

function reportNodes(report) {
  const out = [];
  const counts = report.findings.map((f) => node("li", {}, `${f.side} ${f.title}: `, node("b", { text: String(f.count) })));
  out.push(node("ul", { class: "faces-counts", id: "faces-summary" },
    ...(counts.length ? counts : [node("li", { text: "Nothing found: the sets look clean." })])));
  if (report.heatmaps && report.heatmaps.length) {
    out.push(node("h2", { class: "subhead", text: "Pose coverage" }));
    out.push(node("p", { class: "hint", text: "Faces per head pose (yaw across, pitch down, pitch relative to the set's median). Cells outlined in red are gaps: poses face A has and face B lacks, where the swap has nothing to learn from." }));
    const maps = node("div", { class: "faces-heatmaps", id: "faces-heatmaps" });
    // the SVG is built by the server from numbers only (file names never enter it)
    for (const svg of report.heatmaps) {
      const card = node("div", { class: "faces-map" });
      card.innerHTML = svg;
      maps.append(card);
    }
    out.push(maps);
  }
  out.push(...report.findings.map(findingNode));
  if (report.notes.length) {
    out.push(node("ul", { class: "faces-notes" }, ...report.notes.map((n) => node("li", { class: "muted small", text: n }))));
  }
  out.push(node("p", { class: "hint", text: "To take a face out of training, move its file out of the folder (hover a face for its full path). fs sort orders a folder by blur, yaw or identity to review it by eye." }));
  return out;
}
