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
