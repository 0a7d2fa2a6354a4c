// textfit studio: "Label messages" (server/labeling.py). #label starts a project from a file and
// label names; #label/<id> labels one message at a time (the suggestion pre-selected: Enter or
// Space accepts it, 1-9 or a click picks another, S skips, Backspace goes back; in a project of several
// labels a message the keys toggle and Enter confirms: label-sets.js), shows where you
// stand, trains a model on the labels, classifies the rest and checks the labels; the project can
// be renamed (inline, like a run) and deleted (its trained models stay under "Your models").
// Every label is POSTed the moment it is given, in order; a few upcoming messages are prefetched,
// and the queue is fetched afresh (re-ranked) whenever the studio has refitted its fast head.
import { api, post, putFile } from "./api.js";
import * as connection from "./connection.js";
import { $, editTitle, el, fillTable, onFile, setStatus, svgEl, toast } from "./dom.js";
import { count, duration, leftText, NBSP, steadyLeft, when } from "./format.js";
import * as sets from "./label-sets.js";
import { loadRuns, shortName } from "./runs-list.js";
import { showUnlabeled } from "./teacher.js";

const QUEUE = 5, LOW = 2, STAND_EVERY = 5;
const percent = (x) => `${Math.round(100 * x)}${NBSP}%`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const READING = { loading: "Loading the language model…", suggesting: "Suggesting a label for every message from the label names…",
  closed: "Opening the project…" };
let upload = null, project = null, timer = null;
let shownId = null;  // the project the address names (#label/<id>), highlighted in the sidebar
const timers = {};  // follow()'s, by name
let loop = fresh();
let usualKeys = null;  // the keys line of a project of one label a message (index.html's)
const several = () => Boolean(project && project.several_labels);  // several labels a message: label-sets.js

function fresh() {
  return { id: null, current: null, queue: [], history: [], answered: new Set(), version: 0, fetching: false,
    rerankAgain: false, sending: Promise.resolve(), saved: 0, status: null, done: false };
}

// ------------------------------------------------------------------ routing and the sidebar
// The page shows "Label messages" (`shown`): a new project (id null) or project `id`; or another view.
export function opened(shown, id = null) {
  $("view-label").hidden = !shown;
  if (loop.id && loop.id !== id) leave();
  clearTimeout(timer); Object.values(timers).forEach(clearTimeout);
  $("label-new").hidden = !shown || Boolean(id);
  $("label-project").hidden = !id;
  shownId = id;
  if (id) open(id);
  highlight();
}

async function listProjects() {
  let projects;
  try {
    ({ projects } = await api("/api/labeling"));
  } catch (error) {
    return;
  }
  const list = $("label-projects");
  list.replaceChildren(...projects.map((p) => el("li", {}, el("a", { href: `#label/${p.id}`, "data-project": p.id },
    el("span", { class: "run-name", text: shortName(p.name), title: p.name }),
    el("span", { class: "run-meta", text: `${count(p.messages)}${NBSP}messages · ${when(p.created)}` })))));
  if (!projects.length) list.append(el("li", { class: "muted", text: "Nothing labeled yet." }));
  highlight();
}

function highlight() {
  document.querySelectorAll("#label-projects a").forEach((a) => a.classList.toggle("active", a.dataset.project === shownId));
}

// ------------------------------------------------------------------ a new project
async function uploadFile(file) {
  if (!file) return;
  setStatus("label-upload-status", `Reading “${file.name}”…`, "busy");
  try {
    const sent = await putFile("/api/uploads", file);
    showUpload(await api(`/api/labeling/uploads/${sent.upload.id}`), true);
    setStatus("label-upload-status", "");
  } catch (error) {
    setStatus("label-upload-status", error.message, "error");
  }
}

async function changeColumn() {
  const params = new URLSearchParams();
  if ($("label-text-column").value) params.set("text_column", $("label-text-column").value);
  if ($("label-label-column").value) params.set("label_column", $("label-label-column").value);
  try {
    showUpload(await api(`/api/labeling/uploads/${upload.id}?${params}`), false);
  } catch (error) {
    toast(error.message);
  }
}

function showUpload(data, first) {
  upload = data.upload;
  $("label-data").hidden = false;
  $("label-setup").hidden = false;
  $("label-facts").replaceChildren(el("span", { class: "file-name", text: upload.original_name }),
    el("span", { text: `${count(data.rows)}${NBSP}rows` }), el("span", { text: `${data.columns.length}${NBSP}column${data.columns.length === 1 ? "" : "s"}` }));
  if (first) {
    const options = (select, none) => select.replaceChildren(el("option", { value: "", text: none }),
      ...data.columns.map((c) => el("option", { value: c, text: c })));
    options($("label-text-column"), "— choose a column —");
    options($("label-label-column"), "— none —");
    $("label-text-column").value = data.text_column || "";
    $("label-label-column").value = data.label_column && data.label_column !== data.text_column ? data.label_column : "";
    $("label-project-name").placeholder = upload.original_name.replace(/\.[^.]+$/, "");
  }
  fillTable($("label-preview"), data.columns, data.preview.slice(0, 5));
  const joined = $("label-label-column").value && data.several_labels && !data.several_labels.question;
  if (joined) $("label-several").checked = true;  // the file's own labels come several a message
  const given = $("label-label-column").value && data.labels ? data.labels.counts.map((c) => c.value) : [];
  const typed = [...document.querySelectorAll(".label-name")].some((input) => input.value.trim());
  if (!typed && given.length && given.length <= 30) setNames(given);
  else if (!document.querySelector(".label-name")) setNames(["", ""]);
}

