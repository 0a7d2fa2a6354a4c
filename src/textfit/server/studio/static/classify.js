// textfit studio: "Classify a file" (classify_files.py) and "try it" with one message a line.
// A file is uploaded (PUT /api/uploads/to-classify), its sheet and text column picked, and a job
// started for the run on the page; the job runs on the studio's side whatever the page does, so a
// reloaded page finds it again (GET /api/runs/<id>/classify) and follows it until it is done.
// app.js calls textfitClassify.tryLines(text, runId) when "try it" holds several lines.
"use strict";

window.textfitClassify = (() => {
  const byId = (id) => document.getElementById(id);
  const NBSP = "\u00a0";  // numbers and their units never wrap apart
  const count = (n) => Number(n || 0).toLocaleString();
  const percent = (x) => `${(100 * x).toFixed(1)}%`;
  let runId = null, upload = null, timer = null;

  function node(tag, attrs = {}, ...children) {
    const element = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") element.textContent = value;
      else if (key === "class") element.className = value;
      else element.setAttribute(key, value);
    }
    for (const child of children) if (child != null) element.append(child);
    return element;
  }

  async function call(path, options = {}) {
    const response = await fetch(path, options);
    const body = (response.headers.get("content-type") || "").includes("application/json") ? await response.json() : null;
    if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
    return body;
  }

  function status(id, message, kind = "") {
    byId(id).textContent = message || "";
    byId(id).className = `status-line ${kind}`;
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) return `${h}${NBSP}h ${m}${NBSP}min`;
    if (m) return `${m}${NBSP}min ${String(s).padStart(2, "0")}${NBSP}s`;
    return `${s}${NBSP}s`;
  }

  function table(element, headers, rows) {
    element.replaceChildren(node("thead", {}, node("tr", {}, ...headers.map((h) => node("th", { text: h })))),
      node("tbody", {}, ...rows.map((cells) => node("tr", {}, ...cells.map((c) => c instanceof Node ? node("td", {}, c) : node("td", { text: c }))))));
  }

  // ------------------------------------------------------------------ the run on the page
  function route() {
    const match = location.hash.match(/^#run\/([a-z0-9-]+)$/);
    clearTimeout(timer);
    runId = match ? match[1] : null;
    upload = null;
    byId("classify-setup").hidden = true;
    byId("classify-job").hidden = true;
    byId("classify-file").value = "";
    status("classify-upload-status", "");
    const size = byId("max-upload") && byId("max-upload").textContent;
    document.querySelectorAll(".max-upload-size").forEach((span) => { if (size) span.textContent = size; });
    if (runId) follow();
  }

  async function follow() {
    const followed = runId;
    clearTimeout(timer);
    let job;
    try {
      ({ job } = await call(`/api/runs/${followed}/classify`));
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
    status("classify-upload-status", `Reading “${file.name}”…`, "busy");
    byId("classify-setup").hidden = true;
    try {
      const query = new URLSearchParams({ filename: file.name });
      showFile(await call(`/api/uploads/to-classify?${query}`, {
        method: "PUT", body: file, headers: { "Content-Type": "application/octet-stream" } }));
      status("classify-upload-status", "");
    } catch (error) {
      status("classify-upload-status", error.message, "error");
    }
  }

  async function changeSheet() {
    try {
      const query = new URLSearchParams({ sheet: byId("classify-sheet").value });
      showFile(await call(`/api/uploads/${upload.id}/to-classify?${query}`));
    } catch (error) {
      status("classify-start-status", error.message, "error");
    }
  }

  function showFile(described) {
    upload = described.upload;
    byId("classify-setup").hidden = false;
    status("classify-start-status", "");
    byId("classify-facts").replaceChildren(
      node("span", { class: "file-name", text: upload.original_name }),
      node("span", { text: `${described.columns.length}${NBSP}column${described.columns.length === 1 ? "" : "s"}` }),
      described.sheets && described.sheets.length > 1 ? node("span", { text: `${described.sheets.length}${NBSP}sheets` }) : null);
    const sheets = described.sheets || [];
    byId("classify-sheet-field").hidden = sheets.length < 2;
    byId("classify-sheet").replaceChildren(...sheets.map((name) => node("option", { value: name, text: name })));
    if (described.sheet) byId("classify-sheet").value = described.sheet;
    const column = byId("classify-column");
    column.replaceChildren(node("option", { value: "", text: "— choose a column —" }),
      ...described.columns.map((name) => node("option", { value: name, text: name })));
    column.value = described.text_column || "";
    const problem = byId("classify-problem");
    problem.replaceChildren();
    if (described.problem) problem.append(node("p", { class: "notice warn", text: described.problem }));
    table(byId("classify-preview"), described.columns, described.preview);
    const chosen = window.textfitInsight && textfitInsight.minConfidence && textfitInsight.minConfidence();
    if (chosen && !byId("classify-min-confidence").value) byId("classify-min-confidence").value = Math.round(100 * chosen);
  }

  async function start() {
    if (!upload || !runId) return;
    const body = { upload_id: upload.id };
    if (byId("classify-column").value) body.text_column = byId("classify-column").value;
    else return status("classify-start-status", "Pick the column that holds the texts first.", "error");
    if (!byId("classify-sheet-field").hidden) body.sheet = byId("classify-sheet").value;
    const threshold = byId("classify-min-confidence").value.trim();
    if (threshold) {
      const value = Number(threshold);
      if (!(value >= 0 && value <= 100)) return status("classify-start-status", "“Not sure” below: a percentage from 0 to 100, or empty.", "error");
      if (value > 0) body.min_confidence = value / 100;
    }
    byId("classify-start").disabled = true;
    try {
      const { job } = await call(`/api/runs/${runId}/classify`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      byId("classify-setup").hidden = true;
      showJob(job);
      timer = setTimeout(follow, 1000);
    } catch (error) {
      status("classify-start-status", error.message, "error");
    } finally {
      byId("classify-start").disabled = false;
    }
  }

  async function stop() {
    try {
      showJob((await call(`/api/runs/${runId}/classify/stop`, { method: "POST" })).job);
    } catch (error) {
      byId("classify-progress").textContent = error.message;
    }
  }

  // ------------------------------------------------------------------ the job
  function showJob(job) {
    byId("classify-job").hidden = !job;
    if (!job) return;
    const running = job.status === "running", done = job.status === "completed";
    const fraction = done ? 1 : job.total ? job.rows / job.total : 0;
    byId("classify-bar").style.width = `${(100 * fraction).toFixed(1)}%`;
    byId("classify-bar").classList.toggle("indeterminate", running && job.phase !== "classifying");
    byId("classify-stop-row").hidden = !running;
    byId("classify-error").hidden = !job.error;
    byId("classify-error").textContent = job.error || "";
    byId("classify-progress").textContent = progressText(job);
    byId("classify-done").hidden = !done;
    if (done) showResults(job);
  }

  function progressText(job) {
    const name = `“${job.input_name}”${job.sheet ? ` (sheet “${job.sheet}”)` : ""}`;
    const pace = job.rows_per_second ? `${count(Math.round(job.rows_per_second))}${NBSP}rows/s` : "";
    if (job.status === "completed") {
      const seconds = job.finished && job.started ? job.finished - job.started : null;
      return `Done: ${count(job.rows)}${NBSP}rows of ${name} classified${seconds != null ? ` in ${duration(seconds)}` : ""}`
        + (pace ? ` (${pace})` : "") + "." + (job.empty_rows ? ` ${count(job.empty_rows)} had no text: they are in the file, without an answer.` : "");
    }
    if (job.status === "failed") return `Classifying ${name} failed.`;
    if (job.status === "stopped") return `Stopped after ${count(job.rows)}${NBSP}rows of ${name}; nothing was saved.`;
    if (job.phase === "classifying") {
      const left = job.rows_per_second && job.total ? ` · about ${duration((job.total - job.rows) / job.rows_per_second)} left` : "";
      return `${count(job.rows)} of ${count(job.total)}${NBSP}rows of ${name}` + (pace ? ` · ${pace}` : "") + left;
    }
    if (job.phase === "loading") return `Loading the model to classify ${count(job.total)}${NBSP}rows of ${name}…`;
    if (job.phase === "saving") return `Writing the results for ${name}…`;
    return `Counting the rows of ${name}…`;
  }

  function showResults(job) {
    const counts = Object.entries(job.label_counts || {});
    const most = Math.max(1, ...counts.map(([, n]) => n));
    byId("classify-counts").replaceChildren(...counts.map(([label, n]) => node("div", { class: `bar-row${label === "not sure" ? " not-sure" : ""}` },
      node("span", { class: "bar-label", text: label, title: label }),
      node("span", { class: "bar-track" }, node("span", { class: "bar-fill", style: `width:${(100 * n) / most}%` })),
      node("span", { class: "bar-count", text: `${count(n)} · ${percent(n / job.rows)}` }))));
    for (const kind of ["xlsx", "csv"]) {
      const link = byId(`classify-download-${kind}`);
      link.hidden = !job.downloads.includes(kind);
      link.href = `/api/runs/${runId}/classify/download?format=${kind}&t=${Math.round(job.finished || 0)}`;
    }
    byId("classify-download-note").textContent = job.downloads.includes("xlsx") ? ""
      : "More rows than an Excel sheet holds (1,048,576): the CSV has them all.";
  }

  // ------------------------------------------------------------------ "try it": one message a line
  async function tryLines(text, run) {
    const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
    const box = byId("try-result");
    if (lines.length > 100) {
      box.replaceChildren(node("span", { class: "error", text: `${count(lines.length)} lines: “try it” answers at most 100 at once. For more, use “Classify a file” below.` }));
      return;
    }
    box.replaceChildren(node("span", { class: "muted", text: "Thinking…" }));
    const chosen = window.textfitInsight && textfitInsight.minConfidence && textfitInsight.minConfidence();
    try {
      const { results } = await call(`/api/runs/${run}/predict`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ texts: lines, top_k: 3, ...(chosen ? { min_confidence: chosen } : {}) }) });
      const answer = (r) => r.not_sure ? node("span", { class: "not-sure", text: `not sure (best guess: ${r.guess})` })
        : node("span", { class: "try-lines-label", text: r.label });
      const result = node("table", { class: "data try-lines", id: "try-lines" });
      table(result, ["message", "label", "confidence"],
        results.map((r) => [r.text, answer(r), node("span", { class: "nowrap", text: percent(r.score) })]));
      box.replaceChildren(node("p", { class: "muted small", text: `${lines.length} messages, one a line:` }),
        node("div", { class: "table-wrap" }, result));
    } catch (error) {
      box.replaceChildren(node("span", { class: "error", text: error.message }));
    }
  }

  // ------------------------------------------------------------------ wiring
  byId("classify-file").addEventListener("change", (e) => uploadFile(e.target.files[0]));
  const zone = byId("classify-dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); uploadFile(e.dataTransfer.files[0]); });
  byId("classify-sheet").addEventListener("change", changeSheet);
  byId("classify-start").addEventListener("click", start);
  byId("classify-stop").addEventListener("click", stop);
  window.addEventListener("hashchange", route);
  route();

  return { tryLines };
})();
