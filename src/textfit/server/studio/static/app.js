// textfit studio: plain JavaScript over the studio's JSON API. No build step, no network beyond localhost.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { upload: null, preview: null, runId: null, timer: null, runsTimer: null, shownResults: null };

// ---------------------------------------------------------------- helpers
async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw textfitConnection.failed(error);  // no answer at all: a banner and retries (connection.js)
  }
  let body = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) body = await response.json();
  if (!response.ok) {
    const message = (body && body.error) || `${response.status} ${response.statusText}`;
    // The access token is missing or stale (the studio restarted with a new one): the page at /
    // says how to get in.
    if (response.status === 401 || (response.status === 403 && message.includes("access token"))) location.assign("/");
    throw new Error(message);
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
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

// Edit a heading in place: Enter or leaving the field saves, Escape cancels. `save(name)` stores a
// changed name and resolves to what the heading should say (runs-admin.js, labeling.js).
function editTitle(title, inputId, current, save) {
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

function toast(message) {
  const box = $("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 8000);
}

function setStatus(id, message, kind = "") {
  const node = $(id);
  node.textContent = message || "";
  node.className = "status-line " + kind;
}

const known = (x) => x != null && x !== "" && isFinite(x);  // never "null", "undefined" or "NaN" on the page
const pct = (x) => (known(x) ? (100 * x).toFixed(1) + "%" : "–");
const num = (x, d = 3) => (known(x) ? Number(x).toFixed(d) : "–");

function duration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "–";
  seconds = Math.max(0, Math.round(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${String(s).padStart(2, "0")} s`;
  return `${s} s`;
}

function when(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

const STATUS_WORDS = { queued: "waiting", running: "training", completed: "ready", stopped: "stopped", failed: "failed", interrupted: "interrupted" };
const ACTIVE = (status) => status === "running" || status === "queued";

function queueText(run) {
  if (!run.queue) return "";
  const after = run.queue.waiting_for ? `waiting for “${run.queue.waiting_for}” to finish` : "waiting for a free place";
  return `${after} · place ${run.queue.position} in the queue`;
}

// A cell of figures ("0.93", "86.4%", "2.96 / 4"), never a message: such cells do not wrap.
const numeric = (cell) => /\d/.test(String(cell ?? "")) && !/[A-Za-z]{2,}/.test(String(cell));

function fillTable(table, headers, rows) {
  table.replaceChildren();
  const head = el("tr");
  headers.forEach((h) => head.append(el("th", { text: h })));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  rows.forEach((cells) => {
    const tr = el("tr");
    cells.forEach((cell) => tr.append(cell instanceof Node ? el("td", {}, cell)
      : el("td", { text: cell ?? "", class: numeric(cell) ? "num" : "" })));
    body.append(tr);
  });
  table.append(body);
}

// ---------------------------------------------------------------- routing
function route() {
  const match = location.hash.match(/^#run\/([a-z0-9-]+)$/);
  clearTimeout(state.timer);
  if (match) {
    state.runId = match[1];
    $("view-new").hidden = true;
    $("view-run").hidden = false;
    state.shownResults = null;
    loadRun();
  } else {
    state.runId = null;
    $("view-run").hidden = true;
    $("view-new").hidden = location.hash.startsWith("#label");  // labeling.js shows its own view
  }
  highlightRun();
}

// ---------------------------------------------------------------- runs list
async function loadRuns() {
  clearTimeout(state.runsTimer);
  try {
    const { runs } = await api("/api/runs");
    const list = $("runs-list");
    list.replaceChildren();
    if (!runs.length) list.append(el("li", { class: "muted", text: "Nothing trained yet." }));
    for (const run of runs) {
      const score = run.metrics ? `accuracy ${pct(run.metrics.accuracy)}`
        : run.queue ? `waiting (place ${run.queue.position})` : textfitOutcome.word(run);
      const yardstick = run.metrics && run.yardstick;
      const link = el("a", { href: `#run/${run.id}`, "data-run": run.id },
        el("span", { class: "run-name", text: run.name }),
        el("span", { class: "run-meta" }, el("span", { class: `dot ${run.status}` }), `${score} · ${when(run.created)}`),
        yardstick && yardstick.beats === false ? el("span", { class: "run-ending",  // the yardstick (insight.py)
          text: `no better than always “${yardstick.label}” (${pct(yardstick.accuracy)})` }) : "",
        textfitOutcome.ending(run));  // "stopped: time budget reached" under a scored run (outcome.js)
      list.append(el("li", {}, link));
    }
    highlightRun();
    textfitRuns.listed(runs);  // disk use (runs-admin.js)
    if (runs.some((r) => ACTIVE(r.status))) state.runsTimer = setTimeout(loadRuns, 3000);
  } catch (error) {
    state.runsTimer = setTimeout(loadRuns, 5000);
  }
}

function highlightRun() {
  document.querySelectorAll("#runs-list a").forEach((a) => a.classList.toggle("active", a.dataset.run === state.runId));
}

// ---------------------------------------------------------------- step 1: data
async function uploadFile(file) {
  if (!file) return;
  if (file.size > state.maxUpload) {
    setStatus("upload-status", `“${file.name}” is ${(file.size / 1048576).toFixed(1)} MB, more than the limit of ${$("max-upload").textContent}.`, "error");
    return;
  }
  setStatus("upload-status", `Reading “${file.name}”…`, "busy");
  try {
    // The file itself is the body: the studio writes it to disk as it arrives.
    const query = new URLSearchParams({ filename: file.name });
    showPreview(await api(`/api/uploads?${query}`, { method: "PUT", body: file, headers: { "Content-Type": "application/octet-stream" } }));
    setStatus("upload-status", "");
  } catch (error) {
    setStatus("upload-status", error.message, "error");
    $("data-summary").hidden = true;
    $("settings-card").hidden = true;
  }
}

async function useSample() {
  setStatus("upload-status", "Loading the example data…", "busy");
  try {
    showPreview(await api("/api/uploads/sample", { method: "POST" }));
    setStatus("upload-status", "");
  } catch (error) {
    setStatus("upload-status", error.message, "error");
  }
}

async function changeColumns() {
  if (!state.upload) return;
  const params = new URLSearchParams();
  if ($("text-column").value) params.set("text_column", $("text-column").value);
  if ($("label-column").value) params.set("label_column", $("label-column").value);
  try {
    showPreview(await api(`/api/uploads/${state.upload.id}?${params}`), true);
  } catch (error) {
    toast(error.message);
  }
}

function showPreview(data, keepPickers = false) {
  state.upload = data.upload;
  state.preview = data;
  $("data-summary").hidden = false;
  $("settings-card").hidden = false;
  $("file-facts").replaceChildren(...[
    el("span", { class: "file-name", text: data.upload.original_name }),
    el("span", { text: `${data.rows.toLocaleString()} rows` }),
    el("span", { text: data.columns.length === 1 ? "1 column" : `${data.columns.length} columns` }),
    data.labels ? el("span", { text: `${data.labels.distinct} labels` }) : null].filter(Boolean));  // null would print "null"

  if (!keepPickers) {
    for (const [id, chosen] of [["text-column", data.text_column], ["label-column", data.label_column]]) {
      const select = $(id);
      select.replaceChildren(el("option", { value: "", text: "— choose a column —" }));
      data.columns.forEach((c) => select.append(el("option", { value: c, text: c })));
      select.value = chosen || "";
    }
    $("label-names").value = data.label_names ? data.label_names.join(", ") : "";
    if (!$("run-name").value) $("run-name").placeholder = data.upload.original_name.replace(/\.[^.]+$/, "");
  }

  const labelIndex = data.columns.indexOf(data.label_column);
  const named = (row) => row.map((cell, i) => (i === labelIndex && data.label_names && /^\d+$/.test(cell) && data.label_names[+cell]
    ? `${cell} · ${data.label_names[+cell]}` : cell));
  fillTable($("preview-table"), data.columns, data.preview.map(named));
  const bars = $("label-counts");
  bars.replaceChildren();
  if (data.labels) {
    const max = Math.max(...data.labels.counts.map((c) => c.count));
    const shown = data.labels.counts.slice(0, 30);
    for (const item of shown) {
      const name = item.name ? `${item.name}` : item.value;
      bars.append(el("div", { class: "bar-row", title: item.name ? `${item.value} = ${item.name}` : item.value },
        el("span", { class: "bar-label", text: name }),
        el("span", { class: "bar-track" }, el("span", { class: "bar-fill", style: `width:${(100 * item.count) / max}%` })),
        el("span", { class: "bar-count", text: item.count })));
    }
    if (data.labels.counts.length > shown.length) bars.append(el("p", { class: "muted small", text: `and ${data.labels.distinct - shown.length} more labels` }));
  } else {
    bars.append(el("p", { class: "muted", text: "Choose the label column to see how many examples each label has." }));
  }

  const problems = $("data-problems");
  problems.replaceChildren();
  const warn = (text) => problems.append(el("p", { class: "notice warn", text }));
  if (data.columns.length === 1) warn("No label column: this file has only one column; add a column with the label of each message. (If it has one, its separator was not recognised: use commas, semicolons or tabs between columns.)");
  else if (!data.text_column || !data.label_column) warn("Pick the text column and the label column above.");
  if (data.text_column && data.text_column === data.label_column) warn("The text and the label must be different columns.");
  if (data.labels && data.labels.missing) warn(`${data.labels.missing} row(s) have no label; remove them from the file or fill them in.`);
  if (data.texts && data.texts.empty) warn(`${data.texts.empty} row(s) have an empty text.`);
  if (data.labels && data.labels.single.length) warn(`Some labels have a single example (${data.labels.single.slice(0, 5).join(", ")}). They are learned from, but cannot be checked: the score leaves them out.`);
  if (data.labels && data.labels.distinct > 200) warn(`The label column has ${data.labels.distinct} different values: is it really the label?`);
  if (data.encoding_note) problems.append(el("p", { class: "notice info", text: data.encoding_note }));
  textfitLabels.checked(data);  // number labels: a prompt to name them; one column: no training (labels.js)
  if (data.label_names) problems.append(el("p", { class: "notice info", text: "This is textfit's example data: its numbered labels were given their topic names (see “Label names” below)." }));
}

// ---------------------------------------------------------------- step 2: start
async function startRun() {
  if (!state.upload) return setStatus("start-status", "Upload a data file first.", "error");
  const body = {
    upload_id: state.upload.id,
    text_column: $("text-column").value,
    label_column: $("label-column").value,
  };
  if (!body.text_column || !body.label_column) return setStatus("start-status", "Pick the text and the label columns first.", "error");
  if (document.querySelector("input[name=model-choice]:checked").value === "custom") {
    body.model = $("model-path").value.trim();
    if (!body.model) return setStatus("start-status", "Type a model id or folder, or pick the recommended model.", "error");
  }
  const length = document.querySelector("input[name=length]:checked").value;
  if (length === "epochs") body.epochs = parseInt($("epochs").value, 10);
  if (length === "time") body.time_budget = parseFloat($("time-budget").value);
  const name = $("run-name").value.trim();
  if (name) body.name = name;
  const names = $("label-names").value.trim();
  if (names) body.label_names = names;
  if ($("strategy").value !== "auto") body.strategy = $("strategy").value;
  $("start").disabled = true;
  setStatus("start-status", "Checking the data and starting…", "busy");
  try {
    const run = await api("/api/runs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    setStatus("start-status", "");
    await loadRuns();
    location.hash = `#run/${run.id}`;
  } catch (error) {
    setStatus("start-status", error.message, "error");
  } finally {
    $("start").disabled = false;
  }
}

// ---------------------------------------------------------------- steps 3-6: one run
async function loadRun() {
  const runId = state.runId;
  clearTimeout(state.timer);
  let run;
  try {
    run = await api(`/api/runs/${runId}`);
  } catch (error) {
    if (error.offline) return;  // connection.js says so, and loads the run again when the studio answers
    $("run-title").textContent = "Run not found";
    $("run-subtitle").textContent = error.message;
    $("progress-card").hidden = true;
    $("results").hidden = true;
    return;
  }
  if (runId !== state.runId) return;
  showRun(run);
  if (ACTIVE(run.status)) state.timer = setTimeout(loadRun, 1000);
  else if (ACTIVE(state.lastStatus)) loadRuns();
  if (run.status === "running" && state.lastStatus === "queued") loadRuns();
  state.lastStatus = run.status;
}

function showRun(run) {
  const s = run.settings;
  $("run-title").textContent = run.name;
  const model = !s.model || s.model === "default" ? "all-MiniLM-L6-v2" : s.model;
  const length = s.epochs ? `at most ${s.epochs} epoch${s.epochs > 1 ? "s" : ""}` : s.time_budget ? `at most ${s.time_budget} min` : "automatic length";
  const data = [run.data_name, s.examples != null && s.labels != null ? `${s.examples} examples, ${s.labels} labels` : null].filter((x) => x != null).join(": ");
  const columns = s.text_column && s.label_column ? `text “${s.text_column}”, label “${s.label_column}”` : null;
  const strategy = { fewshot: "few-shot", finetune: "fine-tuning" }[s.strategy];  // absent: textfit chose
  $("run-subtitle").textContent = [data, columns, model, strategy, length, `started ${when(run.created)}`].filter(Boolean).join(" · ");
  const badge = $("run-status");
  badge.textContent = STATUS_WORDS[run.status] || run.status;
  badge.className = `badge ${run.status}`;
  const message = $("run-message");
  const note = run.message || queueText(run);
  message.hidden = !note;
  message.textContent = note;
  message.className = `notice ${run.status === "failed" ? "error" : run.status === "completed" ? "info" : "warn"}`;

  const p = run.progress;
  $("progress-card").hidden = !ACTIVE(run.status) && !p.evaluations.length && !p.losses.length;
  $("stop-row").hidden = !ACTIVE(run.status);
  $("stop").textContent = run.status === "queued" ? "Take off the queue" : "Stop training";
  $("stop-note").textContent = run.status === "queued" ? "It has not started; nothing is lost." : "Stopping keeps the best model so far; Resume trains on later.";
  $("resume-row").hidden = !run.resumable;
  if (run.resumable) {
    const r = run.resumable;
    $("resume-note").textContent = r.step
      ? `Continues from the checkpoint at step ${r.step} of ${r.total_steps}${r.saved ? ` (saved ${when(Date.parse(r.saved) / 1000)})` : ""}; nothing before it is trained again.`
      : "No checkpoint was written before it stopped: it starts over with the same settings.";
  }
  textfitOutcome.shown(run);  // a run that ended early: how far it got, "Train again" (outcome.js)
  const bar = $("progress-bar");
  const fraction = run.status === "completed" ? 1 : p.fraction;
  bar.style.width = `${(100 * fraction).toFixed(1)}%`;
  bar.classList.toggle("indeterminate", run.status === "running" && p.phase === "preparing");
  let text;
  if (run.status === "queued") text = `Waiting: ${queueText(run)}. It starts by itself.`;
  else if (run.status === "running" && p.phase === "preparing") text = "Preparing: reading the data and loading the model…";
  else if (run.status === "running" && p.phase === "saving") text = `Step ${p.step} of ${p.total_steps}: measuring ${p.final_fit_follows ? "the model; then the final fit on every example…" : "and saving the model…"}`;
  else if (run.status === "running" && !p.step) text = p.total_steps ? `Starting: ${p.total_steps} steps to go over ${p.epochs} epoch${p.epochs > 1 ? "s" : ""}…` : "Starting…";
  else if (run.status === "running" && p.phase === "final fit") text = `Final fit on every example: step ${p.step} of ${p.total_steps} · ${duration(p.elapsed_s)} so far` +
    (p.eta_s != null ? ` · about ${duration(p.eta_s)} left` : "");  // the scores are the hold-out run's, already shown
  else if (run.status === "running") text = `Step ${p.step} of ${p.total_steps} · epoch ${num(p.epoch, 2)} of ${p.epochs} · loss ${num(p.loss)} · ${duration(p.elapsed_s)} so far` +
    (p.eta_s != null ? ` · about ${duration(p.eta_s)} left${p.final_fit_follows ? " with the final fit" : ""}` : "");  // the measured pace (progress.py)
  else text = textfitOutcome.progressText(run);
  // each "·" part stays on one line: "epoch 2.96 of 4" never breaks inside
  $("progress-text").replaceChildren(...text.split(" · ").flatMap((part, i) => [i ? " · " : "", el("span", { class: "nowrap", text: part })]));
  drawLoss(p.losses, p.total_steps);
  fillTable($("epochs-table"), ["epoch", "loss", "accuracy", "macro-F1", ""],
    p.evaluations.map((e) => [num(e.epoch, 2), num(e.loss), pct(e.accuracy), num(e.macro_f1), e.best ? "★ best" : ""]));
  if (!p.evaluations.length) $("epochs-table").append(el("caption", { class: "muted", text: textfitOutcome.noScoreYet(run) }));

  $("results").hidden = !run.has_model;
  if (run.has_model && state.shownResults !== run.id + run.status) {
    state.shownResults = run.id + run.status;
    loadResults(run);
  }
  showExport(run.export);
  textfitRuns.shown(run);  // rename, delete, disk use, the zip's size, "Serve this model" (runs-admin.js)
}

function drawLoss(points, total) {
  const svg = $("loss-chart");
  svg.replaceChildren();
  const empty = !points || points.length < 2;
  $("loss-empty").hidden = !empty;
  for (const id of ["loss-max", "loss-min", "loss-steps"]) $(id).textContent = "";
  if (empty) return;
  const maxX = Math.max(total || 0, points[points.length - 1][0]);
  const losses = points.map((p) => p[1]);
  const maxY = Math.max(...losses) * 1.05, minY = 0;
  const x = (v) => 8 + (384 * v) / maxX;
  const y = (v) => 150 - (140 * (v - minY)) / (maxY - minY || 1);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
  svg.append(svgEl("line", { x1: 8, y1: 150, x2: 392, y2: 150, class: "axis" }));
  svg.append(svgEl("path", { d: path, class: "loss-line" }));
  $("loss-max").textContent = num(maxY, 2);
  $("loss-min").textContent = "0";
  $("loss-steps").textContent = `step ${points[points.length - 1][0]} of ${maxX}`;
}

function svgEl(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

async function loadResults(run) {
  let r;
  try {
    r = await api(`/api/runs/${run.id}/results`);
  } catch (error) {
    return toast(error.message);
  }
  $("results-intro").textContent = `Measured on ${r.data.eval_examples} messages the model never saw while training (${r.data.eval_source}). Trained on ${r.data.train_examples} examples from ${r.base_model}.`;
  $("metric-accuracy").textContent = pct(r.metrics.accuracy);
  $("metric-macro-f1").textContent = num(r.metrics.macro_f1, 2);
  $("metric-examples").textContent = r.data.eval_examples;
  const f1Cell = (v) => el("span", { class: "cell-bar" }, el("span", { class: "cell-fill", style: `width:${100 * v}%` }), el("span", { class: "cell-text", text: num(v, 2) }));
  fillTable($("per-class-table"), ["label", "precision", "recall", "F1", "test messages"],
    r.per_class.map((c) => [c.label, num(c.precision, 2), num(c.recall, 2), f1Cell(c.f1), String(c.support)]));
  $("confusion").src = `/api/runs/${run.id}/files/confusion_matrix.png?t=${run.finished || ""}`;
  $("wrong-count").textContent = r.misclassified_total ? `(${r.misclassified_total}${r.misclassified_total > r.misclassified.length ? ", first " + r.misclassified.length + " shown" : ""})` : "(none)";
  fillTable($("misclassified-table"), ["message", "true label", "the model said", "its confidence"],
    r.misclassified.map((m) => [m.text, m.true_label, m.predicted_label, pct(m.score)]));
  $("download").href = `/api/runs/${run.id}/download`;
  $("serve-command").textContent = `textfit serve "${r.model_folder}"`;
  $("try-result").replaceChildren();
  textfitInsight.show(run);  // the yardstick, the "not sure" threshold (insight.js)
}

async function tryText() {
  const text = $("try-text").value.trim();
  if (!text || !state.runId) return;
  if (text.includes("\n")) return textfitClassify.tryLines(text, state.runId);  // one message a line (classify.js)
  const box = $("try-result");
  box.replaceChildren(el("span", { class: "muted", text: "Thinking…" }));
  try {
    const result = await api(`/api/runs/${state.runId}/predict`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text, top_k: 3, min_confidence: textfitInsight.minConfidence() }),
    });
    box.replaceChildren(
      textfitInsight.answer(result, "try-label"),
      ...result.top_k.slice(1).map((g) => el("div", { class: "runner-up" },
        el("span", { class: "bar-label", text: g.label }),
        el("span", { class: "bar-track" }, el("span", { class: "bar-fill light", style: `width:${100 * g.score}%` })),
        el("span", { class: "bar-count", text: pct(g.score) }))),
      textfitInsight.why(text, true));
  } catch (error) {
    box.replaceChildren(el("span", { class: "error", text: error.message }));
  }
}

