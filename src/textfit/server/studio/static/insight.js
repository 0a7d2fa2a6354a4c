// textfit studio: what a trained model's score means (insight.py).
// The yardstick beside the accuracy, the "not sure" threshold with its coverage curve, and
// "Why?" (the words that pushed an answer). app.js calls textfitInsight.show(run) when a run's
// results are shown, and answer() / minConfidence() / why() for "try it".
// Other code reads the chosen threshold with textfitInsight.minConfidence() (or the
// #min-confidence slider's data-min-confidence attribute) and hears changes as the
// "textfit:min-confidence" event on document ({detail: {runId, minConfidence}}).
"use strict";

window.textfitInsight = (() => {
  const byId = (id) => document.getElementById(id);
  const percent = (x) => (100 * x).toFixed(1) + "%";
  const wholePercent = (x) => Math.round(100 * x) + "%";
  const current = { runId: null, coverage: [] };
  const storageKey = (runId) => `textfit:min-confidence:${runId}`;
  const last = (list) => list[list.length - 1];

  function node(tag, attrs = {}, ...children) {
    const item = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") item.textContent = value;
      else if (key === "class") item.className = value;
      else item.setAttribute(key, value);
    }
    for (const child of children) if (child != null) item.append(child);
    return item;
  }

  function svg(tag, attrs) {
    const item = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs)) item.setAttribute(key, value);
    return item;
  }

  async function getJson(path, options) {
    const response = await fetch(path, options);
    const body = (response.headers.get("content-type") || "").includes("application/json") ? await response.json() : null;
    if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
    return body;
  }

  // ------------------------------------------------------------------ the run's page
  async function show(run) {
    current.runId = run.id;
    current.coverage = [];
    for (const id of ["yardstick", "metric-yardstick", "epochs-yardstick", "insight-threshold"]) {
      const item = byId(id);
      if (item) item.hidden = true;
    }
    let insight;
    try {
      insight = await getJson(`/api/runs/${run.id}/insight`);
    } catch (error) {
      return; // the results view already reports a run without a model
    }
    if (current.runId !== run.id) return;
    showYardstick(insight.yardstick);
    showThreshold(insight);
  }

  function showYardstick(yardstick) {
    if (!yardstick) return; // a model trained before textfit measured the yardstick
    const box = byId("yardstick");
    box.className = `notice yardstick ${yardstick.beats === false ? "warn not-beaten" : "info"}`;
    box.replaceChildren(...[
      yardstick.beats === false ? node("strong", { text: "It does not clearly beat a simple rule. " }) : null,
      node("span", { id: "yardstick-sentence", text: yardstick.sentence }),
      yardstick.hint ? node("span", { class: "yardstick-hint", text: " " + yardstick.hint }) : null].filter(Boolean));
    box.hidden = false;
    const tile = byId("metric-yardstick");
    tile.textContent = yardstick.short;
    tile.classList.toggle("not-beaten", yardstick.beats === false);
    tile.hidden = false;
    byId("epochs-yardstick").textContent = yardstick.evaluations_note;
    byId("epochs-yardstick").hidden = false;
  }

  // ------------------------------------------------------------------ "not sure": the threshold
  function savedThreshold(runId) {
    const value = parseFloat(localStorage.getItem(storageKey(runId)));
    return isFinite(value) ? value : 0;
  }

  function showThreshold(insight) {
    const section = byId("insight-threshold");
    current.coverage = insight.coverage;
    if (!insight.coverage.length) return; // a model from before the coverage curve: no slider
    const slider = node("input", { type: "range", id: "min-confidence", min: "0", max: String(insight.coverage.length - 1),
      step: "1", "aria-label": "How sure the model must be to answer" });
    const saved = savedThreshold(current.runId);
    const nearest = insight.coverage.reduce((best, point, i) =>
      Math.abs(point.threshold - saved) < Math.abs(insight.coverage[best].threshold - saved) ? i : best, 0);
    slider.value = String(nearest);
    const chart = svg("svg", { id: "coverage-chart", class: "chart", viewBox: "0 0 400 160", preserveAspectRatio: "none" });
    const calibration = insight.calibration
      ? "Its confidences were calibrated on the test messages, so a score of 80% is right about 8 times in 10 there."
      : "Its confidences are not calibrated (too few test messages), so treat the scores as rough.";
    section.replaceChildren(
      node("h2", { text: "When should it say “not sure”?" }),
      node("p", { class: "muted", text: "Below the confidence you choose here, “try it” answers “not sure” instead of a label. " +
        "The curve shows, on the test messages, how many would still get a label and how often those labels are right. " + calibration }),
      node("div", { class: "threshold-row" }, node("label", { for: "min-confidence", class: "threshold-label", text: "Answer only when at least" }),
        slider, node("span", { id: "min-confidence-value", class: "threshold-value" })),
      node("p", { id: "coverage-readout", class: "coverage-readout", role: "status" }),
      node("div", { class: "chart-box" }, chart,
        node("span", { class: "chart-scale top", text: "100%" }), node("span", { class: "chart-scale bottom", text: "0%" })),
      node("div", { class: "coverage-axis small" }, node("span", { text: "0%" }),
        node("span", { text: "the confidence it must have" }), node("span", { text: wholePercent(last(insight.coverage).threshold) })),
      node("p", { class: "coverage-legend small" },
        node("span", { class: "swatch accuracy" }), " right among the answered ",
        node("span", { class: "swatch answered" }), " share answered ",
        node("span", { class: "swatch chosen" }), " your choice"));
    slider.addEventListener("input", () => choose(Number(slider.value)));
    section.hidden = false;
    choose(nearest, false);
  }

  function choose(index, remember = true) {
    const point = current.coverage[index];
    if (!point) return;
    const slider = byId("min-confidence");
    slider.dataset.minConfidence = String(point.threshold);
    byId("min-confidence-value").textContent = `${wholePercent(point.threshold)} sure`;
    byId("coverage-readout").textContent = readout(point);
    drawCoverage(point.threshold);
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
    return `${start} ${wholePercent(point.answered)} of messages answered, ${percent(point.accuracy)} of those right${notSure}`;
  }

  function drawCoverage(threshold) {
    const chart = byId("coverage-chart");
    chart.replaceChildren();
    const x = (t) => 44 + (340 * t) / (last(current.coverage).threshold || 1);  // room on the left for the scale
    const y = (share) => 150 - 140 * share;
    const line = (key) => current.coverage.filter((p) => p[key] != null)
      .map((p, i) => `${i ? "L" : "M"}${x(p.threshold).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
    chart.append(svg("line", { x1: 44, y1: 150, x2: 384, y2: 150, class: "axis" }));
    chart.append(svg("line", { x1: x(threshold), y1: 8, x2: x(threshold), y2: 150, class: "threshold-line" }));
    chart.append(svg("path", { d: line("answered"), class: "answered-line" }));
    chart.append(svg("path", { d: line("accuracy"), class: "accuracy-line" }));
  }

  /** The chosen minimum confidence for the run on the page (0 to 1), or undefined when every
   * message gets a label (no threshold chosen, or a model without a coverage curve). */
  function minConfidence() {
    if (!current.runId || !current.coverage.length) return undefined;
    const value = savedThreshold(current.runId);
    return value > 0 ? value : undefined;
  }

  // ------------------------------------------------------------------ "try it": the answer, and why
  /** The answer line for one /predict result: the label and how sure, or "not sure" with the best
   * guess (the label span gets `labelId` as its id where given). */
  function answer(result, labelId) {
    const id = labelId ? { id: labelId } : {};
    if (result.not_sure) {
      return node("div", { class: "answer not-sure" },
        node("span", { class: "answer-label", ...id, text: "not sure" }),
        node("span", { class: "answer-score", text: `best guess: ${result.guess}, ${percent(result.score)}` }));
    }
    return node("div", { class: "answer" }, node("span", { class: "answer-label", ...id, text: result.label }),
      node("span", { class: "answer-score", text: `${percent(result.score)} sure` }));
  }

  /** A "Why?" button for `text` and the place its explanation appears; `auto` explains at once. */
  function why(text, auto = false) {
    const box = node("div", { class: "why" });
    const button = node("button", { type: "button", class: "button small why-button", text: "Why?" });
    const place = node("div", { class: "why-result", "aria-live": "polite" });
    button.addEventListener("click", () => explain(text, button, place));
    box.append(button, place);
    if (auto) explain(text, button, place);
    return box;
  }

  async function explain(text, button, place) {
    button.disabled = true;
    place.replaceChildren(node("span", { class: "muted", text: "Finding the words that mattered…" }));
    try {
      const found = await getJson(`/api/runs/${current.runId}/explain`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }),
      });
      button.hidden = true;
      place.replaceChildren(...explanation(found));
    } catch (error) {
      button.disabled = false;
      place.replaceChildren(node("span", { class: "error", text: error.message }));
    }
  }

  function explanation(found) {
    const label = `“${found.label}”`;
    const parts = [
      node("div", { class: "why-head" }, `Why ${label}? `,
        node("span", { class: "why-note muted small", text: `Each word's colour is how much the confidence in ${label} (${percent(found.probability)}) drops when that word is left out.` })),
      highlighted(found.words, found.weights, (w) => `${w >= 0 ? "+" : "−"}${Math.abs(100 * w).toFixed(1)} points`, "why-words"),
      node("p", { class: "why-legend small" },
        node("span", { class: "why-word", style: "background: rgba(18, 128, 92, 0.55)", text: "toward" }), ` pushed toward ${label} `,
        node("span", { class: "why-word", style: "background: rgba(192, 54, 44, 0.45)", text: "against" }), " pushed away from it; ",
        "the stronger the colour, the stronger the push; no colour: made no difference."),
    ];
    if (found.lexical) {
      parts.push(node("div", { class: "why-sub small" }, "Of that, the word-pattern part (the n-gram model blended into every answer, which looks at words and spellings):"),
        highlighted(found.words, found.lexical, (w) => `${w >= 0 ? "+" : "−"}${Math.abs(w).toFixed(2)} (log-probability)`, "why-lexical"));
    }
    parts.push(node("p", { class: "muted small", text: `Worked out in ${found.seconds.toFixed(2)} s.` }));
    return parts;
  }

  function highlighted(words, weights, describe, className) {
    const strongest = Math.max(...weights.map(Math.abs)) || 1;
    const line = node("p", { class: `why-text ${className}` });
    words.forEach((word, i) => {
      const weight = weights[i];
      const strength = weight ? Math.max(0.06, Math.abs(weight) / strongest) : 0;
      const colour = weight > 0 ? `rgba(18, 128, 92, ${(0.6 * strength).toFixed(3)})` : `rgba(192, 54, 44, ${(0.5 * strength).toFixed(3)})`;
      const attrs = { class: "why-word", "data-weight": String(weight), title: describe(weight), text: word };
      if (weight) attrs.style = `background: ${colour}`;
      line.append(node("span", attrs), " ");
    });
    return line;
  }

  return { show, minConfidence, answer, why };
})();