function setNames(names) {
  $("label-name-rows").replaceChildren();
  names.forEach((name) => addName(name));
}

function addName(name = "") {
  const row = el("div", { class: "label-name-row" },
    el("input", { type: "text", class: "label-name", maxlength: "200", placeholder: "label, e.g. Billing", "aria-label": "label name" }),
    el("input", { type: "text", class: "label-description", maxlength: "300", placeholder: "description (optional), e.g. invoices, refunds and charges", "aria-label": "description" }),
    el("button", { type: "button", class: "button small", title: "Remove this label", text: "×" }));
  row.querySelector(".label-name").value = name;
  row.querySelector(".label-name").addEventListener("paste", (event) => pasteNames(event, row));
  row.querySelector(".label-name").addEventListener("input", () => setStatus("label-create-status", ""));
  row.querySelector("button").addEventListener("click", () => row.remove());
  $("label-name-rows").append(row);
  return row;
}

// Names pasted as a list (one a line, or between commas or semicolons): one category each, from the
// row pasted into on, filling the empty rows below before adding new ones; a name seen twice once.
export function splitNames(text) {
  const names = text.split(/\r?\n|[,;\t]/).map((n) => n.trim()).filter(Boolean);
  return [...new Set(names)];
}

function pasteNames(event, row) {
  const names = splitNames((event.clipboardData || window.clipboardData).getData("text"));
  if (names.length < 2) return;  // one name: an ordinary paste
  event.preventDefault();
  const typed = new Set([...document.querySelectorAll(".label-name")].filter((input) => input !== row.querySelector(".label-name"))
    .map((input) => input.value.trim()).filter(Boolean));
  const fresh = names.filter((name) => !typed.has(name));
  let rowAt = row;
  fresh.forEach((name, i) => {
    if (i) {
      let next = rowAt.nextElementSibling;
      while (next && next.querySelector(".label-name").value.trim()) next = next.nextElementSibling;
      rowAt = next || addName();
    }
    rowAt.querySelector(".label-name").value = name;
  });
  const rows = document.querySelectorAll(".label-name-row");
  setStatus("label-create-status", `${fresh.length} categories pasted: ${rows.length} in all.`, "ok");
}

async function create() {
  if (!upload) return setStatus("label-create-status", "Upload a file first.", "error");
  const rows = [...document.querySelectorAll(".label-name-row")]
    .map((row) => [row.querySelector(".label-name").value.trim(), row.querySelector(".label-description").value.trim()])
    .filter(([name]) => name);
  const body = { upload_id: upload.id, text_column: $("label-text-column").value, label_names: rows.map((r) => r[0]),
    descriptions: rows.map((r) => r[1] || null) };
  if (!body.text_column) return setStatus("label-create-status", "Pick the column that holds the texts.", "error");
  if (rows.length < 2) return setStatus("label-create-status", "Type at least two categories (or paste a list of them).", "error");
  if ($("label-label-column").value) body.label_column = $("label-label-column").value;
  if ($("label-model-custom").checked) {
    body.model = $("label-model-path").value.trim();
    if (!body.model) return setStatus("label-create-status", "Type a model id or folder, or pick the recommended model.", "error");
  }
  if ($("label-project-name").value.trim()) body.name = $("label-project-name").value.trim();
  if ($("label-several").checked) body.several_labels = true;
  $("label-create").disabled = true;
  setStatus("label-create-status", "Starting…", "busy");
  try {
    const created = await post("/api/labeling", body);
    setStatus("label-create-status", "");
    await listProjects();
    location.hash = `#label/${created.id}`;
  } catch (error) {
    setStatus("label-create-status", error.message, "error");
  } finally {
    $("label-create").disabled = false;
  }
}

// ------------------------------------------------------------------ one project
async function open(id) {
  if (loop.id !== id) {
    loop = fresh();
    loop.id = id;
    project = null;
    if ($("label-title-edit")) $("label-title-edit").remove();
    $("label-title").hidden = false;
    $("label-audit-wrap").hidden = true;
    $("label-short").hidden = true;
    setStatus("label-audit-status", "");
    setStatus("label-train-status", "");
  }
  await refresh();
}

