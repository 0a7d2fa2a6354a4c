// textfit studio: "Classify a file" (classify_files.py) and "try it" with one message a line.
// A file is uploaded (PUT /api/uploads/to-classify), its sheet and text column picked, and a job
// started for the run on the page; the job runs on the studio's side whatever the page does, so a
// reloaded page finds it again (GET /api/runs/<id>/classify) and follows it until it is done.
// run-page.js calls opened(runId) when the page shows a run (or null), and tryLines(text, runId)
// when "try it" holds several lines.
import { api, post, putFile } from "./api.js";
import { $, el, fillTable, onFile, setStatus } from "./dom.js";
import { count, duration, NBSP, pct } from "./format.js";
import { minConfidence } from "./insight.js";

let runId = null, upload = null, timer = null;

// ------------------------------------------------------------------ the run on the page
export function opened(id) {
  clearTimeout(timer);
  runId = id;
  upload = null;
  $("classify-setup").hidden = true;
  $("classify-job").hidden = true;
  $("classify-file").value = "";
  setStatus("classify-upload-status", "");
  if (runId) follow();
}

async function follow() {
  const followed = runId;
  clearTimeout(timer);
  let job;
  try {
    ({ job } = await api(`/api/runs/${followed}/classify`));
  } catch (error) {
    if (followed === runId) timer = setTimeout(follow, 5000);  // the studio is restarting: try again
    return;
  }
  if (followed !== runId) return;
  showJob(job);
  if (job && job.status === "running") timer = setTimeout(follow, 1000);
}

// ------------------------------------------------------------------ choosing a file
async function uploadFile(file) {
  if (!file || !runId) return;
  setStatus("classify-upload-status", `Reading “${file.name}”…`, "busy");
  $("classify-setup").hidden = true;
  try {
    showFile(await putFile("/api/uploads/to-classify", file));
    setStatus("classify-upload-status", "");
  } catch (error) {
    setStatus("classify-upload-status", error.message, "error");
  }
}

async function changeSheet() {
  try {
    const query = new URLSearchParams({ sheet: $("classify-sheet").value });
    showFile(await api(`/api/uploads/${upload.id}/to-classify?${query}`));
  } catch (error) {
    setStatus("classify-start-status", error.message, "error");
  }
}

function showFile(described) {
  upload = described.upload;
  $("classify-setup").hidden = false;
  setStatus("classify-start-status", "");
  $("classify-facts").replaceChildren(...[  // replaceChildren would print a null as "null"
    el("span", { class: "file-name", text: upload.original_name }),
    el("span", { text: `${described.columns.length}${NBSP}column${described.columns.length === 1 ? "" : "s"}` }),
    described.sheets && described.sheets.length > 1 ? el("span", { text: `${described.sheets.length}${NBSP}sheets` }) : null].filter(Boolean));
  const sheets = described.sheets || [];
  $("classify-sheet-field").hidden = sheets.length < 2;
  $("classify-sheet").replaceChildren(...sheets.map((name) => el("option", { value: name, text: name })));
  if (described.sheet) $("classify-sheet").value = described.sheet;
  const column = $("classify-column");
  column.replaceChildren(el("option", { value: "", text: "— choose a column —" }),
    ...described.columns.map((name) => el("option", { value: name, text: name })));
  column.value = described.text_column || "";
  const problem = $("classify-problem");
  problem.replaceChildren();
  if (described.problem) problem.append(el("p", { class: "notice warn", text: described.problem }));
  fillTable($("classify-preview"), described.columns, described.preview, false);
  offerSlider();
}

// The "not sure" threshold is chosen here, in sight: never filled in from the slider above unasked.
function offerSlider() {
  const chosen = minConfidence(), offer = $("classify-use-slider");
  offer.hidden = !chosen;
  if (chosen) offer.textContent = `Use the slider’s ${Math.round(100 * chosen)}${NBSP}%`;
}

function useSlider() {
  const chosen = minConfidence();
  if (chosen) $("classify-min-confidence").value = Math.round(100 * chosen);
}

