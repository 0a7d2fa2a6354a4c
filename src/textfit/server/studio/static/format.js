// textfit studio: numbers, durations and dates as the page writes them; never "null", "undefined"
// or "NaN" on the page.

export const NBSP = "\u00a0";  // numbers and their units never wrap apart

const known = (x) => x != null && x !== "" && isFinite(x);
export const pct = (x) => (known(x) ? (100 * x).toFixed(1) + "%" : "–");
export const num = (x, d = 3) => (known(x) ? Number(x).toFixed(d) : "–");
export const count = (n) => Number(n || 0).toLocaleString();

// "1 h 5 min", "2 min 05 s", "7 s"; `unit` goes between a number and its unit (NBSP: never apart).
export function duration(seconds, unit = " ") {
  if (seconds == null || !isFinite(seconds)) return "–";
  seconds = Math.max(0, Math.round(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  if (h) return `${h}${unit}h ${m}${unit}min`;
  if (m) return `${m}${unit}min ${String(s).padStart(2, "0")}${unit}s`;
  return `${s}${unit}s`;
}

export function when(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

// The time left as the page shows it, steady: a countdown from the last figure shown, which follows
// a new estimate only when they differ by more than a quarter (and 15 s), a third of the way per
// poll, so a run's pace measured afresh every second does not make it jump (19 -> 10 -> 12 min).
// `key`: what it is the time left of (a run id). Null while there is no estimate.
const shownLeft = new Map();
export function steadyLeft(key, eta) {
  if (eta == null || !isFinite(eta)) { shownLeft.delete(key); return null; }
  const now = Date.now() / 1000, last = shownLeft.get(key);
  let shown = eta;
  if (last) {
    const counted = Math.max(0, last.shown - (now - last.at));
    shown = Math.abs(eta - counted) <= 0.25 * counted + 15 ? counted : counted + (eta - counted) / 3;
  }
  shownLeft.set(key, { shown, at: now });
  return shown;
}

// "about 12 min left", "about 1 min 40 s left", "under a minute left": whole minutes past 3.
export function leftText(seconds) {
  if (seconds == null) return "";
  if (seconds < 60) return "under a minute left";
  return `about ${seconds >= 180 ? `${Math.round(seconds / 60)} min` : duration(Math.round(seconds / 10) * 10)} left`;
}

// An accuracy with its size and 95 % range (model/evaluate.py accuracy_figure): the run page's tile
// and the labeling page's line show the same figure. Below a few dozen test messages no single
// held-out percentage stands alone: the cross-validated estimate where there is one, else the range.
export const range = (low, high) => `${Math.round(100 * low)}–${Math.round(100 * high)}${NBSP}%`;
export function figureValue(f) {
  if (f.source === "cross-validated") return `≈${Math.round(100 * f.accuracy)}%`;
  return f.enough ? pct(f.accuracy) : `${Math.round(100 * f.low)}–${Math.round(100 * f.high)}%`;
}
export function figureSize(f) {
  if (f.source === "cross-validated") return `range ${range(f.low, f.high)}, cross-validated on ${count(f.examples)} examples`;
  return `range ${range(f.low, f.high)}, on ${f.enough ? "" : "only "}${count(f.examples)} test messages`;
}