// The project's state: reading progress, then the run and the file it classifies; polled while something moves.
async function refresh() {
  const id = loop.id;
  clearTimeout(timer);
  if (!id) return;
  let answer;
  try {
    answer = await api(`/api/labeling/${id}`);
  } catch (error) {
    if (error.offline) return;  // connection.js reloads when the studio answers again
    $("label-title").textContent = "Labeling project not found";
    $("label-subtitle").textContent = error.message;
    $("label-reading").hidden = $("label-work").hidden = $("label-tools").hidden = true;
    return;
  }
  if (id !== loop.id) return;
  const first = !project || project.phase !== "ready";
  project = answer;
  showProject(answer);
  if (answer.phase === "ready" && first) start();
  const run = answer.run && answer.run.status, job = answer.classify && answer.classify.job;
  const moving = answer.phase !== "ready" && answer.phase !== "failed" || run === "queued" || run === "running"
    || (job && job.status === "running");
  if (moving) timer = setTimeout(refresh, answer.phase === "ready" ? 1500 : 500);
}

function showProject(p) {
  $("label-title").textContent = p.name;
  $("label-tools").hidden = false;
  const model = p.model || "all-MiniLM-L6-v2";
  const imported = p.imported ? `${count(p.imported)} labels taken from “${p.label_column}”` : null;
  const parts = [`${p.upload_name}: ${count(p.messages)} messages, column “${p.text_column}”`, `${p.label_names.length} categories`,
    p.several_labels ? "several labels a message" : null, imported, model, `started ${when(p.created)}`].filter(Boolean);
  $("label-subtitle").replaceChildren(...parts.flatMap((part, i) => [i ? " · " : "", el("span", { class: "nowrap", text: part })]));
  const ready = p.phase === "ready";
  $("label-badge").textContent = ready ? "labeling" : p.phase === "failed" ? "failed" : "reading";
  $("label-badge").className = `badge ${ready ? "completed" : p.phase === "failed" ? "failed" : "running"}`;
  $("label-reading").hidden = ready;
  $("label-work").hidden = !ready;
  if (!ready) {
    const fraction = p.phase === "reading" ? p.done / p.messages : p.phase === "suggesting" ? 1 : 0;
    $("label-reading-bar").style.width = `${(100 * fraction).toFixed(1)}%`;
    $("label-reading-bar").classList.toggle("indeterminate", p.phase !== "reading" && p.phase !== "suggesting");
    $("label-reading-text").textContent = p.phase === "reading"
      ? `Reading ${count(p.done)} of ${count(p.messages)} messages…` : READING[p.phase] || "";
    $("label-reading-error").hidden = p.phase !== "failed";
    $("label-reading-error").textContent = p.error || "";
    return;
  }
  if (p.status && !loop.status) showCount(p.status);  // afterwards each saved label's answer says it
  showRun(p);
}

// ------------------------------------------------------------------ rename, delete
function startRename() {
  if (!project) return;
  const { id } = project;
  editTitle($("label-title"), "label-title-edit", project.name, async (name) => {
    const renamed = await api(`/api/labeling/${id}`, { method: "PATCH", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name }) });
    listProjects();
    if (!project || project.id !== id) return $("label-title").textContent;  // another project is open now
    return (project.name = renamed.name);
  });
}

async function askDelete() {
  if (!project) return;
  const { id, name } = project;
  const status = loop.status || project.status;  // each saved label's answer is newer than the project's
  const lost = !status ? "The labels given in it are lost."
    : `Its ${count(status.labeled)} label${status.labeled === 1 ? " is" : "s are"} lost.`;
  if (!confirm(`Delete the labeling project “${name}”?\n\n${lost} The models trained from its labels stay under `
    + "“Your models”, and the file it started from stays in the studio. This cannot be undone.")) return;
  $("label-delete").disabled = true;
  try {
    await loop.sending;  // labels still on their way land first, not on a deleted project
    const deleted = await api(`/api/labeling/${id}`, { method: "DELETE" });
    if (loop.id === id) {  // nothing to give back and nothing to poll: the project is gone
      loop = fresh();
      project = null;
      clearTimeout(timer); Object.values(timers).forEach(clearTimeout);
    }
    const kept = deleted.runs_kept;
    const models = kept === 1 ? " The model trained from it stays under “Your models”."
      : kept ? ` The ${count(kept)} models trained from it stay under “Your models”.` : "";
    toast(`Deleted “${deleted.name}”.${models}`);
    if (location.hash === `#label/${id}`) location.hash = "#label";
    listProjects();
  } catch (error) {
    toast(error.message);
  } finally {
    $("label-delete").disabled = false;
  }
}

// ------------------------------------------------------------------ the labeling loop
function start() {
  usualKeys = usualKeys ?? $("label-keys").textContent;
  sets.keysLine(several(), usualKeys);
  makeChoices();
  showFocus();
  showCurrent();  // "Finding the next message…" until the first one comes, never a blank (or the last project's) message
  refill();
  stand();
}

