// The Analysis tab's "Faces the model reconstructs worst": per side, the faces with the highest
// moving-average loss, with thumbnails (routes: fs_core/gui/worst.py). The helpers come from
// app.js, so this module keeps the page's one way of requesting and building nodes.

const COUNT = 12;
let shownFor = null; // the model whose faces the section shows
let asked = null; // the model asked for last: an older answer arriving late is dropped

/** Fill #an-worst for model `name`; `h` is { api, withToken, el, fmt, modelPath }. */
export async function loadWorstFaces(name, h) {
  const box = document.getElementById("an-worst-sides");
  const note = document.getElementById("an-worst-note");
  if (!box || !note) return;
  asked = name;
  if (shownFor !== name) {
    shownFor = null;
    note.textContent = "Loading…";
    box.replaceChildren();
  }
  let data;
  try {
    data = await h.api(h.modelPath(name, `/worst-faces?count=${COUNT}`));
  } catch (err) {
    if (asked !== name) return;
    note.textContent = `Could not read the per-face losses: ${err.message}`;
    box.replaceChildren();
    return;
  }
  if (asked !== name) return;
  shownFor = name;
  const sides = Object.entries(data.sides || {});
  if (!sides.length) {
    note.textContent = "No per-face losses yet. Training writes them at each save (unless [global] track_face_loss is off).";
    box.replaceChildren();
    return;
  }
  note.textContent = `Each face's loss is averaged over the times it was trained on (as of the save at iteration ${h.fmt.int(data.iteration)}). A face far above its side's median may be misaligned, mislabelled or a rare pose.`;
  box.replaceChildren(...sides.map(([side, info]) => sideBlock(side, info, h)));
}

function sideBlock(side, info, h) {
  const { el, fmt } = h;
  const heading = el("h3", { class: "worst-side-title" }, `Side ${side.toUpperCase()}`,
    el("span", { class: "worst-meta" },
      ` · ${info.folder} · ${fmt.int(info.seen_faces)} of ${fmt.int(info.faces)} faces trained on · median ${fmt.loss(info.median)}`));
  if (!info.worst.length) return el("div", { class: "worst-side" }, heading, el("p", { class: "empty" }, "No face of this side trained on yet."));
  const items = info.worst.map((face) => el("li", { class: "worst-face" },
    face.image
      ? el("img", { src: h.withToken(face.image), alt: face.file, loading: "lazy", width: "96", height: "96" })
      : el("div", { class: "worst-noimg", title: "The face folder is outside the GUI's root folder" }, "no preview"),
    el("div", { class: "worst-name", title: face.file }, face.file),
    el("div", { class: "worst-loss" }, `${fmt.loss(face.loss)} · ×${face.ratio == null ? "–" : Number(face.ratio).toFixed(2)}`),
    el("div", { class: "worst-seen" }, `seen ${fmt.int(face.seen)}×`)));
  const blocks = [heading];
  if (!info.inside_root) blocks.push(el("p", { class: "hint" }, "Thumbnails are not shown: this face folder is outside the folder fs gui serves."));
  blocks.push(el("ol", { class: "worst-grid" }, items));
  return el("div", { class: "worst-side" }, blocks);
}
