// textfit studio: how a run ended, in plain words (the run list, the run page's progress line and
// its epochs table), and what to do about a run that ended early: "Train again with the same
// settings" (POST /api/runs/{id}/train-again, recovery.py) next to "Resume" where a checkpoint
// exists. Uses app.js's helpers ($, el, api, toast, duration, loadRuns) at call time.
"use strict";

const textfitOutcome = (() => {
  // The trainer's record status of a completed run (recovery.ENDINGS says the same on the server).
  const ENDINGS = {
    "stopped early": "stopped early: no more improvement",
    "time budget reached": "stopped: time budget reached",
  };
  const ENDED_EARLY = ["interrupted", "failed", "stopped"];

  // The run list's word for a run: "ready", "stopped: time budget reached", "interrupted", …
  function word(run) {
    if (run.status === "completed") return ENDINGS[run.record_status] || "ready";
    return { queued: "waiting", running: "training", stopped: "stopped", failed: "failed", interrupted: "interrupted" }[run.status] || run.status;
  }

  // Under a scored run in the list: how it ended, when that is not plainly "ready"; else null.
  function ending(run) {
    const said = run.metrics ? word(run) : "ready";
    return said === "ready" ? null : el("span", { class: "run-ending", text: said });
  }

  const steps = (p) => (p.total_steps ? `step ${p.step} of ${p.total_steps}` : `step ${p.step}`);
  const share = (p) => (p.total_steps ? ` (${Math.round(100 * Math.min(1, p.step / p.total_steps))} %)` : "");
  const after = (p) => (p.elapsed_s != null ? `, after ${duration(p.elapsed_s)}` : "");

  // The progress line of a run that is no longer training: how it ended and how far it got.
  function progressText(run) {
    const p = run.progress;
    const far = p.step ? `at ${steps(p)}${share(p)}${after(p)}` : "before the first training step";
    if (run.status === "interrupted") return `Interrupted ${far}.`;
    if (run.status === "failed") return `Failed ${far}.`;
    if (run.status === "stopped") return run.started ? `Stopped by you ${far}.` : "Taken off the queue before it started.";
    const ran = p.step ? `${p.step} steps${p.elapsed_s != null ? ` in ${duration(p.elapsed_s)}` : ""}` : "";
    if (run.record_status === "time budget reached") return `Stopped: time budget reached${ran ? ` after ${ran}` : ""}.`;
    if (run.record_status === "stopped early") return `Stopped early: no more improvement${ran ? ` after ${ran}` : ""}.`;
    return ran ? `Finished: ${ran}.` : "Finished.";
  }

  // What the epochs table says while it has no score yet.
  function noScoreYet(run) {
    return ACTIVE(run.status) ? "The first score comes at the end of the first epoch." : "No score was measured before it stopped.";
  }

  // The run page: a run that ended early keeps its training card (how far it got) and offers to
  // train again; "Resume" (app.js) shows where a checkpoint exists.
  function shown(run) {
    const early = ENDED_EARLY.includes(run.status);
    if (early) $("progress-card").hidden = false;
    $("again-row").hidden = !early;
    const checkpoint = run.resumable && run.resumable.step;
    if (run.resumable && !checkpoint) $("resume-row").hidden = true;  // nothing to resume from: train again
    $("again-note").textContent = checkpoint
      ? "Or start over: a new run with the same data file and settings."
      : "A new run with the same data file and settings.";
  }

  async function trainAgain() {
    const button = $("train-again");
    button.disabled = true;
    try {
      const fresh = await api(`/api/runs/${state.runId}/train-again`, { method: "POST" });
      toast(`Training again as “${fresh.name}”.`);
      await loadRuns();
      location.hash = `#run/${fresh.id}`;
    } catch (error) {
      toast(error.message);
    } finally {
      button.disabled = false;
    }
  }

  return { word, ending, progressText, noScoreYet, shown, trainAgain };
})();
