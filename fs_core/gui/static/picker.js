// fs gui: a folder (or file) picker for any path field of the page, so a user can click through
// the root folder instead of typing paths. The server lists one folder at a time
// (GET api/browse?path=REL&kind=KIND: sub-folders with their face counts, the folder's own face
// count and a few thumbnails, and files when the kind wants them); it never lists above the root,
// and a symbolic link leading out of it shows greyed, with where it leads.
//
// API
//   attachPicker(inputEl, options) -> { open(), close(), button }
//     Puts a "Browse" button after inputEl; the button opens a modal dialog. Choosing writes the
//     path, relative to the root, into inputEl and fires its "input" and "change" events.
//   options:
//     kind   "folder" (default): pick a folder ("Use this folder");
//            "video-or-folder": a folder, or a video file in it (click the file);
//            "file": any file (click it); folders are only walked through.
//     title  the dialog's heading (default: "Choose a folder" / "Choose a file")
//     start  the folder shown first when inputEl is empty or not a folder (default: the root)
//     onPick(path, info)  called after inputEl is filled; info is the listing of the chosen
//            folder, or {name, path, type} of the chosen file
//   The dialog opens at inputEl's folder when it names one (a file's folder for a file).

import { api, el, fmt, withToken } from "./app.js";

const KINDS = ["folder", "video-or-folder", "file"];

export function attachPicker(inputEl, options = {}) {
  const kind = options.kind || "folder";
  if (!KINDS.includes(kind)) throw new Error(`attachPicker: kind must be one of ${KINDS.join(", ")}`);
  const title = options.title || (kind === "file" ? "Choose a file" : "Choose a folder");
  const labelText = inputEl.labels && inputEl.labels[0] ? inputEl.labels[0].firstChild.textContent.trim() : "";
  const button = el("button", { type: "button", class: "picker-open", title: `Pick ${labelText || "the path"} from the folders under the root` }, "Browse");
  button.setAttribute("aria-label", labelText ? `Browse for ${labelText}` : "Browse");
  const row = el("div", { class: "picker-row" });
  inputEl.replaceWith(row);
  row.append(inputEl, button);

  const heading = el("h2", { class: "picker-title" }, title);
  const crumbs = el("nav", { class: "picker-crumbs", "aria-label": "Folder" });
  const list = el("ul", { class: "picker-list", role: "list" });
  const about = el("div", { class: "picker-about" });
  const problem = el("p", { class: "error-line", role: "alert", hidden: true });
  const choose = el("button", { type: "button", class: "primary picker-choose" }, "Use this folder");
  const cancel = el("button", { type: "button", class: "picker-cancel" }, "Cancel");
  const dialog = el("dialog", { class: "picker", "aria-label": title },
    heading, crumbs, problem,
    el("div", { class: "picker-body" }, list, about),
    el("div", { class: "picker-actions" }, kind === "file" ? null : choose, cancel));
  document.body.append(dialog);

  let current = null; // the listing shown
  let loading = 0;

  async function show(path) {
    const token = ++loading;
    problem.hidden = true;
    let listing;
    try {
      listing = await api(`api/browse?${new URLSearchParams({ path, kind })}`);
    } catch (err) {
      if (token !== loading) return false;
      problem.textContent = err.message;
      problem.hidden = false;
      return false;
    }
    if (token !== loading) return false;
    current = listing;
    render(listing);
    return true;
  }

  function render(listing) {
    const parts = listing.path ? listing.path.split("/") : [];
    crumbs.replaceChildren(
      el("button", { type: "button", class: "link", onclick: () => show("") }, "root"),
      ...parts.flatMap((part, i) => [" / ", i === parts.length - 1
        ? el("strong", {}, part)
        : el("button", { type: "button", class: "link", onclick: () => show(parts.slice(0, i + 1).join("/")) }, part)]));
    crumbs.title = listing.root + (listing.path ? `/${listing.path}` : "");
    const rows = [];
    if (listing.parent !== null) {
      rows.push(el("li", {}, el("button", { type: "button", class: "picker-item up", onclick: () => show(listing.parent) }, "↑ Up one folder")));
    }
    for (const folder of listing.folders) {
      if (folder.outside) {
        rows.push(el("li", {}, el("span", { class: "picker-item outside", title: folder.outside },
          el("span", { class: "picker-name" }, `${folder.name}/`), el("span", { class: "picker-count" }, folder.outside))));
        continue;
      }
      rows.push(el("li", {}, el("button", { type: "button", class: "picker-item", "data-path": folder.path, onclick: () => show(folder.path) },
        el("span", { class: "picker-name" }, `${folder.name}/`),
        el("span", { class: "picker-count" }, folder.faces ? `${fmt.int(folder.faces)} faces` : ""))));
    }
    for (const file of listing.files) {
      rows.push(el("li", {}, el("button", { type: "button", class: "picker-item file", "data-path": file.path, onclick: () => pick(file.path, file) },
        el("span", { class: "picker-name" }, file.name),
        el("span", { class: "picker-count" }, file.type))));
    }
    if (listing.more) rows.push(el("li", { class: "muted small" }, `… and ${fmt.int(listing.more)} more not shown`));
    if (!listing.folders.length && !listing.files.length) {
      rows.push(el("li", { class: "muted picker-none" }, kind === "folder" ? "No folders inside." : "Nothing to pick inside."));
    }
    list.replaceChildren(...rows);
    const here = listing.path || "the root folder";
    about.replaceChildren(
      el("p", { class: "picker-here" }, el("strong", {}, here)),
      el("p", { class: "picker-faces" }, listing.faces
        ? `${fmt.int(listing.faces)} face image${listing.faces === 1 ? "" : "s"} (.png, .jpg) in this folder`
        : "No face images directly in this folder."),
      el("div", { class: "picker-thumbs" }, ...listing.thumbnails.map((url) => el("img", { src: withToken(url), alt: "", loading: "lazy" }))));
    choose.textContent = listing.path ? `Use ${listing.path}` : "Use the root folder";
    choose.disabled = false;
  }

  function pick(path, info) {
    inputEl.value = path;
    inputEl.dispatchEvent(new Event("input", { bubbles: true }));
    inputEl.dispatchEvent(new Event("change", { bubbles: true }));
    close();
    if (options.onPick) options.onPick(path, info);
    inputEl.focus();
  }

  async function open() {
    list.replaceChildren(el("li", { class: "muted" }, "Loading…"));
    about.replaceChildren();
    choose.disabled = true;
    if (!dialog.open) dialog.showModal();
    const typed = inputEl.value.trim().replace(/\/+$/, "");
    const tries = [];
    if (typed) tries.push(typed, typed.includes("/") ? typed.slice(0, typed.lastIndexOf("/")) : "");
    if (options.start) tries.push(options.start);
    tries.push("");
    for (const path of tries) {
      // a typed path that fails is no error to show: the dialog opens at its folder, or the root
      if (await show(path)) return;
    }
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  button.addEventListener("click", open);
  choose.addEventListener("click", () => current && pick(current.path, current));
  cancel.addEventListener("click", close);
  dialog.addEventListener("click", (e) => { if (e.target === dialog) close(); }); // a click beside it
  return { open, close, button };
}