async function start() {
  if (!upload || !runId) return;
  const body = { upload_id: upload.id };
  if ($("classify-column").value) body.text_column = $("classify-column").value;
  else return setStatus("classify-start-status", "Pick the column that holds the texts first.", "error");
  if (!$("classify-sheet-field").hidden) body.sheet = $("classify-sheet").value;
  const threshold = $("classify-min-confidence").value.trim();
  if (threshold) {
    const value = Number(threshold);
    if (!(value >= 0 && value <= 100)) return setStatus("classify-start-status", "“Not sure” below: a percentage from 0 to 100, or empty.", "error");
    if (value > 0) body.min_confidence = value / 100;
  }
  $("classify-start").disabled = true;
  try {
    const { job } = await post(`/api/runs/${runId}/classify`, body);
    $("classify-setup").hidden = true;
    showJob(job);
    timer = setTimeout(follow, 1000);
  } catch (error) {
    setStatus("classify-start-status", error.message, "error");
  } finally {
    $("classify-start").disabled = false;
  }
}

async function stop() {
  try {
    showJob((await api(`/api/runs/${runId}/classify/stop`, { method: "POST" })).job);
  } catch (error) {
    $("classify-progress").textContent = error.message;
  }
}

// ------------------------------------------------------------------ the job
function showJob(job) {
  $("classify-job").hidden = !job;
  if (!job) return;
  const running = job.status === "running", done = job.status === "completed";
  const fraction = done ? 1 : job.total ? job.rows / job.total : 0;
  $("classify-bar").style.width = `${(100 * fraction).toFixed(1)}%`;
  $("classify-bar").classList.toggle("indeterminate", running && job.phase !== "classifying");
  $("classify-stop-row").hidden = !running;
  $("classify-error").hidden = !job.error;
  $("classify-error").textContent = job.error || "";
  $("classify-progress").textContent = progressText(job);
  $("classify-done").hidden = !done;
  if (done) showResults(job);
}

function progressText(job) {
  const name = `“${job.input_name}”${job.sheet ? ` (sheet “${job.sheet}”)` : ""}`;
  const pace = job.rows_per_second ? `${count(Math.round(job.rows_per_second))}${NBSP}rows/s` : "";
  if (job.status === "completed") {
    const seconds = job.finished && job.started ? job.finished - job.started : null;
    const threshold = job.min_confidence == null ? "" : job.several_labels ? notSureLabels(job)
      : ` “Not sure” below ${pct(job.min_confidence)}: those rows keep the best guess and its confidence in the file.`;
    return `Done: ${count(job.rows)}${NBSP}rows of ${name} classified${seconds != null ? ` in ${duration(seconds, NBSP)}` : ""}`
      + (pace ? ` (${pace})` : "") + "." + (job.empty_rows ? ` ${count(job.empty_rows)} had no text: they are in the file, without an answer.` : "")
      + threshold;
  }
  if (job.status === "failed") return `Classifying ${name} failed.`;
  if (job.status === "stopped") return `Stopped after ${count(job.rows)}${NBSP}rows of ${name}; nothing was saved.`;
  if (job.phase === "classifying") {
    const left = job.rows_per_second && job.total ? ` · about ${duration((job.total - job.rows) / job.rows_per_second, NBSP)} left` : "";
    return `${count(job.rows)} of ${count(job.total)}${NBSP}rows of ${name}` + (pace ? ` · ${pace}` : "") + left;
  }
  if (job.phase === "loading") return `Loading the model to classify ${count(job.total)}${NBSP}rows of ${name}…`;
  if (job.phase === "saving") return `Writing the results for ${name}…`;
  return `Counting the rows of ${name}…`;
}

// Several labels a text, with a threshold: the labels it is not sure of are in a column apart (job.py).
function notSureLabels(job) {
  const rows = job.not_sure_rows || 0;
  if (!rows) return ` It was at least ${pct(job.min_confidence)} sure of every label of every row.`;
  return ` ${count(rows)}${NBSP}row${rows === 1 ? " has" : "s have"} at least one label it is less than ${pct(job.min_confidence)} sure of: `
    + "those labels are in the “not sure” column, apart from the predicted labels.";
}