// The key of each category: 1-9, then the letters but S (skip), so 34 categories have one key each;
// the arrow keys move the choice along all of them, and Enter takes it.
const KEYS = [..."123456789ABCDEFGHIJKLMNOPQRTUVWXYZ"];
const categoryOfKey = (key) => (project && KEYS.indexOf(key.toUpperCase()) < project.label_names.length
  ? project.label_names[KEYS.indexOf(key.toUpperCase())] : undefined);

function makeChoices() {
  $("label-choices").replaceChildren(...project.label_names.map((name, i) => {
    const button = el("button", { type: "button", class: "button label-choice", "data-label": name,
      "aria-keyshortcuts": KEYS[i] || "" }, KEYS[i] ? el("kbd", { text: KEYS[i] }) : null, el("span", { text: name }));
    // blurred: a focused button would take Space too
    button.addEventListener("click", () => { button.blur(); if (several()) sets.toggle(name); else answer(name); });
    return button;
  }));
}

// Keep QUEUE messages ahead; `rerank`: the head was refitted, so fetch afresh and give the old ones back.
async function refill(rerank = false) {
  const id = loop.id;
  if (loop.fetching) { loop.rerankAgain = loop.rerankAgain || rerank; return; }
  const want = rerank ? QUEUE : QUEUE - loop.queue.length;
  if (want <= 0 || loop.done && !rerank) return;
  const release = rerank ? loop.queue.map((item) => item.index) : [];
  loop.fetching = true;
  try {
    const answer = await post(`/api/labeling/${id}/next`, { n: want, release });
    if (id !== loop.id) return;
    loop.version = Math.max(loop.version, answer.head.version);
    const shown = new Set([loop.current, ...loop.history.map((h) => h.item)].filter(Boolean).map((item) => item.index));
    const kept = rerank ? [] : loop.queue;
    loop.queue = [...kept, ...answer.items.filter((item) => !loop.answered.has(item.index) && !shown.has(item.index))];
    if (project && String(project.focus) !== String(answer.focus || [])) { project.focus = answer.focus || []; showFocus(); }
    loop.done = answer.items.length < want;
  } catch (error) {
    if (!error.offline) toast(error.message);
    return;
  } finally {
    loop.fetching = false;
  }
  if (loop.rerankAgain) { loop.rerankAgain = false; return refill(true); }
  if (!loop.current) advance();
}

function advance() {
  loop.current = loop.queue.shift() || null;
  showCurrent();
  if (loop.queue.length < LOW) refill();
}

function showCurrent() {
  const item = loop.current;
  $("label-undo").disabled = !loop.history.length;
  $("label-skip").disabled = !item;
  $("label-message").classList.toggle("empty", !item);
  if (!item) {
    $("label-message").textContent = loop.done && !loop.fetching ? "Every message is labeled or skipped. Train the model below."
      : "Finding the next message…";
    $("label-hint").textContent = "";
    document.querySelectorAll(".label-choice").forEach((b) => { b.classList.remove("selected"); b.disabled = true; });
    return;
  }
  $("label-message").textContent = item.text;
  const selected = item.given !== undefined ? item.given : item.suggestion;
  $("label-hint").textContent = item.given !== undefined
    ? (item.given === null ? "You skipped this one. Pick a label, or skip it again." : `You labeled this “${item.given}”. Keep it (Enter) or pick another.`)
    : item.looking_for ? `Looking for examples of “${item.looking_for}”: is this one? Enter says yes, or pick another.`
      : `Suggested: ${item.suggestion} (${percent(item.confidence)} sure). Enter accepts it.`;
  document.querySelectorAll(".label-choice").forEach((b) => {
    b.disabled = false;
    b.classList.toggle("selected", b.dataset.label === selected);
  });
  if (several()) {  // nothing toggled but what was given before; the suggestion is in the hint
    $("label-hint").textContent = sets.hint(item);
    sets.reset(item.given);
  }
}

function answer(label) {  // label: a name, a list of names (several labels a message), or null to skip
  const item = loop.current;
  if (!item) return;
  loop.history.push({ item, given: label });
  loop.answered.add(item.index);
  send(item.index, label);
  advance();
}

function back() {
  const last = loop.history.pop();
  if (!last) return;
  if (loop.current) loop.queue.unshift(loop.current);
  loop.current = { ...last.item, given: last.given };
  showCurrent();
}

// One request at a time, in the order given; a request that got no answer is sent again until it gets one.
function send(index, label) {
  const id = loop.id;
  loop.sending = loop.sending.then(async () => {
    for (let wait = 1000; ; wait = Math.min(2 * wait, 8000)) {
      try {
        const saved = label === null ? await post(`/api/labeling/${id}/skip`, { index })
          : Array.isArray(label) ? await post(`/api/labeling/${id}/labels`, { index, labels: label })
            : await post(`/api/labeling/${id}/labels`, { index, label });
        if (id === loop.id) savedOne(saved);
        return;
      } catch (error) {
        if (!error.offline) return toast(error.message);
        await sleep(wait);
      }
    }
  });
}