function showExport(exported) {
  if (!exported || $("export").disabled) return;
  if (exported.ok) setStatus("export-status", `Exported: ${exported.files.map((f) => f.name).join(", ")} (inside the model folder and the .zip).`, "ok");
}

async function exportOnnx() {
  const button = $("export");
  button.disabled = true;
  setStatus("export-status", "Exporting to ONNX and checking the result… (this can take a minute)", "busy");
  try {
    const result = await api(`/api/runs/${state.runId}/export`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ quantize: $("export-int8").checked }),
    });
    setStatus("export-status", `Exported: ${result.files.map((f) => f.name).join(", ")} (inside the model folder and the .zip).`, "ok");
    textfitRuns.refresh();  // the zip's size changed
  } catch (error) {
    setStatus("export-status", error.message, "error");
  } finally {
    button.disabled = false;
  }
}

async function resumeRun() {
  try {
    await api(`/api/runs/${state.runId}/resume`, { method: "POST" });
    toast("Resuming: the run continues from its last checkpoint.");
    loadRuns();
    loadRun();
  } catch (error) {
    toast(error.message);
  }
}

async function stopRun() {
  try {
    const run = await api(`/api/runs/${state.runId}/stop`, { method: "POST" });
    toast(run.started ? "Stopping: the best model so far is being saved." : "Taken off the queue.");
    loadRun();
  } catch (error) {
    toast(error.message);
  }
}

