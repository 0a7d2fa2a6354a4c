// textfit studio: when the studio stops answering (stopped, crashed, restarting), a calm banner
// (#connection-banner) and retries with backoff instead of errors; when it answers again, the
// page reloads what it shows by itself. api.js reports a request that got no answer (failed);
// the views register what to reload (onBack).
import { $ } from "./dom.js";

const FIRST_RETRY_MS = 1000, LONGEST_RETRY_MS = 8000, HINT_AFTER_MS = 20000;
const reloads = [];
let lostSince = null;  // when the first request went unanswered; null while in contact
let delay = FIRST_RETRY_MS;
let timer = null;

// A request got no answer at all: show the banner, start retrying, and hand the caller an error
// that says so (error.offline: callers keep what they show rather than report a failure).
export function failed() {
  if (lostSince === null) {
    lostSince = Date.now();
    delay = FIRST_RETRY_MS;
    $("connection-banner").hidden = false;
    $("connection-hint").hidden = true;
    const badge = $("run-status");  // never a stale "training": nobody can tell from here
    badge.textContent = "no contact";
    badge.className = "badge offline";
    retry();
  }
  const error = new Error("Lost contact with the studio — retrying…");
  error.offline = true;
  return error;
}

export const onBack = (reload) => reloads.push(reload);

function retry() {
  clearTimeout(timer);
  timer = setTimeout(probe, delay);
  delay = Math.min(2 * delay, LONGEST_RETRY_MS);
}

async function probe() {
  try {
    await fetch("/api/info", { cache: "no-store" });  // any answer, even a refusal, means it is back
  } catch (error) {
    if (Date.now() - lostSince > HINT_AFTER_MS) {
      const hint = $("connection-hint");
      hint.textContent = "Is `textfit studio` still running? Start it again with the same folder: the page carries on by itself.";
      hint.hidden = false;
    }
    return retry();
  }
  back();
}

function back() {
  lostSince = null;
  clearTimeout(timer);
  $("connection-banner").hidden = true;
  for (const reload of reloads) reload();
}