function showResults(job) {
  const counts = Object.entries(job.label_counts || {});
  if (job.not_sure_rows != null) counts.push(["not sure (a label or more)", job.not_sure_rows]);
  const most = Math.max(1, ...counts.map(([, n]) => n));
  $("classify-counts").replaceChildren(...counts.map(([label, n]) => el("div", { class: `bar-row${label.startsWith("not sure") ? " not-sure" : ""}` },
    el("span", { class: "bar-label", text: label, title: label }),
    el("span", { class: "bar-track" }, el("span", { class: "bar-fill", style: `width:${(100 * n) / most}%` })),
    el("span", { class: "bar-count", text: `${count(n)} · ${pct(n / job.rows)}` }))));
  for (const kind of ["xlsx", "csv"]) {
    const link = $(`classify-download-${kind}`);
    link.hidden = !job.downloads.includes(kind);
    link.href = `/api/runs/${runId}/classify/download?format=${kind}&t=${Math.round(job.finished || 0)}`;
  }
  $("classify-download-note").textContent = job.downloads.includes("xlsx") ? ""
    : "More rows than an Excel sheet holds (1,048,576): the CSV has them all.";
  const missing = job.unanswerable || [];
  $("classify-unanswerable").hidden = !missing.length;
  $("classify-unanswerable").textContent = missing.length ? `This model never answers ${missing.map((n) => `“${n}”`).join(", ")}: `
    + "it was trained without examples of them, so no row above can be one of them." : "";
}

// ------------------------------------------------------------------ "try it": one message a line
export async function tryLines(text, run) {
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  const box = $("try-result");
  if (lines.length > 100) {
    box.replaceChildren(el("span", { class: "error", text: `${count(lines.length)} lines: “try it” answers at most 100 at once. For more, use “Classify a file” below.` }));
    return;
  }
  box.replaceChildren(el("span", { class: "muted", text: "Thinking…" }));
  const chosen = minConfidence();
  try {
    const { results } = await post(`/api/runs/${run}/predict`, { texts: lines, top_k: 3, ...(chosen ? { min_confidence: chosen } : {}) });
    // several labels a text: every label at or above its threshold (and apart, those it is not sure of), and their scores
    const scored = (r) => r.labels.map((name) => pct(r.scores.find((s) => s.label === name).score)).join("; ");
    const doubts = (r) => r.not_sure && r.not_sure.length ? el("span", { class: "not-sure", text: ` · not sure: ${r.not_sure.join("; ")}` }) : null;
    const answer = (r) => r.multi_label ? el("span", {}, el("span", { class: "try-lines-label", text: r.labels.join("; ") || "none" }), doubts(r))
      : r.not_sure ? el("span", { class: "not-sure", text: `not sure (best guess: ${r.guess})` })
        : el("span", { class: "try-lines-label", text: r.label });
    const result = el("table", { class: "data try-lines", id: "try-lines" });
    fillTable(result, ["message", "label", "confidence"],
      results.map((r) => [r.text, answer(r), el("span", { class: "nowrap", text: r.multi_label ? scored(r) : pct(r.score) })]), false);
    box.replaceChildren(el("p", { class: "muted small", text: `${lines.length} messages, one a line:` }),
      el("div", { class: "table-wrap" }, result));
  } catch (error) {
    box.replaceChildren(el("span", { class: "error", text: error.message }));
  }
}

// ------------------------------------------------------------------ wiring
export function init() {
  onFile($("classify-dropzone"), $("classify-file"), uploadFile);
  $("classify-sheet").addEventListener("change", changeSheet);
  $("classify-start").addEventListener("click", start);
  $("classify-use-slider").addEventListener("click", useSlider);
  $("classify-stop").addEventListener("click", stop);
}
