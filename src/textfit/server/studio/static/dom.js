// textfit studio: building and filling the page. The markup of every view is in index.html; the
// modules fill it with data and build only what repeats with the data (rows, bars, list entries).

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "style") node.setAttribute("style", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

export function svgEl(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

// A cell of figures ("0.93", "86.4%", "2.96 / 4"), never a message: such cells do not wrap.
const numeric = (cell) => /\d/.test(String(cell ?? "")) && !/[A-Za-z]{2,}/.test(String(cell));

// A table's head and rows; a cell is text or a node. `markFigures`: cells of figures get class "num".
export function fillTable(table, headers, rows, markFigures = true) {
  table.replaceChildren();
  const head = el("tr");
  headers.forEach((h) => head.append(el("th", { text: h })));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  rows.forEach((cells) => {
    const tr = el("tr");
    cells.forEach((cell) => tr.append(cell instanceof Node ? el("td", {}, cell)
      : el("td", { text: cell ?? "", class: markFigures && numeric(cell) ? "num" : "" })));
    body.append(tr);
  });
  table.append(body);
}

export function toast(message) {
  const box = $("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 8000);
}

export function setStatus(id, message, kind = "") {
  const node = $(id);
  node.textContent = message || "";
  node.className = "status-line " + kind;
}

// A file dropped on `zone` or chosen with `input` goes to `take(file)`.
export function onFile(zone, input, take) {
  input.addEventListener("change", (e) => take(e.target.files[0]));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); take(e.dataTransfer.files[0]); });
}

// Edit a heading in place: Enter or leaving the field saves, Escape cancels. `save(name)` stores a
// changed name and resolves to what the heading should say (runs-admin.js, labeling.js).
export function editTitle(title, inputId, current, save) {
  if ($(inputId)) return;
  const input = el("input", { type: "text", id: inputId, class: "title-edit", maxlength: "100", "aria-label": "New name" });
  input.value = current;
  title.hidden = true;
  title.after(input);
  input.focus();
  input.select();
  let done = false;
  const finish = async (keep) => {
    if (done) return;
    done = true;
    const name = input.value.trim();
    input.remove();
    title.hidden = false;
    if (!keep || !name || name === current) return;
    try {
      title.textContent = await save(name);
    } catch (error) {
      toast(error.message);
    }
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    if (e.key === "Escape") { e.preventDefault(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
}
