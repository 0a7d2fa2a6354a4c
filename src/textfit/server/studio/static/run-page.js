// textfit studio: one run's page, steps 3 to 7: its progress while it waits or trains (polled
// every second), stop / resume / train again, its results, "try it", and the model to take away.
// The "not sure" threshold and "Why?" are insight.js's, "Classify a file" classify.js's,
// rename / delete / "Serve this model" runs-admin.js's.
import { api, post } from "./api.js";
import * as classify from "./classify.js";
import { $, el, fillTable, setStatus, svgEl, toast } from "./dom.js";
import { duration, figureSize, figureValue, leftText, NBSP, num, pct, steadyLeft, when } from "./format.js";
import * as insight from "./insight.js";
import * as outcome from "./outcome.js";
import { ACTIVE, queueText, STATUS_WORDS } from "./outcome.js";
import * as runsAdmin from "./runs-admin.js";
import { loadRuns } from "./runs-list.js";

let runId = null;         // the run on the page; null while another view shows
let timer = null;         // the next poll of the run
let lastStatus = null;    // its status at the last poll
let shownResults = null;  // id + status of the run whose results are shown

// The page shows run `id` (null: another view).
export function opened(id) {
  clearTimeout(timer);
  runId = id;
  $("view-run").hidden = !id;
  if (id) {
    shownResults = null;
    lastStatus = null;
    forgetShown();  // nothing of the run shown before stays on this one's page
    loadRun();
  }
  classify.opened(id);
}

// What the page shows of one run only: emptied before another run's page fills it.
function forgetShown() {
  insight.forget();  // the yardstick beside the accuracy and under the epochs table, the "not sure" slider
  for (const id of ["progress-text", "try-result", "misclassified-table", "per-class-table", "epochs-table"]) $(id).replaceChildren();
  setStatus("export-status", "");
  $("results").hidden = true;
}

export async function loadRun() {
  const id = runId;
  if (!id) return;
  clearTimeout(timer);
  let run;
  try {
    run = await api(`/api/runs/${id}`);
  } catch (error) {
    if (error.offline) return;  // connection.js says so, and loads the run again when the studio answers
    $("run-title").textContent = "Run not found";
    $("run-subtitle").textContent = error.message;
    $("progress-card").hidden = true;
    $("results").hidden = true;
    return;
  }
  if (id !== runId) return;
  showRun(run);
  if (ACTIVE(run.status)) timer = setTimeout(loadRun, 1000);
  else if (ACTIVE(lastStatus)) loadRuns();
  if (run.status === "running" && lastStatus === "queued") loadRuns();
  lastStatus = run.status;
}

// Categories named for the task that this model was trained without (a labeling project's "Train without them").
function showLeftOut(settings) {
  const left = Object.entries((settings.extra || {}).categories_left_out || {});
  const box = $("run-left-out");
  box.hidden = !left.length;
  box.textContent = left.length ? `This model cannot answer ${left.length}${NBSP}of the categories named for it, trained without `
    + `them for want of examples: ${left.map(([name, n]) => `“${name}” (${n ? `${n} example${n > 1 ? "s" : ""}` : "none"})`).join(", ")}.`
    + " A message of one of them gets another category." : "";
}

// ---------------------------------------------------------------- step 3: training
function showRun(run) {
  const s = run.settings;
  $("run-title").textContent = run.name;
  const model = !s.model || s.model === "default" ? "all-MiniLM-L6-v2" : s.model;
  const length = s.epochs ? `at most ${s.epochs} epoch${s.epochs > 1 ? "s" : ""}` : s.time_budget ? `at most ${s.time_budget} min` : "automatic length";
  const data = [run.data_name, s.examples != null && s.labels != null ? `${s.examples} examples, ${s.labels} categories` : null].filter((x) => x != null).join(": ");
  const columns = s.text_column && s.label_column ? `text “${s.text_column}”, label “${s.label_column}”`
    : s.text_column && s.label_columns ? `text “${s.text_column}”, one 0/1 column per label` : null;
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
  showLeftOut(s);

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
  outcome.shown(run);  // a run that ended early: how far it got, "Train again"
  const bar = $("progress-bar");
  const fraction = run.status === "completed" ? 1 : p.fraction;
  bar.style.width = `${(100 * fraction).toFixed(1)}%`;
  bar.classList.toggle("indeterminate", run.status === "running" && p.phase === "preparing");
  // each "·" part stays on one line: "epoch 2.96 of 4" never breaks inside
  $("progress-text").replaceChildren(...progressText(run).split(" · ").flatMap((part, i) => [i ? " · " : "", el("span", { class: "nowrap", text: part })]));
  drawLoss(p.losses, p.total_steps);
  const fewshot = p.strategy === "fewshot" || s.strategy === "fewshot";  // scored once, at its end: no "epoch 20.00"
  fillTable($("epochs-table"), [fewshot ? "scored" : "epoch", "loss", "accuracy", "macro-F1", ""],
    p.evaluations.map((e) => [fewshot ? "after training" : num(e.epoch, 2), num(e.loss), pct(e.accuracy), num(e.macro_f1), e.best ? "★ best" : ""]));
  if (!p.evaluations.length) $("epochs-table").append(el("caption", { class: "muted", text: outcome.noScoreYet(run) }));

  $("results").hidden = !run.has_model;
  if (run.has_model && shownResults !== run.id + run.status) {
    shownResults = run.id + run.status;
    loadResults(run);
  }
  showExport(run.export);
  runsAdmin.shown(run);  // rename, delete, disk use, the zip's size, "Serve this model"
}

