// textfit studio: "New model", steps 1 and 2: upload a table of examples (or the example data),
// pick its text and label columns, choose the training settings, start a run.
import { api, post, putFile } from "./api.js";
import { $, el, fillTable, onFile, setStatus, toast } from "./dom.js";
import * as labels from "./labels.js";
import { loadRuns } from "./runs-list.js";
import { showUnlabeled } from "./teacher.js";

let upload = null;     // the uploaded file the form is about
let maxUpload = Infinity;  // the studio's limit in bytes (/api/info; none known: the studio says)
let separator = null;  // what joins several labels in a row, where the file left it unclear and the page asked
let byColumns = false; // the file gives one 0/1 column per label: no label column to pick (the library reads them)
let unlabeled = null;  // the texts without labels, uploaded when chosen (the estimate counts them): {file, id}

// ---------------------------------------------------------------- step 1: data
async function uploadFile(file) {
  if (!file) return;
  if (file.size > maxUpload) {
    setStatus("upload-status", `“${file.name}” is ${(file.size / 1048576).toFixed(1)} MB, more than the limit of ${$("max-upload").textContent}.`, "error");
    return;
  }
  setStatus("upload-status", `Reading “${file.name}”…`, "busy");
  try {
    showPreview(await putFile("/api/uploads", file));
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
  if (!upload) return;
  const params = new URLSearchParams();
  if ($("text-column").value) params.set("text_column", $("text-column").value);
  if ($("label-column").value) params.set("label_column", $("label-column").value);
  if (separator) params.set("label_separator", separator);
  try {
    showPreview(await api(`/api/uploads/${upload.id}?${params}`), true);
  } catch (error) {
    toast(error.message);
  }
}

function showPreview(data, keepPickers = false) {
  upload = data.upload;
  byColumns = Boolean(data.several_labels && data.several_labels.layout === "columns");
  if ($("start-status").classList.contains("error")) setStatus("start-status", "");  // the form changed: Start says it again if it still holds
  $("data-summary").hidden = false;
  $("settings-card").hidden = false;
  $("file-facts").replaceChildren(...[
    el("span", { class: "file-name", text: data.upload.original_name }),
    el("span", { text: `${data.rows.toLocaleString()} rows` }),
    el("span", { text: data.columns.length === 1 ? "1 column" : `${data.columns.length} columns` }),
    data.labels ? el("span", { text: `${data.labels.distinct} categories` }) : null].filter(Boolean));  // null would print "null"

  if (!keepPickers) {
    separator = null;
    for (const [id, chosen] of [["text-column", data.text_column], ["label-column", data.label_column]]) {
      const select = $(id);
      select.replaceChildren(el("option", { value: "", text: "— choose a column —" }));
      data.columns.forEach((c) => select.append(el("option", { value: c, text: c })));
      select.value = chosen || "";
    }
    $("label-names").value = data.label_names ? data.label_names.join(", ") : "";
  }
  $("label-column").options[0].text = byColumns ? "— none: one 0/1 column per label —" : "— choose a column —";
  if (!keepPickers) {
    if (!$("run-name").value) $("run-name").placeholder = data.upload.original_name.replace(/\.[^.]+$/, "");
  }

  const labelIndex = data.columns.indexOf(data.label_column);
  const named = (row) => row.map((cell, i) => (i === labelIndex && data.label_names && /^\d+$/.test(cell) && data.label_names[+cell]
    ? `${cell} · ${data.label_names[+cell]}` : cell));
  fillTable($("preview-table"), data.columns, data.preview.map(named));
  showLabelCounts(data);
  showProblems(data);
  estimateSoon();
}

function showLabelCounts(data) {
  const bars = $("label-counts");
  bars.replaceChildren();
  if (!data.labels) {
    bars.append(el("p", { class: "muted", text: "Choose the label column to see how many examples each label has." }));
    return;
  }
  const max = Math.max(...data.labels.counts.map((c) => c.count));
  const shown = data.labels.counts.slice(0, 30);
  for (const item of shown) {
    const name = item.name ? `${item.name}` : item.value;
    bars.append(el("div", { class: "bar-row", title: item.name ? `${item.value} = ${item.name}` : item.value },
      el("span", { class: "bar-label", text: name }),
      el("span", { class: "bar-track" }, el("span", { class: "bar-fill", style: `width:${(100 * item.count) / max}%` })),
      el("span", { class: "bar-count", text: item.count })));
  }
  if (data.labels.counts.length > shown.length) bars.append(el("p", { class: "muted small", text: `and ${data.labels.distinct - shown.length} more categories` }));
}

function showProblems(data) {
  const problems = $("data-problems");
  problems.replaceChildren();
  const warn = (text) => problems.append(el("p", { class: "notice warn", text }));
  if (data.columns.length === 1) warn("No label column: this file has only one column; add a column with the label of each message. (If it has one, its separator was not recognised: use commas, semicolons or tabs between columns.)");
  else if (data.problem && !data.text_column && !data.label_column) warn(data.problem);
  else if (!data.text_column || (!data.label_column && !byColumns)) warn("Pick the text column and the label column above.");
  if (data.text_column && data.text_column === data.label_column) warn("The text and the label must be different columns.");
  if (data.labels && data.labels.missing) warn(`${data.labels.missing} row(s) have no label; remove them from the file or fill them in.`);
  if (data.texts && data.texts.empty) warn(`${data.texts.empty} row(s) have an empty text.`);
  if (data.labels && data.labels.single.length) warn(`Some labels have a single example (${data.labels.single.slice(0, 5).join(", ")}). They are learned from, but cannot be checked: the score leaves them out.`);
  if (data.labels && data.labels.distinct > 200) warn(`The label column has ${data.labels.distinct} different values: is it really the label?`);
  if (data.encoding_note) problems.append(el("p", { class: "notice info", text: data.encoding_note }));
  showSeveral(data.several_labels, problems);
  labels.checked(data);  // number labels: a prompt to name them; one column: no training
  if (data.label_names) problems.append(el("p", { class: "notice info", text: "This is textfit's example data: its numbered labels were given their topic names (see “Label names” below)." }));
}

// Several labels in a row ("Billing;Urgent"): which separator joins them, as the library reads the file; where
// it cannot tell, the question, answered here and sent with the run (label_separator).
function showSeveral(several, problems) {
  if (!several) return;
  if (several.question) {
    const pick = el("select", { id: "label-separator", "aria-label": "what joins the labels in a row" },
      el("option", { value: "", text: "— choose —" }), ...several.question.choices.map((c) => el("option", { value: c.value, text: c.text })));
    pick.addEventListener("change", () => { separator = pick.value || null; changeColumns(); });
    problems.append(el("div", { class: "notice warn", id: "several-labels" }, el("p", { text: several.question.text }), pick));
    return;
  }
  const rows = `${several.rows_with_several.toLocaleString()} rows have more than one label; `
    + `${several.rows_without_label.toLocaleString()} have none, which is fine: such a text belongs to none of them.`;
  // As `textfit train` reads such a file, every 0/1 column is a label: said, so a 0/1 column that is not one shows.
  const columns = several.layout === "columns" ? " Every column holding only 0 and 1 is read as a label: if one is not, "
    + "remove it from the file, or pick a single label column above." : "";
  problems.append(el("p", { class: "notice info", id: "several-labels",
    text: `${several.description} ${rows} The model will give each text every label it finds likely enough.${columns}` }));
}

// ---------------------------------------------------------------- step 2: start
async function startRun() {
  if (!upload) return setStatus("start-status", "Upload a data file first.", "error");
  const body = {
    upload_id: upload.id,
    text_column: $("text-column").value,
    label_column: $("label-column").value,
  };
  if (!body.text_column || (!body.label_column && !byColumns)) return setStatus("start-status", "Pick the text and the label columns first.", "error");
  if (!body.label_column) delete body.label_column;  // one 0/1 column per label: the library finds them
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
  if (separator) body.label_separator = separator;
  $("start").disabled = true;
  setStatus("start-status", "Checking the data and starting…", "busy");
  try {
    const chosen = $("unlabeled-file").files[0];  // texts without labels, learned from too
    if (chosen) body.unlabeled_upload_id = unlabeled && unlabeled.file === chosen ? unlabeled.id : (await putFile("/api/uploads", chosen)).upload.id;
    const run = await post("/api/runs", body);
    setStatus("start-status", "");
    await loadRuns();
    location.hash = `#run/${run.id}`;
  } catch (error) {
    setStatus("start-status", error.message, "error");
  } finally {
    $("start").disabled = false;
  }
}

// ---------------------------------------------------------------- how long it will take
// Before Start: the time on this computer for the data, the way of training and the length chosen
// (POST /api/runs/estimate: the studio times one forward pass of the model once, then sizes the run).
let estimating = null, asked = 0;
const estimateSoon = () => { clearTimeout(estimating); estimating = setTimeout(estimateDuration, 400); };

async function estimateDuration() {
  const line = $("duration-estimate");
  if (!upload || !$("text-column").value || (!$("label-column").value && !byColumns)) return (line.textContent = "");
  const body = { upload_id: upload.id, text_column: $("text-column").value, strategy: $("strategy").value };
  if ($("label-column").value) body.label_column = $("label-column").value;
  if (separator) body.label_separator = separator;
  const length = document.querySelector("input[name=length]:checked").value;
  if (length === "epochs" && parseInt($("epochs").value, 10) > 0) body.epochs = parseInt($("epochs").value, 10);
  if (length === "time" && parseFloat($("time-budget").value) > 0) body.time_budget = parseFloat($("time-budget").value);
  if (document.querySelector("input[name=model-choice]:checked").value === "custom") body.model = $("model-path").value.trim() || "default";
  if (unlabeled) body.unlabeled_upload_id = unlabeled.id;
  const mine = ++asked;
  line.textContent = "Working out how long it will take on this computer…";
  try {
    const estimate = await post("/api/runs/estimate", body);
    if (mine === asked) line.textContent = estimateText(estimate);
    if (mine === asked) showUnlabeled($("unlabeled-estimate"), estimate.unlabeled, estimateSoon);
  } catch (error) {
    if (mine === asked) line.textContent = "";  // Start says what is wrong with the settings
  }
}

// The texts without labels, uploaded as soon as they are chosen: the estimate counts them, Start reuses the upload.
async function chooseUnlabeled() {
  const file = $("unlabeled-file").files[0];
  unlabeled = null;
  $("unlabeled-estimate").hidden = !file;
  $("unlabeled-estimate").textContent = file ? `Reading “${file.name}”…` : "";
  if (!file) return estimateSoon();
  try {
    unlabeled = { file, id: (await putFile("/api/uploads", file)).upload.id };
    estimateSoon();
  } catch (error) {
    $("unlabeled-estimate").textContent = error.message;
  }
}

function estimateText(e) {
  const way = e.strategy === "fewshot" ? "few-shot" : "fine-tuning";
  const why = e.chosen_by === "textfit" ? ", as textfit chooses for this data" : "";
  const minutes = (s) => Math.max(1, Math.round(s / 60));
  const span = e.high_s < 90 ? (e.high_s < 45 ? "under a minute" : "about a minute")
    : minutes(e.low_s) === minutes(e.high_s) ? `about ${minutes(e.high_s)} min` : `${minutes(e.low_s)}–${minutes(e.high_s)} min`;
  return `Expect ${span} of training on this computer (${way}${why}, ${e.train_examples.toLocaleString()} training examples), ` +
    "longer while other programs keep it busy." + (e.other_model ? " Timed for the recommended model: a larger one takes several times longer." : "")
    + (e.unlabeled ? " Learning from the texts without labels comes on top (“How it learns”)." : "");
}

// ---------------------------------------------------------------- wiring
// Wired before the studio's /api/info answers: a file dropped at once is read, not lost.
export function init() {
  onFile($("dropzone"), $("file-input"), uploadFile);
  $("use-sample").addEventListener("click", useSample);
  $("text-column").addEventListener("change", changeColumns);
  $("label-column").addEventListener("change", () => { separator = null; changeColumns(); });  // another column: asked afresh
  $("model-path").addEventListener("focus", () => ($("model-custom").checked = true));
  $("epochs").addEventListener("focus", () => ($("length-epochs").checked = true));
  $("time-budget").addEventListener("focus", () => ($("length-time").checked = true));
  $("start").addEventListener("click", startRun);
  $("unlabeled-file").addEventListener("change", chooseUnlabeled);
  for (const id of ["strategy", "epochs", "time-budget", "model-path"]) $(id).addEventListener("change", estimateSoon);
  document.querySelectorAll("input[name=length], input[name=model-choice]").forEach((input) => input.addEventListener("change", estimateSoon));
  labels.init();
}

// `info`: the studio's /api/info, once it answers (null when it did not).
export function useInfo(info) {
  if (!info) return;
  maxUpload = info.max_upload_bytes;
  $("sample-line").hidden = !info.sample_available;
}
