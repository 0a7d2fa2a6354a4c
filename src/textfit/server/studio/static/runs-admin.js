// textfit studio: housekeeping of the run on the page (rename, delete, disk use, the download's
// size) and "Serve this model". run-page.js calls shown(run) at every poll of the run.
import { api } from "./api.js";
import { $, editTitle, setStatus, toast } from "./dom.js";
import { ACTIVE } from "./outcome.js";
import { diskUse, loadRuns } from "./runs-list.js";

let run = null;           // the run shown on the page
let fetched = "";         // id + status of the last storage/serve fetch
let fetchedAt = 0;
let serving = false;      // is the shown run served?

// ------------------------------------------------------------ one run's page
export function shown(current) {
  const changed = !run || run.id !== current.id || run.status !== current.status;
  if (!run || run.id !== current.id) leaveRun();
  run = current;
  $("run-tools").hidden = false;
  $("run-rename").disabled = false;
  const key = `${current.id} ${current.status} ${current.has_model}`;
  // while it trains, its disk use grows: look again every 10 s, not at every poll
  if (changed || key !== fetched || Date.now() - fetchedAt > 10_000) refresh();
}

function leaveRun() {  // another run is shown: nothing of the last one's may linger
  const edit = $("run-title-edit");
  if (edit) { edit.remove(); $("run-title").hidden = false; }
  setStatus("serve-status", "");
  serving = false;
  $("run-disk").textContent = "";
  $("download").textContent = "Download model (.zip)";
}

export async function refresh() {
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
  const size = diskUse(run.id);
  const dialog = $("delete-dialog");
  $("delete-question").textContent = `Delete “${run.name}”?`;
  $("delete-detail").textContent = `Its model, results and every file of this run are removed${size ? `, freeing ${size.size}` : ""}.`
    + `${serving ? " Its model server is stopped." : ""} This cannot be undone.`;
  setStatus("delete-status", "");
  dialog.dataset.run = run.id;
  dialog.showModal();
  $("delete-confirm").focus();
}

async function deleteRun(runId) {
  $("delete-confirm").disabled = true;
  setStatus("delete-status", "Deleting…", "busy");
  try {
    const deleted = await api(`/api/runs/${runId}`, { method: "DELETE" });
    $("delete-dialog").close();
    toast(`Deleted “${deleted.name}”: ${deleted.freed} freed.`);
    if (location.hash === `#run/${runId}`) { run = null; location.hash = "#new"; }
    await loadRuns();
  } catch (error) {
    setStatus("delete-status", error.message, "error");
  } finally {
    $("delete-confirm").disabled = false;
  }
}

// ------------------------------------------------------------ "Serve this model"
function showServing(info) {
  $("serving").hidden = false;
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

// ------------------------------------------------------------ wiring
export function init() {
  $("run-rename").addEventListener("click", startRename);
  $("run-delete").addEventListener("click", askDelete);
  $("run-title").addEventListener("dblclick", startRename);
  $("delete-cancel").addEventListener("click", () => $("delete-dialog").close());
  $("delete-confirm").addEventListener("click", () => deleteRun($("delete-dialog").dataset.run));
  $("serve-start").addEventListener("click", startServing);
  $("serve-stop").addEventListener("click", stopServing);
  $("serve-copy").addEventListener("click", copyCurl);
}