function savedOne(saved) {
  showCount(saved.status);
  if ($("label-train-status").classList.contains("error")) setStatus("label-train-status", "");  // the labels changed: say it again only if it still holds
  loop.saved += 1;
  if (saved.head.version > loop.version) {
    loop.version = saved.head.version;
    refill(true);
  }
  clearTimeout(timers.stand);  // every few labels, and once the person pauses
  timers.stand = setTimeout(stand, loop.saved % STAND_EVERY === 0 ? 0 : 1500);
}

function showCount(status) {
  loop.status = status;
  $("label-count").textContent = `${count(status.labeled)} labeled · ${count(status.skipped)} skipped · ${count(status.remaining)} to go`;
  const most = Math.max(1, ...Object.values(status.per_label));
  $("label-bars").replaceChildren(...Object.entries(status.per_label).map(([name, n]) => el("div", { class: "bar-row", title: name },
    el("span", { class: "bar-label", text: name }),
    el("span", { class: "bar-track" }, el("span", { class: "bar-fill", style: `width:${(100 * n) / most}%` })),
    el("span", { class: "bar-count", text: count(n) }))));
}

function leave() {
  const given = [loop.current, ...loop.queue].filter((item) => item && item.given === undefined).map((item) => item.index);
  if (given.length) fetch(`/api/labeling/${loop.id}/release`, { method: "POST", keepalive: true,
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ indices: given }) }).catch(() => {});
  loop = fresh();
}

function onKey(event) {
  if ($("view-label").hidden || $("label-work").hidden || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest && event.target.closest("input, textarea, select")) return;
  const key = event.key;
  let handled = true;
  if (several() && loop.current && onSetKey(key)) return event.preventDefault();
  if ((key === "Enter" || key === " ") && loop.current) {
    const selected = document.querySelector(".label-choice.selected");
    if (selected) answer(selected.dataset.label);
  } else if ((key === "s" || key === "S") && loop.current) answer(null);
  else if (key.length === 1 && KEYS.includes(key.toUpperCase()) && loop.current && categoryOfKey(key)) answer(categoryOfKey(key));
  else if ((key === "ArrowRight" || key === "ArrowLeft") && loop.current) moveChoice(key === "ArrowRight" ? 1 : -1);
  else if (key === "Backspace") back();
  else handled = false;
  if (handled) event.preventDefault();
}

// A project of several labels a message: a category's key toggles it, Enter confirms the set (label-sets.js).
// Returns whether the key was one of these; S and Backspace work as for one label.
function onSetKey(key) {
  if (key === "Enter") {
    const chosen = sets.confirmed(loop.current.suggestion);
    if (chosen.length) answer(chosen);
  } else if (key === " ") sets.toggleAtCursor();
  else if (key === "ArrowRight" || key === "ArrowLeft") sets.moveCursor(key === "ArrowRight" ? 1 : -1);
  else if (key.length === 1 && key.toUpperCase() !== "S" && categoryOfKey(key)) sets.toggle(categoryOfKey(key));
  else return false;
  return true;
}

// The arrow keys move the selected category (Enter or Space then takes it): every category, past the
// keys too, is reachable without the mouse.
function moveChoice(by) {
  const buttons = [...document.querySelectorAll(".label-choice")];
  if (!buttons.length) return;
  const at = buttons.findIndex((b) => b.classList.contains("selected"));
  const next = at < 0 ? 0 : (at + by + buttons.length) % buttons.length;
  buttons.forEach((b, i) => b.classList.toggle("selected", i === next));
  buttons[next].scrollIntoView({ block: "nearest" });
}

// ------------------------------------------------------------------ where you stand
// Ask the open project's `what` (stand, audit) and hand the answer to `show`, which returns after
// how many ms to ask again (0: the answer is final). An answer for a project left meanwhile is dropped.
async function follow(what, show) {
  const id = loop.id;
  clearTimeout(timers[what]);
  let answer;
  try {
    answer = await api(`/api/labeling/${id}/${what}`);
  } catch (error) {
    return;
  }
  if (id !== loop.id) return;
  const again = show(answer);
  if (again) timers[what] = setTimeout(() => follow(what, show), again);
}

function stand() {
  unlabeledCost();
  follow("stand", (answer) => {
    if (answer.estimate) showStand(answer);
    return answer.current ? 0 : 1000;  // computed in the background: ask again
  });
}

