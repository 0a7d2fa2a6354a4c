// textfit studio: what the training form says about the uploaded file's labels. Labels that are
// numbers get a visible prompt to name them (the model answers with its label names: "4" means
// nothing to a reader); a file with a single column has no label column, and cannot be trained.
import { $ } from "./dom.js";

const WHOLE = /^\d+$/;
let found = null;  // the number labels of the file on the form, while they want names

// The preview's label values when every one is a whole number (and the file names none), else null.
function numbers(data) {
  if (!data.labels || data.label_names || !data.labels.counts.length) return null;
  const values = data.labels.counts.map((c) => c.value);
  if (!values.every((v) => WHOLE.test(v))) return null;
  const sorted = values.map(Number).sort((a, b) => a - b);
  return { min: sorted[0], max: sorted[sorted.length - 1], common: data.labels.counts[0].value };
}

export function checked(data) {
  const single = data.columns.length < 2;
  $("start").disabled = single;
  $("start").title = single ? "This file has no label column." : "";
  found = numbers(data);
  const prompt = $("number-labels");
  prompt.hidden = !found;
  $("label-names-help").hidden = Boolean(found);  // the prompt says it, with this file's numbers
  if (found) {
    const from = found.min > 0 ? ` Your numbers start at ${found.min}: begin with a name for 0 (any word, e.g. “unused”).` : "";
    prompt.textContent = `Your labels are numbers (${found.min}–${found.max}). Name them so results read “Dividend”, not “${found.common}”: ` +
      `one name per number, in order from 0, separated by commas or one a line.${from}`;
    $("label-names-box").open = true;  // never hidden under "optional"
    $("label-names").placeholder = "e.g. Negative, Neutral, Positive";
    counted();
  } else {
    $("label-names-count").textContent = "";
  }
}

function counted() {
  if (!found) return;
  const given = $("label-names").value.split(/[,;\r\n]/).filter((n) => n.trim()).length;  // as the studio splits them
  const needed = found.max + 1;
  $("label-names-count").textContent = given ? `${given} of ${needed} named` : "";
}

export function init() {
  $("label-names").addEventListener("input", counted);
}