// ---------------------------------------------------------------- wiring
async function init() {
  try {
    const info = await api("/api/info");
    $("max-upload").textContent = info.max_upload;
    state.maxUpload = info.max_upload_bytes;
    $("sample-line").hidden = !info.sample_available;
  } catch (error) {
    if (!error.offline) toast(error.message);  // no answer: connection.js's banner says so
  }
  $("file-input").addEventListener("change", (e) => uploadFile(e.target.files[0]));
  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); uploadFile(e.dataTransfer.files[0]); });
  $("use-sample").addEventListener("click", useSample);
  $("text-column").addEventListener("change", changeColumns);
  $("label-column").addEventListener("change", changeColumns);
  $("model-path").addEventListener("focus", () => ($("model-custom").checked = true));
  $("epochs").addEventListener("focus", () => ($("length-epochs").checked = true));
  $("time-budget").addEventListener("focus", () => ($("length-time").checked = true));
  $("start").addEventListener("click", startRun);
  $("try-button").addEventListener("click", tryText);
  $("try-text").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); tryText(); } });
  $("export").addEventListener("click", exportOnnx);
  $("stop").addEventListener("click", stopRun);
  $("resume").addEventListener("click", resumeRun);
  $("train-again").addEventListener("click", textfitOutcome.trainAgain);
  textfitConnection.onBack(() => { loadRuns(); if (state.runId) loadRun(); });  // the studio answers again
  window.addEventListener("hashchange", route);
  await loadRuns();
  if (!location.hash) location.hash = "#new";
  else route();
}

init();