// What learning from the messages without a label adds to "Train the model", for the labels as they stand (teacher.js).
async function unlabeledCost() {
  const id = loop.id, epochs = parseInt($("label-epochs").value, 10);
  try {
    const { unlabeled } = await api(`/api/labeling/${id}/unlabeled-estimate${epochs > 0 ? `?epochs=${epochs}` : ""}`);
    if (id === loop.id) showUnlabeled($("label-unlabeled-estimate"), unlabeled, unlabeledCost);
  } catch (error) {
    // the next labels ask again; training says what is wrong, if anything
  }
}

function showStand(answer) {
  const e = answer.estimate;
  const box = $("label-estimate");
  if (e.accuracy == null) {
    box.replaceChildren(el("span", { class: "muted", text: e.note.charAt(0).toUpperCase() + e.note.slice(1) + "." }));
  } else {
    box.replaceChildren(el("span", { class: "nowrap", text: `About ${percent(e.accuracy)}` }), " ",
      el("span", { class: "nowrap muted", text: `(${Math.round(100 * e.low)}–${Math.round(100 * e.high)}${NBSP}%)` }), " ",
      el("span", { class: "nowrap", text: `from ${count(e.labels)} examples` }));
    box.title = e.note;
  }
  // computed in the background: while it catches up with the examples given since, say so (no stale count)
  const given = answer.status && answer.status.labeled;
  if (!answer.current && given != null && given !== e.labels) box.append(" ", el("span", { class: "nowrap muted", text: `· updating for ${count(given)}…` }));
  drawCurve(answer.curve.points);
  const verdict = answer.curve.verdict;
  $("label-verdict").textContent = verdict.charAt(0).toUpperCase() + verdict.slice(1);
  $("label-verdict").className = answer.curve.flattened ? "notice info" : "muted";
}

