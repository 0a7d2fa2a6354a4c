// textfit studio: a run's status and how it ended, in plain words (the run list, the run page's
// badge, progress line and epochs table), and the run page's rows for a run that ended early:
// "Train again with the same settings" (POST /api/runs/{id}/train-again, recovery.py; sent by
// run-page.js) next to "Resume" where a checkpoint exists.
import { $, el } from "./dom.js";
import { duration } from "./format.js";

export const STATUS_WORDS = { queued: "waiting", running: "training", completed: "ready", stopped: "stopped", failed: "failed", interrupted: "interrupted" };
export const ACTIVE = (status) => status === "running" || status === "queued";

// The trainer's record status of a completed run (recovery.ENDINGS says the same on the server).
const ENDINGS = {
  "stopped early": "stopped early: no more improvement",
  "time budget reached": "stopped: time budget reached",
};
const ENDED_EARLY = ["interrupted", "failed", "stopped"];

export function queueText(run) {
  if (!run.queue) return "";
  const after = run.queue.waiting_for ? `waiting for “${run.queue.waiting_for}” to finish` : "waiting for a free place";
  return `${after} · place ${run.queue.position} in the queue`;
}

// The run list's word for a run: "ready", "stopped: time budget reached", "interrupted", …
export function word(run) {
  if (run.status === "completed") return ENDINGS[run.record_status] || "ready";
  return STATUS_WORDS[run.status] || run.status;
}

// Under a scored run in the list: how it ended, when that is not plainly "ready"; else null.
export function ending(run) {
  const said = run.metrics ? word(run) : "ready";
  return said === "ready" ? null : el("span", { class: "run-ending", text: said });
}

const steps = (p) => (p.total_steps ? `step ${p.step} of ${p.total_steps}` : `step ${p.step}`);
const share = (p) => (p.total_steps ? ` (${Math.round(100 * Math.min(1, p.step / p.total_steps))} %)` : "");
const after = (p) => (p.elapsed_s != null ? `, after ${duration(p.elapsed_s)}` : "");

// The progress line of a run that is no longer training: how it ended and how far it got.
export function progressText(run) {
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
// Few-shot training is scored once, after its last pass; fine-tuning after every epoch (or more often).
export function noScoreYet(run) {
  if (!ACTIVE(run.status)) return "No score was measured before it stopped.";
  const p = run.progress || {};
  if (p.strategy === "fewshot") return "Few-shot training is scored once, when its last pass ends.";
  if (p.epoch != null && p.epoch >= 1) return "The first score comes once this pass's evaluation is done.";
  return "The first score comes at the end of the first epoch.";
}

// The run page: a run that ended early keeps its training card (how far it got) and offers to
// train again; "Resume" (run-page.js) shows where a checkpoint exists.
export function shown(run) {
  const early = ENDED_EARLY.includes(run.status);
  if (early) $("progress-card").hidden = false;
  $("again-row").hidden = !early;
  const checkpoint = run.resumable && run.resumable.step;
  if (run.resumable && !checkpoint) $("resume-row").hidden = true;  // nothing to resume from: train again
  $("again-note").textContent = checkpoint
    ? "Or start over: a new run with the same data file and settings."
    : `A new run with the same data file and settings. ${whyNoCheckpoint(run)}`;
}

// Why an ended run cannot resume: few-shot runs save none, fine-tuning only after some minutes.
function whyNoCheckpoint(run) {
  const s = run.settings || {}, p = run.progress || {};
  if (s.strategy === "fewshot" || p.strategy === "fewshot") return "Few-shot training saves no checkpoint (it takes minutes), so it starts over.";
  const every = s.checkpoint_minutes;
  if (!every) return "This run saved no checkpoint to continue from, so it starts over.";
  const ran = p.elapsed_s != null ? ` and this one ended after ${duration(p.elapsed_s)}` : "";
  return `There is no checkpoint to continue from: one is saved once training has lasted ${every} minutes${ran}, so it starts over.`;
}
