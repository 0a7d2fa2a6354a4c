// textfit studio: what a trained model's score means (insight.py).
// The yardstick beside the accuracy, the "not sure" threshold with its coverage curve, and
// "Why?" (the words that pushed an answer). run-page.js calls show(run) when a run's results are
// shown, and answer() / minConfidence() / why() for "try it".
// Other code reads the chosen threshold with minConfidence() (or the #min-confidence slider's
// data-min-confidence attribute) and hears changes as the "textfit:min-confidence" event on
// document ({detail: {runId, minConfidence}}).
import { api } from "./api.js";
import { $, el, svgEl } from "./dom.js";
import { pct } from "./format.js";

const wholePercent = (x) => Math.round(100 * x) + "%";
const current = { runId: null, coverage: [], several: false };
// A model of several labels a text decides "not sure" per label (insight.py's several_labels): the slider's
// steps, without a coverage curve (the curve is measured for one label a text).
const SEVERAL_STEPS = [0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99];
const storageKey = (runId) => `textfit:min-confidence:${runId}`;
const last = (list) => list[list.length - 1];

// ------------------------------------------------------------------ the run's page
export async function show(run) {
  forget();
  current.runId = run.id;
  let insight;
  try {
    insight = await api(`/api/runs/${run.id}/insight`);
  } catch (error) {
    return; // the results view already reports a run without a model
  }
  if (current.runId !== run.id) return;
  showYardstick(insight.yardstick);
  showThreshold(insight);
}

// Nothing of the last run shown stays: another run's page (one still training, say) has none yet.
export function forget() {
  current.runId = null;
  current.coverage = [];
  current.several = false;
  for (const id of ["yardstick", "metric-yardstick", "epochs-yardstick", "insight-threshold"]) $(id).hidden = true;
  $("epochs-yardstick").textContent = "";
}

function showYardstick(yardstick) {
  if (!yardstick) return; // a model trained before textfit measured the yardstick
  const box = $("yardstick");
  box.className = `notice yardstick ${yardstick.beats === false ? "warn not-beaten" : "info"}`;
  box.replaceChildren(...[
    yardstick.beats === false ? el("strong", { text: "It does not clearly beat a simple rule. " }) : null,
    el("span", { id: "yardstick-sentence", text: yardstick.sentence }),
    yardstick.hint ? el("span", { class: "yardstick-hint", text: " " + yardstick.hint }) : null].filter(Boolean));
  box.hidden = false;
  const tile = $("metric-yardstick");
  tile.textContent = yardstick.short;
  tile.classList.toggle("not-beaten", yardstick.beats === false);
  tile.hidden = false;
  $("epochs-yardstick").textContent = yardstick.evaluations_note;
  $("epochs-yardstick").hidden = false;
}

// ------------------------------------------------------------------ "not sure": the threshold
function savedThreshold(runId) {
  const value = parseFloat(localStorage.getItem(storageKey(runId)));
  return isFinite(value) ? value : 0;
}

function showThreshold(insight) {
  current.several = Boolean(insight.several_labels);
  current.coverage = current.several ? SEVERAL_STEPS.map((threshold) => ({ threshold })) : insight.coverage;
  if (!current.coverage.length) return; // a model from before the coverage curve: no slider
  const slider = $("min-confidence");
  slider.max = String(current.coverage.length - 1);
  const saved = savedThreshold(current.runId);
  const nearest = current.coverage.reduce((best, point, i) =>
    Math.abs(point.threshold - saved) < Math.abs(current.coverage[best].threshold - saved) ? i : best, 0);
  slider.value = String(nearest);
  $("calibration-note").textContent = insight.calibration
    ? "Its confidences were calibrated on the test messages, so a score of 80% is right about 8 times in 10 there."
    : "Its confidences are not calibrated (too few test messages), so treat the scores as rough.";
  showSeveral(insight.label_calibration);
  $("coverage-axis-end").textContent = wholePercent(last(current.coverage).threshold);
  $("insight-threshold").hidden = false;
  choose(nearest, false);
}