function progressText(run) {
  const p = run.progress;
  if (run.status === "queued") return `Waiting: ${queueText(run)}. It starts by itself.`;
  if (run.status !== "running") return outcome.progressText(run);
  if (p.phase === "preparing") return "Preparing: reading the data and loading the model…";
  if (p.phase === "saving") return `Step ${p.step} of ${p.total_steps}: measuring ${p.final_fit_follows ? "the model; then the final fit on every example…" : "and saving the model…"}`;
  if (!p.step) return p.total_steps ? `Starting: ${p.total_steps} steps to go over ${p.epochs} epoch${p.epochs > 1 ? "s" : ""}…` : "Starting…";
  if (p.phase === "final fit") {
    const left = steadyLeft(run.id, p.eta_s);
    return `Final fit on every example: step ${p.step} of ${p.total_steps} · ${duration(p.elapsed_s)} so far` +
      (left != null ? ` · ${leftText(left)}` : "");  // the scores are the hold-out run's, already shown
  }
  const left = steadyLeft(run.id, p.eta_s);
  return `Step ${p.step} of ${p.total_steps} · epoch ${num(p.epoch, 2)} of ${p.epochs} · loss ${num(p.loss)} · ${duration(p.elapsed_s)} so far` +
    (left != null ? ` · ${leftText(left)}${p.final_fit_follows ? " with the final fit" : ""}` : "");  // the measured pace (progress.py)
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

async function resumeRun() {
  try {
    await api(`/api/runs/${runId}/resume`, { method: "POST" });
    toast("Resuming: the run continues from its last checkpoint.");
    loadRuns();
    loadRun();
  } catch (error) {
    toast(error.message);
  }
}

async function stopRun() {
  try {
    const run = await api(`/api/runs/${runId}/stop`, { method: "POST" });
    toast(run.started ? "Stopping: the best model so far is being saved." : "Taken off the queue.");
    loadRun();
  } catch (error) {
    toast(error.message);
  }
}

async function trainAgain() {
  const button = $("train-again");
  button.disabled = true;
  try {
    const fresh = await api(`/api/runs/${runId}/train-again`, { method: "POST" });
    toast(`Training again as “${fresh.name}”.`);
    await loadRuns();
    location.hash = `#run/${fresh.id}`;
  } catch (error) {
    toast(error.message);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- step 4: results
async function loadResults(run) {
  let r;
  try {
    r = await api(`/api/runs/${run.id}/results`);
  } catch (error) {
    return toast(error.message);
  }
  $("results-intro").textContent = `Measured on ${r.data.eval_examples} messages the model never saw while training (${r.data.eval_source}). Trained on ${r.data.train_examples} examples from ${r.base_model}.`;
  const several = showSeveralLabels(r.several_labels);
  showFigure(r.figure, r.metrics.accuracy);
  $("metric-macro-f1").textContent = num(r.metrics.macro_f1, 2);
  $("metric-examples").textContent = r.data.eval_examples;
  const f1Cell = (v) => el("span", { class: "cell-bar" }, el("span", { class: "cell-fill", style: `width:${100 * v}%` }), el("span", { class: "cell-text", text: num(v, 2) }));
  fillTable($("per-class-table"), ["label", "precision", "recall", "F1", "test messages", ...(several ? ["threshold"] : [])],
    r.per_class.map((c) => [c.label, num(c.precision, 2), num(c.recall, 2), f1Cell(c.f1), String(c.support), ...(several ? [num(c.threshold, 2)] : [])]));
  explainHeaders($("per-class-table"));
  if (!several) $("confusion").src = `/api/runs/${run.id}/files/confusion_matrix.png?t=${run.finished || ""}`;
  $("wrong-count").textContent = r.misclassified_total ? `(${r.misclassified_total}${r.misclassified_total > r.misclassified.length ? ", first " + r.misclassified.length + " shown" : ""})` : "(none)";
  if (several) {  // a text is wrong when its set of labels is not exactly right
    fillTable($("misclassified-table"), ["message", "its labels", "the model said", "the highest scores"],
      r.misclassified.map((m) => [m.text, m.true_labels || "(none)", m.predicted_labels || "(none)", m.scores]));
  } else {
    fillTable($("misclassified-table"), ["message", "true label", "the model said", "its confidence"],
      r.misclassified.map((m) => [m.text, m.true_label, m.predicted_label, pct(m.score)]));
  }
  $("download").href = `/api/runs/${run.id}/download`;
  $("serve-command").textContent = `textfit serve "${r.model_folder}"`;
  $("try-result").replaceChildren();
  insight.show(run);  // the yardstick, the "not sure" threshold
}

// A model of several labels per text (runs/several_labels.py): its figures in plain words and its yardstick
// instead of the accuracy tile and the confusion matrix, which speak of one label a text. Returns whether it is one.
function showSeveralLabels(several) {
  const box = $("several-results");
  box.hidden = !several;
  $("metric-accuracy").closest(".tiles").hidden = Boolean(several);
  $("confusion-section").hidden = Boolean(several);
  $("classify-gives-one").hidden = Boolean(several);  // "Classify a file" says what its file will hold
  $("classify-gives-several").hidden = !several;
  if (!several) {
    box.replaceChildren();
    return false;
  }
  const y = several.yardstick;
  box.replaceChildren(...[
    el("p", { class: "notice info", text: "Each text can have several labels, or none. The model scores every label on its own, "
      + "from 0 to 1, and gives each label whose score reaches that label's threshold (chosen on the test messages; "
      + "see the table below)." }),
    y ? el("p", { id: "several-yardstick", class: `notice yardstick ${y.beats === false ? "warn not-beaten" : "info"}`, text: y.sentence }) : null,
    el("div", { class: "tiles", id: "several-figures" }, ...several.figures.map((f) => el("div", { class: "tile", "data-figure": f.key },
      el("div", { class: "tile-value", text: num(f.value, 2) }),
      el("div", { class: "tile-label", text: f.name }),
      el("div", { class: "tile-help", text: f.words })))),
  ].filter(Boolean));
  return true;
}

// The accuracy with its size and 95 % range (evaluate.accuracy_figure; the labeling page shows the same).
function showFigure(figure, accuracy) {
  $("metric-accuracy").textContent = figure ? figureValue(figure) : pct(accuracy);
  $("metric-accuracy-range").textContent = figure ? figureSize(figure) : "share of test messages it labelled correctly";
  const said = figure ? `Accuracy: ${figure.text}.${figure.agreement ? " " + figure.agreement : ""}` : "";
  $("metric-figure").textContent = said;
  $("metric-figure").hidden = !said;
}

// One line on what the per-category columns mean, on hover or focus of a "?" beside each.
const COLUMN_WORDS = {
  precision: "Precision: of the messages the model gave this category, the share that truly belong to it.",
  recall: "Recall: of the messages that truly belong to this category, the share the model found.",
  F1: "F1: precision and recall in one figure (their harmonic mean); 1 is perfect.",
  "test messages": "How many of the held-out test messages truly belong to this category.",
  threshold: "The score from which the model gives this label: chosen for each label on the test messages, for its best F1.",
};
function explainHeaders(table) {
  for (const th of table.querySelectorAll("th")) {
    const words = COLUMN_WORDS[th.textContent];
    if (words) th.append(" ", el("span", { class: "why", tabindex: "0", title: words, "aria-label": words, text: "?" }));
  }
}

// ---------------------------------------------------------------- step 5: try it
async function tryText() {
  const text = $("try-text").value.trim();
  if (!text || !runId) return;
  if (text.includes("\n")) return classify.tryLines(text, runId);  // one message a line
  const box = $("try-result");
  box.replaceChildren(el("span", { class: "muted", text: "Thinking…" }));
  try {
    const bar = insight.minConfidence();
    const result = await post(`/api/runs/${runId}/predict`, { text, top_k: 3, min_confidence: bar });
    if (result.multi_label) return box.replaceChildren(...labelSet(result, bar));
    box.replaceChildren(
      insight.answer(result, "try-label"),
      ...result.top_k.slice(1).map((g) => el("div", { class: "runner-up" },
        el("span", { class: "bar-label", text: g.label }),
        el("span", { class: "bar-track" }, el("span", { class: "bar-fill light", style: `width:${100 * g.score}%` })),
        el("span", { class: "bar-count", text: pct(g.score) }))),
      insight.why(text, true));
  } catch (error) {
    box.replaceChildren(el("span", { class: "error", text: error.message }));
  }
}

// "Try it" for a model of several labels per text: every label at or above its threshold, then every score;
// with a "not sure" bar, the labels it is sure of, and apart those it is not (runs/several_labels.py), each
// with the chance that it applies.
function labelSet(result, bar) {
  const given = new Set(result.labels), doubts = result.not_sure || [];
  const scored = Object.fromEntries(result.scores.map((s) => [s.label, s]));
  // A threshold is chosen for the label's best F1, which may favour recall: a given label can read under 50 %.
  const chance = (name) => el("span", { class: "set-chance", text: ` ${pct(scored[name].probability)}`,
    title: "the chance this label applies (its score, calibrated). A label is given from its threshold, chosen for its best F1 on the held-out texts, so a given label can read under 50 %" });
  const sure = result.labels.length ? (bar ? `each at or above its threshold and at least ${Math.round(100 * bar)}% sure` : "each at or above its threshold")
    : doubts.length ? "no label it is sure of" : "no score reaches its label's threshold";
  return [
    el("div", { class: `answer${!result.labels.length && doubts.length ? " not-sure" : ""}`, id: "try-labels" }, ...(result.labels.length
      ? result.labels.map((name) => el("span", { class: "answer-label try-set-label", "data-label": name }, name, chance(name)))
      : [el("span", { class: "answer-label", text: "no label" })]),
    doubts.length ? el("span", { class: "try-not-sure", id: "try-not-sure" }, "· not sure: ",
      ...doubts.map((name, i) => el("span", { class: "try-unsure-label", "data-label": name }, i ? ", " : "", name, chance(name)))) : null,
    el("span", { class: "answer-score", text: sure })),
    ...result.scores.map((s) => el("div", { class: `runner-up${given.has(s.label) ? " given" : ""}${s.not_sure ? " not-sure" : ""}`, "data-label": s.label },
      el("span", { class: "bar-label", text: s.label }),
      el("span", { class: "bar-track" }, el("span", { class: `bar-fill${given.has(s.label) ? "" : " light"}`, style: `width:${100 * s.score}%` })),
      el("span", { class: "bar-count", text: `${pct(s.score)} (threshold ${pct(s.threshold)})${s.not_sure ? " · not sure" : ""}` }))),
  ];
}

// ---------------------------------------------------------------- step 7: take it with you
function showExport(exported) {
  if (!exported || $("export").disabled) return;
  if (exported.ok) setStatus("export-status", `Exported: ${exported.files.map((f) => f.name).join(", ")} (inside the model folder and the .zip).`, "ok");
}

async function exportOnnx() {
  const button = $("export");
  button.disabled = true;
  setStatus("export-status", "Exporting to ONNX and checking the result… (this can take a minute)", "busy");
  try {
    const result = await post(`/api/runs/${runId}/export`, { quantize: $("export-int8").checked });
    setStatus("export-status", `Exported: ${result.files.map((f) => f.name).join(", ")} (inside the model folder and the .zip).`, "ok");
    runsAdmin.refresh();  // the zip's size changed
  } catch (error) {
    setStatus("export-status", error.message, "error");
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- wiring
export function init() {
  $("try-button").addEventListener("click", tryText);
  $("try-text").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); tryText(); } });
  $("export").addEventListener("click", exportOnnx);
  $("stop").addEventListener("click", stopRun);
  $("resume").addEventListener("click", resumeRun);
  $("train-again").addEventListener("click", trainAgain);
  runsAdmin.init();
  insight.init();
  classify.init();
}
