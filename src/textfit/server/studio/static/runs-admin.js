// textfit studio: housekeeping of runs (rename, delete, disk use, the download's size) and
// "Serve this model". Uses app.js's helpers ($, el, api, toast, setStatus, loadRuns) at call time.
"use strict";

const textfitRuns = (() => {
  let run = null;           // the run shown on the page
  let fetched = "";         // id + status of the last storage/serve fetch
  let fetchedAt = 0;
  let sizes = {};           // run id -> {bytes, size}: disk use, from /api/storage
  let serving = false;      // is the shown run served?

  // ------------------------------------------------------------ the list of runs
  async function listed(runs) {
    labelSizes();  // the last known sizes at once (the list is redrawn every few seconds while a run trains)
    try {
      const storage = await api("/api/storage");
      sizes = storage.runs;
      const total = $("studio-disk");
      total.textContent = runs.length ? `All models use ${storage.total.size} on disk` : "";
      total.hidden = !runs.length;
    } catch (error) {
      return;  // the list itself says when the studio does not answer
    }
    labelSizes();
  }

  function labelSizes() {
    for (const link of document.querySelectorAll("#runs-list a[data-run]")) {
      const size = sizes[link.dataset.run];
      if (!size) continue;
      const label = link.querySelector(".run-disk") || link.appendChild(el("span", { class: "run-disk", title: "on disk" }));
      link.classList.add("has-disk");
      label.textContent = size.size;
    }
  }

  // ------------------------------------------------------------ one run's page
  function shown(current) {
    const changed = !run || run.id !== current.id || run.status !== current.status;
    if (!run || run.id !== current.id) leaveRun();
    run = current;
    buildTools();
    $("run-rename").disabled = false;
    const key = `${current.id} ${current.status} ${current.has_model}`;
    // while it trains, its disk use grows: look again every 10 s, not at every poll
    if (changed || key !== fetched || Date.now() - fetchedAt > 10_000) refresh();
  }

  function leaveRun() {  // another run is shown: nothing of the last one's may linger
    const edit = $("run-title-edit");
    if (edit) { edit.remove(); $("run-title").hidden = false; }
    if ($("serve-status")) setStatus("serve-status", "");
    serving = false;
    if ($("run-disk")) $("run-disk").textContent = "";
    $("download").textContent = "Download model (.zip)";
  }

  async function refresh() {
    if (!run) return;
    const current = run;
    fetched = `${current.id} ${current.status} ${current.has_model}`;
    fetchedAt = Date.now();
    try {
      const storage = await api(`/api/runs/${current.id}/storage`);
      if (run !== current) return;
      $("run-disk").textContent = `Uses ${storage.disk.size} on disk`;
      $("download").textContent = storage.download ? `Download model (${storage.download.size})` : "Download model (.zip)";
    } catch (error) {
      $("run-disk").textContent = "";
    }
    if (current.has_model) showServing(await api(`/api/runs/${current.id}/serve`).catch(() => ({ serving: false })));
  }

  function buildTools() {
    if ($("run-rename")) return;
    $("run-tools").append(
      el("span", { class: "run-disk muted small", id: "run-disk" }),
      el("button", { type: "button", class: "button small", id: "run-rename", text: "Rename" }),
      el("button", { type: "button", class: "button small danger", id: "run-delete", text: "Delete…" }));
    $("run-rename").addEventListener("click", startRename);
    $("run-delete").addEventListener("click", askDelete);
    $("run-title").addEventListener("dblclick", startRename);
  }

  // ------------------------------------------------------------ rename (inline)
  function startRename() {
    if (!run) return;
    const { id } = run;
    editTitle($("run-title"), "run-title-edit", run.name, async (name) => {
      const renamed = await api(`/api/runs/${id}`, { method: "PATCH", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name }) });
      loadRuns();
      if (!run || run.id !== id) return $("run-title").textContent;  // another run is open now
      return (run.name = renamed.name);
    });
  }

  // ------------------------------------------------------------ delete
  function askDelete() {
    if (!run) return;
    if (ACTIVE(run.status)) {
      return toast(run.status === "queued" ? `“${run.name}” is waiting in the queue: take it off the queue first, then delete it.`
        : `“${run.name}” is training: stop it first, then delete it.`);
    }
    const size = sizes[run.id];
    const dialog = deleteDialog();
    $("delete-question").textContent = `Delete “${run.name}”?`;
    $("delete-detail").textContent = `Its model, results and every file of this run are removed${size ? `, freeing ${size.size}` : ""}.`
      + `${serving ? " Its model server is stopped." : ""} This cannot be undone.`;
    setStatus("delete-status", "");
    dialog.dataset.run = run.id;
    dialog.showModal();
    $("delete-confirm").focus();
  }

  function deleteDialog() {
    let dialog = $("delete-dialog");
    if (dialog) return dialog;
    dialog = el("dialog", { id: "delete-dialog", class: "dialog", "aria-labelledby": "delete-question" },
      el("h2", { id: "delete-question" }),
      el("p", { id: "delete-detail" }),
      el("span", { id: "delete-status", class: "status-line", role: "status" }),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "button", id: "delete-cancel", text: "Cancel" }),
        el("button", { type: "button", class: "button danger-solid", id: "delete-confirm", text: "Delete" })));
    document.body.append(dialog);
    $("delete-cancel").addEventListener("click", () => dialog.close());
    $("delete-confirm").addEventListener("click", () => deleteRun(dialog.dataset.run));
    return dialog;
  }

  async function deleteRun(runId) {
    $("delete-confirm").disabled = true;
    setStatus("delete-status", "Deleting…", "busy");
    try {
      const deleted = await api(`/api/runs/${runId}`, { method: "DELETE" });
      $("delete-dialog").close();
      toast(`Deleted “${deleted.name}”: ${deleted.freed} freed.`);
      if (state.runId === runId) { run = null; location.hash = "#new"; }
      await loadRuns();
    } catch (error) {
      setStatus("delete-status", error.message, "error");
    } finally {
      $("delete-confirm").disabled = false;
    }
  }

  // ------------------------------------------------------------ "Serve this model"
  function buildServing() {
    if ($("serve-start")) return;
    const copy = el("button", { type: "button", class: "button small", id: "serve-copy", text: "Copy" });
    $("serving").append(
      el("h3", { text: "Serve it from here" }),
      el("div", { class: "actions wrap" },
        el("button", { type: "button", class: "button", id: "serve-start", text: "Serve this model" }),
        el("button", { type: "button", class: "button", id: "serve-stop", text: "Stop serving", hidden: "" }),
        el("span", { id: "serve-status", class: "status-line", role: "status" })),
      el("div", { id: "serve-info", hidden: "" },
        el("p", {}, "Answering at ", el("a", { id: "serve-url", target: "_blank", rel: "noopener" }),
          el("span", { class: "muted small", text: " (from this computer)" })),
        el("p", { class: "muted", text: "Classify one message from a terminal or another program:" }),
        el("div", { class: "copy-box" }, el("pre", { class: "command", id: "serve-curl" }), copy)));
    $("serve-start").addEventListener("click", startServing);
    $("serve-stop").addEventListener("click", stopServing);
    copy.addEventListener("click", copyCurl);
  }

  function showServing(info) {
    buildServing();
    serving = info.serving;
    const active = run && ACTIVE(run.status);
    $("serve-start").hidden = info.serving;
    $("serve-start").disabled = active;
    $("serve-stop").hidden = !info.serving;
    $("serve-info").hidden = !info.serving;
    if (!info.serving) {
      if (!$("serve-status").classList.contains("busy") && !$("serve-status").classList.contains("error")) {
        setStatus("serve-status", active ? "It can be served once training has finished." : "");
      }
      return;
    }
    $("serve-url").textContent = info.url;
    $("serve-url").href = `${info.url}/docs`;
    $("serve-curl").textContent = info.curl;
    setStatus("serve-status", info.adopted ? "Still serving since before the studio restarted." : "Serving.", "ok");
  }

  async function startServing() {
    const current = run;
    $("serve-start").disabled = true;
    setStatus("serve-status", "Starting the server and loading the model… (a few seconds)", "busy");
    try {
      const info = await api(`/api/runs/${current.id}/serve`, { method: "POST" });
      if (run === current) { setStatus("serve-status", ""); showServing(info); }
    } catch (error) {
      setStatus("serve-status", error.message, "error");
    } finally {
      $("serve-start").disabled = false;
    }
  }

  async function stopServing() {
    const current = run;
    $("serve-stop").disabled = true;
    try {
      const info = await api(`/api/runs/${current.id}/serve`, { method: "DELETE" });
      if (run === current) { showServing(info); setStatus("serve-status", "Stopped.", "ok"); }
    } catch (error) {
      setStatus("serve-status", error.message, "error");
    } finally {
      $("serve-stop").disabled = false;
    }
  }

  async function copyCurl() {
    const text = $("serve-curl").textContent;
    try {
      await navigator.clipboard.writeText(text);
      toast("Copied: paste it in a terminal.");
    } catch (error) {  // no clipboard access: select it for Ctrl+C
      const range = document.createRange();
      range.selectNodeContents($("serve-curl"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      toast("Selected: press Ctrl+C to copy it.");
    }
  }

  return { listed, shown, refresh };
})();