// Several labels a text: one plain sentence in place of the curve, which is drawn for one label a text.
function showSeveral(calibration) {
  const card = $("insight-threshold");
  for (const part of card.querySelectorAll(".chart-box, .coverage-axis, .coverage-legend")) part.hidden = current.several;
  $("threshold-intro").hidden = current.several;
  $("threshold-several").hidden = !current.several;
  card.querySelector(".threshold-label").textContent = current.several ? "Give or deny a label only when at least" : "Answer only when at least";
  if (!current.several) return;
  const how = calibration ? `each label's confidence was calibrated on ${calibration.examples} test messages`
    : "its confidences are each label's raw score (too few test messages to calibrate them), so treat them as rough";
  $("threshold-several").textContent = "This model decides each label on its own, so there is no single curve here "
    + "(it is drawn for models of one label a text): a label whose decision is less sure than the confidence you choose "
    + `is listed apart as “not sure” in “try it” and “Classify a file”; ${how}.`;
}

function choose(index, remember = true) {
  const point = current.coverage[index];
  if (!point) return;
  const slider = $("min-confidence");
  slider.dataset.minConfidence = String(point.threshold);
  $("min-confidence-value").textContent = `${wholePercent(point.threshold)} sure`;
  $("coverage-readout").textContent = current.several ? severalReadout(point) : readout(point);
  if (!current.several) drawCoverage(point.threshold);
  if (remember) {
    localStorage.setItem(storageKey(current.runId), String(point.threshold));
    document.dispatchEvent(new CustomEvent("textfit:min-confidence",
      { detail: { runId: current.runId, minConfidence: minConfidence() ?? 0 } }));
  }
}

function readout(point) {
  const unanswered = 1 - point.answered;
  if (point.accuracy == null) return `At ${wholePercent(point.threshold)}: no test message is this sure; every answer would be “not sure”.`;
  const start = point.threshold === 0 ? "At 0% (always answer):" : `At ${wholePercent(point.threshold)}:`;
  const notSure = unanswered > 0 ? `; ${wholePercent(unanswered)} would get “not sure”.` : ".";
  return `${start} ${wholePercent(point.answered)} of messages answered, ${pct(point.accuracy)} of those right${notSure}`;
}

function severalReadout(point) {
  if (point.threshold === 0) return "At 0%: every label is given or not, never “not sure”.";
  return `At ${wholePercent(point.threshold)}: a label whose decision is less than ${wholePercent(point.threshold)} sure is “not sure”.`;
}