function drawCurve(points) {
  const svg = $("label-curve");
  svg.replaceChildren();
  $("label-curve-empty").hidden = points.length >= 2;
  $("label-curve-x").textContent = points.length ? `${count(points[0].labels)} to ${count(points[points.length - 1].labels)} labels` : "";
  if (!points.length) return;
  const logs = points.map((p) => Math.log2(p.labels));
  const span = logs[logs.length - 1] - logs[0] || 1;
  const x = (i) => (points.length === 1 ? 200 : 16 + (368 * (logs[i] - logs[0])) / span);
  const y = (v) => 150 - 140 * v;
  const band = points.map((p, i) => `${x(i).toFixed(1)},${y(p.high).toFixed(1)}`)
    .concat(points.map((p, i) => `${x(i).toFixed(1)},${y(p.low).toFixed(1)}`).reverse()).join(" ");
  svg.append(svgEl("line", { x1: 8, y1: 150, x2: 392, y2: 150, class: "axis" }));
  svg.append(svgEl("polygon", { points: band, class: "curve-band" }));
  svg.append(svgEl("path", { d: points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.accuracy).toFixed(1)}`).join(" "), class: "loss-line" }));
  points.forEach((p, i) => svg.append(svgEl("circle", { cx: x(i), cy: y(p.accuracy), r: 3, class: "loss-dot" })));
}

// ------------------------------------------------------------------ train, classify the rest
// Categories with fewer than `min_examples` examples, fewest first: the model cannot answer (none) or
// cannot be measured on them. Before training they are listed with a choice: label more, or train without.
function shortCategories() {
  const status = loop.status || project.status;
  if (!status || !project.min_examples) return [];
  return Object.entries(status.per_label).filter(([, n]) => n < project.min_examples).sort((a, b) => a[1] - b[1]);
}

function showShort(short) {
  $("label-short").hidden = !short.length;
  if (!short.length) return;
  const none = short.filter(([, n]) => !n).length;
  $("label-short-text").textContent = `${short.length}${NBSP}of the ${project.label_names.length} categories have fewer than `
    + `${project.min_examples} examples${none ? ` (${none} have none)` : ""}: the model cannot answer a category without examples, `
    + "nor can its figures tell how well it knows one with fewer.";
  $("label-short-list").replaceChildren(...short.map(([name, n]) => el("li", {},
    el("span", { text: name }), " ", el("span", { class: "muted", text: n ? `${n} example${n > 1 ? "s" : ""}` : "none" }))));
}

async function lookFor() {
  const names = shortCategories().map(([name]) => name);
  try {
    const { focus } = await post(`/api/labeling/${loop.id}/focus`, { categories: names });
    project.focus = focus;
    $("label-short").hidden = true;
    showFocus();
    requeue();  // messages like those categories first, the one on screen too
    $("label-message").scrollIntoView({ block: "center" });
  } catch (error) {
    toast(error.message);
  }
}

async function stopLooking() {
  try {
    await post(`/api/labeling/${loop.id}/focus`, { categories: [] });
    project.focus = [];
    showFocus();
    requeue();
  } catch (error) {
    toast(error.message);
  }
}

function showFocus() {
  const focus = (project && project.focus) || [];
  $("label-focus").hidden = !focus.length;
  $("label-focus-text").textContent = focus.length ? `Looking for examples of ${focus.map((n) => `“${n}”`).join(", ")} first, `
    + `until each has ${project.min_examples}.` : "";
}

// The queue fetched afresh, the message on screen given back with it (unless it is one answered before).
function requeue() {
  if (loop.current && loop.current.given === undefined) {
    loop.queue.unshift(loop.current);
    loop.current = null;
  }
  refill(true);
}

async function train(event, without = null) {
  const short = shortCategories();
  if (short.length && without === null) return showShort(short);  // first the choice: label more, or train without
  $("label-short").hidden = true;
  const body = {};
  if (without && without.length) body.without = without;
  const epochs = parseInt($("label-epochs").value, 10);
  if (epochs > 0) body.epochs = epochs;
  $("label-train").disabled = true;
  setStatus("label-train-status", "Writing the labels and starting…", "busy");
  try {
    await post(`/api/labeling/${loop.id}/train`, body);
    setStatus("label-train-status", "");
    loadRuns();  // "Your models" shows it
    await refresh();
  } catch (error) {
    setStatus("label-train-status", error.message, "error");
  } finally {
    $("label-train").disabled = false;
  }
}

function showRun(p) {
  const run = p.run;
  $("label-run").hidden = !run;
  if (!run) return;
  const link = el("a", { href: `#run/${run.id}`, text: run.name || "the model" });
  const words = { queued: "is waiting for its turn", running: "is training…", completed: "is ready", stopped: "was stopped",
    failed: "failed", interrupted: "was interrupted", deleted: "was deleted" };
  // the figure its run page shows (accuracy_figure: with its size and range, the same on both pages)
  const score = run.figure ? ` · accuracy ${run.figure.text}` : "";
  const left = Object.keys(run.left_out || {});
  const cannot = left.length ? ` It cannot answer ${left.map((n) => `“${n}”`).join(", ")}: trained without ${left.length === 1 ? "it" : "them"}.` : "";
  $("label-run-text").replaceChildren(run.status === "deleted" ? "The last model trained here " : "", run.status === "deleted" ? "" : link,
    ` ${words[run.status] || run.status}`, el("span", { id: "label-run-figure", text: score }), run.status === "deleted" ? "" : cannot);
  $("label-run-agreement").textContent = run.figure && run.figure.agreement ? run.figure.agreement : "";
  showTraining(run);
  const usable = run.status === "completed" || run.status === "stopped" || run.status === "interrupted";
  const rest = p.status ? p.status.total - p.status.labeled : 0;
  const job = p.classify && p.classify.job;
  $("label-rest").disabled = !usable || !rest || (job && job.status === "running");
  $("label-rest-note").textContent = !usable ? "Once the model is trained, it can label every message you did not."
    : `Labels the ${count(rest)} messages without a label with this model; the file keeps the ones you labeled too, `
      + "your label in “your label”.";
  showJob(p, job);
}

// While its model trains: how far it got and the time left (the run page's figures, /api/runs/<id>).
async function showTraining(run) {
  const box = $("label-run-progress");
  if (run.status !== "running" && run.status !== "queued") { box.hidden = true; return; }
  let details;
  try {
    details = await api(`/api/runs/${run.id}`);
  } catch (error) {
    return;  // the next refresh asks again
  }
  if (!project || !project.run || project.run.id !== run.id) return;  // another project or run meanwhile
  const p = details.progress;
  const fraction = details.status === "running" ? p.fraction : 0;
  box.hidden = false;
  $("label-run-bar").style.width = `${(100 * fraction).toFixed(1)}%`;
  $("label-run-bar").classList.toggle("indeterminate", details.status === "running" && p.phase === "preparing");
  $("label-run-progress-text").textContent = trainingText(details);
}

function trainingText(run) {
  const p = run.progress;
  if (run.status === "queued") return "Waiting for another training to finish; it starts by itself.";
  if (p.phase === "preparing" || !p.total_steps) return "Preparing: reading the examples and loading the model…";
  if (p.phase === "saving") return "Measuring the model on its test messages and saving it…";
  const eta = steadyLeft(run.id, p.eta_s);
  const left = eta != null ? ` · ${leftText(eta)}` : "";
  return `${Math.round(100 * p.fraction)}${NBSP}% · step ${count(p.step)} of ${count(p.total_steps)} · ${duration(p.elapsed_s)} so far${left}`;
}

function showJob(p, job) {
  $("label-rest-job").hidden = !job;
  if (!job) return;
  const done = job.status === "completed";
  const fraction = done ? 1 : job.total ? job.rows / job.total : 0;
  $("label-rest-bar").style.width = `${(100 * fraction).toFixed(1)}%`;
  $("label-rest-bar").classList.toggle("indeterminate", job.status === "running" && job.phase !== "classifying");
  const mine = p.classify.labeled;  // absent: a file from before the labeled rows were in it
  $("label-rest-text").textContent = done && mine == null ? `Done: ${count(job.rows)} messages classified.`
    : done ? `Done: ${count(job.rows - mine)} messages classified. The file holds all ${count(job.rows)}: `
      + `the ${count(mine)} you labeled are marked in “${p.classify.column}”.`
    : job.status === "running" ? `Classifying ${count(job.rows)} of ${count(job.total || p.classify.messages)} messages…`
      : job.error || `Classifying ${job.status}.`;
  $("label-rest-downloads").hidden = !done;
  for (const kind of ["xlsx", "csv"]) {
    $(`label-rest-${kind}`).hidden = !done || !job.downloads.includes(kind);
    $(`label-rest-${kind}`).href = `/api/runs/${p.classify.run}/classify/download?format=${kind}&t=${Math.round(job.finished || 0)}`;
  }
}

async function classifyRest() {
  $("label-rest").disabled = true;
  try {
    await post(`/api/labeling/${loop.id}/classify-rest`);
    await refresh();
  } catch (error) {
    $("label-rest").disabled = false;
    toast(error.message);
  }
}

// ------------------------------------------------------------------ check the labels
async function startAudit() {
  try {
    await post(`/api/labeling/${loop.id}/audit`);
    followAudit();
  } catch (error) {
    setStatus("label-audit-status", error.message, "error");
  }
}

function followAudit() {
  follow("audit", (audit) => {
    $("label-audit").disabled = audit.status === "running";
    if (audit.status === "running") {
      setStatus("label-audit-status", `Checking ${count(audit.labels)} labels…`, "busy");
      return 700;
    }
    if (audit.status === "failed") setStatus("label-audit-status", audit.error, "error");
    else if (audit.status === "done") showAudit(audit);
    return 0;
  });
}

function showAudit(audit) {
  // Where the check cannot judge (too few examples: audit.reliability), it says so instead of flagging;
  // only messages almost the same as another labeled otherwise are still listed.
  const refusal = audit.refusal ? audit.refusal.charAt(0).toUpperCase() + audit.refusal.slice(1) + "." : null;
  const rows = refusal ? audit.rows.filter((row) => row.reason) : audit.rows;
  const found = refusal ? (rows.length ? ` ${count(rows.length)} are almost the same as another labeled otherwise:` : "")
    : ` ${count(audit.flagged)} look wrong to the model. The most suspicious first:`;
  setStatus("label-audit-status", `${count(audit.labels)} examples checked.${refusal ? " " + refusal : ""}${found}`, refusal ? "info" : "");
  $("label-audit-wrap").hidden = !rows.length;
  fillTable($("label-audit-table"), ["message", "your label", "the model says", "why", "correct it"], rows.map((row) => {
    const pick = el("select", { "aria-label": "label", "data-index": String(row.index) },
      ...project.label_names.map((name) => el("option", { value: name, text: name })));
    pick.value = row.label;
    const note = el("span", { class: "muted small nowrap" });
    pick.addEventListener("change", async () => {
      try {
        const saved = await post(`/api/labeling/${loop.id}/labels`, { index: row.index, label: pick.value });
        showCount(saved.status);
        note.textContent = ` saved`;
      } catch (error) {
        note.textContent = ` ${error.message}`;
      }
    });
    const why = row.reason || `the model gives “${row.label}” only ${percent(row.label_probability)} here`;
    return [row.text, row.label, row.suggested_label, why, el("span", {}, pick, note)];
  }));
}

// ------------------------------------------------------------------ wiring
export function init() {
  onFile($("view-label").querySelector(".dropzone"), $("label-file"), uploadFile);
  $("label-text-column").addEventListener("change", changeColumn);
  $("label-label-column").addEventListener("change", changeColumn);
  $("label-add-name").addEventListener("click", () => addName().querySelector("input").focus());
  $("label-model-path").addEventListener("focus", () => ($("label-model-custom").checked = true));
  $("label-create").addEventListener("click", create);
  $("label-rename").addEventListener("click", startRename);
  $("label-title").addEventListener("dblclick", startRename);
  $("label-delete").addEventListener("click", askDelete);
  $("label-undo").addEventListener("click", (e) => { e.currentTarget.blur(); back(); });
  $("label-skip").addEventListener("click", (e) => { e.currentTarget.blur(); answer(null); });
  $("label-train").addEventListener("click", train);
  $("label-epochs").addEventListener("change", () => loop.id && unlabeledCost());
  $("label-train-without").addEventListener("click", (event) => train(event, shortCategories().map(([name]) => name)));
  $("label-look-for").addEventListener("click", lookFor);
  $("label-focus-stop").addEventListener("click", stopLooking);
  $("label-rest").addEventListener("click", classifyRest);
  $("label-audit").addEventListener("click", startAudit);
  document.addEventListener("keydown", onKey);
  window.addEventListener("pagehide", () => { if (loop.id) leave(); });
  connection.onBack(() => { listProjects(); if (loop.id) refresh(); });
  listProjects();
}
