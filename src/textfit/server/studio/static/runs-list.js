// textfit studio: the sidebar's "Your models": each run's name, score, how it ended and disk use,
// the open run highlighted; polled while a run waits or trains.
import { api } from "./api.js";
import { $, el } from "./dom.js";
import { num, pct, when } from "./format.js";
import { ACTIVE, ending, word } from "./outcome.js";

let timer = null;
let openRun = null;  // the run the page shows, highlighted
let sizes = {};      // run id -> {bytes, size}: disk use, from /api/storage

// The list's accuracy with the test messages it rests on (the yardstick's count); too few for one
// figure (the yardstick's one_figure: model/evaluate.py SMALL_HOLD_OUT), no bare percentage: the
// model's page gives its range.
function accuracyWords(run) {
  const tested = run.yardstick && run.yardstick.examples;
  if (run.metrics.micro_f1 != null) return `micro-F1 ${num(run.metrics.micro_f1, 2)}${tested ? ` on ${tested}` : ""}`;  // several labels a text
  if (!tested) return `accuracy ${pct(run.metrics.accuracy)}`;
  return run.yardstick.one_figure === false ? `only ${tested} test messages: see its range` : `accuracy ${pct(run.metrics.accuracy)} on ${tested}`;
}

export async function loadRuns() {
  clearTimeout(timer);
  try {
    const { runs } = await api("/api/runs");
    const list = $("runs-list");
    list.replaceChildren();
    if (!runs.length) list.append(el("li", { class: "muted", text: "Nothing trained yet." }));
    for (const run of runs) {
      const score = run.metrics ? accuracyWords(run)
        : run.queue ? `waiting (place ${run.queue.position})` : word(run);
      const yardstick = run.metrics && run.yardstick;
      const link = el("a", { href: `#run/${run.id}`, "data-run": run.id },
        el("span", { class: "run-name", text: shortName(run.name), title: run.name }),
        el("span", { class: "run-meta" }, el("span", { class: `dot ${run.status}` }), `${score} · ${when(run.created)}`),
        yardstick && yardstick.beats === false ? el("span", { class: "run-ending",  // the yardstick (insight.py)
          text: `no better than always “${yardstick.label}” (${yardstick.micro_f1 != null ? `micro-F1 ${num(yardstick.micro_f1, 2)}` : pct(yardstick.accuracy)})` }) : "",
        ending(run));  // "stopped: time budget reached" under a scored run
      list.append(el("li", {}, link));
    }
    markOpen(openRun);
    showDiskUse(runs);
    if (runs.some((r) => ACTIVE(r.status))) timer = setTimeout(loadRuns, 3000);
  } catch (error) {
    timer = setTimeout(loadRuns, 5000);
  }
}

// A long name keeps its beginning and its end ("Sentiment FR (quick … again)"): runs named alike
// differ at the end, which cutting the end alone would hide.
export function shortName(name, most = 56) {
  return name.length <= most ? name : `${name.slice(0, most - 20).trimEnd()} … ${name.slice(-18).trimStart()}`;
}

// Highlight the run the page shows (null: none).
export function markOpen(runId) {
  openRun = runId;
  document.querySelectorAll("#runs-list a").forEach((a) => a.classList.toggle("active", a.dataset.run === runId));
}

// What a run uses on disk ({bytes, size}), as last fetched; undefined before.
export const diskUse = (runId) => sizes[runId];

async function showDiskUse(runs) {
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