function drawCoverage(threshold) {
  const chart = $("coverage-chart");
  chart.replaceChildren();
  const x = (t) => 44 + (340 * t) / (last(current.coverage).threshold || 1);  // room on the left for the scale
  const y = (share) => 150 - 140 * share;
  const line = (key) => current.coverage.filter((p) => p[key] != null)
    .map((p, i) => `${i ? "L" : "M"}${x(p.threshold).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
  chart.append(svgEl("line", { x1: 44, y1: 150, x2: 384, y2: 150, class: "axis" }));
  chart.append(svgEl("line", { x1: x(threshold), y1: 8, x2: x(threshold), y2: 150, class: "threshold-line" }));
  chart.append(svgEl("path", { d: line("answered"), class: "answered-line" }));
  chart.append(svgEl("path", { d: line("accuracy"), class: "accuracy-line" }));
}

/** The chosen minimum confidence for the run on the page (0 to 1), or undefined when every
 * message gets a label (no threshold chosen, or a model without a coverage curve). */
export function minConfidence() {
  if (!current.runId || !current.coverage.length) return undefined;
  const value = savedThreshold(current.runId);
  return value > 0 ? value : undefined;
}

// ------------------------------------------------------------------ "try it": the answer, and why
/** The answer line for one /predict result: the label and how sure, or "not sure" with the best
 * guess (the label span gets `labelId` as its id where given). */
export function answer(result, labelId) {
  const id = labelId ? { id: labelId } : {};
  if (result.not_sure) {
    return el("div", { class: "answer not-sure" },
      el("span", { class: "answer-label", ...id, text: "not sure" }),
      el("span", { class: "answer-score", text: `best guess: ${result.guess}, ${pct(result.score)}` }));
  }
  return el("div", { class: "answer" }, el("span", { class: "answer-label", ...id, text: result.label }),
    el("span", { class: "answer-score", text: `${pct(result.score)} sure` }));
}

/** A "Why?" button for `text` and the place its explanation appears; `auto` explains at once. */
export function why(text, auto = false) {
  const box = el("div", { class: "why" });
  const button = el("button", { type: "button", class: "button small why-button", text: "Why?" });
  const place = el("div", { class: "why-result", "aria-live": "polite" });
  button.addEventListener("click", () => explain(text, button, place));
  box.append(button, place);
  if (auto) explain(text, button, place);
  return box;
}

async function explain(text, button, place) {
  button.disabled = true;
  place.replaceChildren(el("span", { class: "muted", text: "Finding the words that mattered…" }));
  try {
    const found = await api(`/api/runs/${current.runId}/explain`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }),
    });
    button.hidden = true;
    place.replaceChildren(...explanation(found));
  } catch (error) {
    button.disabled = false;
    place.replaceChildren(el("span", { class: "error", text: error.message }));
  }
}

function explanation(found) {
  const label = `“${found.label}”`;
  const parts = [
    el("div", { class: "why-head" }, `Why ${label}? `,
      el("span", { class: "why-note muted small", text: `Each word's colour is how much the confidence in ${label} (${pct(found.probability)}) drops when that word is left out.` })),
    highlighted(found.words, found.weights, (w) => `${w >= 0 ? "+" : "−"}${Math.abs(100 * w).toFixed(1)} points`, "why-words"),
    el("p", { class: "why-legend small" },
      el("span", { class: "why-word", style: "background: rgba(18, 128, 92, 0.55)", text: "toward" }), ` pushed toward ${label} `,
      el("span", { class: "why-word", style: "background: rgba(192, 54, 44, 0.45)", text: "against" }), " pushed away from it; ",
      "the stronger the colour, the stronger the push; no colour: made no difference."),
  ];
  if (found.lexical) {
    parts.push(el("div", { class: "why-sub small" }, "Of that, the word-pattern part (the n-gram model blended into every answer, which looks at words and spellings):"),
      highlighted(found.words, found.lexical, (w) => `${w >= 0 ? "+" : "−"}${Math.abs(w).toFixed(2)} (log-probability)`, "why-lexical"));
  }
  parts.push(el("p", { class: "muted small", text: `Worked out in ${found.seconds.toFixed(2)} s.` }));
  return parts;
}

function highlighted(words, weights, describe, className) {
  const strongest = Math.max(...weights.map(Math.abs)) || 1;
  const line = el("p", { class: `why-text ${className}` });
  words.forEach((word, i) => {
    const weight = weights[i];
    const strength = weight ? Math.max(0.06, Math.abs(weight) / strongest) : 0;
    const colour = weight > 0 ? `rgba(18, 128, 92, ${(0.6 * strength).toFixed(3)})` : `rgba(192, 54, 44, ${(0.5 * strength).toFixed(3)})`;
    const attrs = { class: "why-word", "data-weight": String(weight), title: describe(weight), text: word };
    if (weight) attrs.style = `background: ${colour}`;
    line.append(el("span", attrs), " ");
  });
  return line;
}

// ------------------------------------------------------------------ wiring
export function init() {
  const slider = $("min-confidence");
  slider.addEventListener("input", () => choose(Number(slider.value)));
}
