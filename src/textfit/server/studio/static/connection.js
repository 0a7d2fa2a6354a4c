// textfit studio: when the studio stops answering (stopped, crashed, restarting), a calm banner
// and retries with backoff instead of errors; when it answers again, the page reloads what it
// shows by itself. app.js's api() reports a request that got no answer (failed); app.js
// registers what to reload (onBack).
"use strict";

const textfitConnection = (() => {
  const FIRST_RETRY_MS = 1000, LONGEST_RETRY_MS = 8000, HINT_AFTER_MS = 20000;
  const reloads = [];
  let lostSince = null;  // when the first request went unanswered; null while in contact
  let delay = FIRST_RETRY_MS;
  let timer = null;

  function banner() {
    let box = document.getElementById("connection-banner");
    if (!box) {
      box = el("div", { id: "connection-banner", class: "connection-banner", role: "status", hidden: "" },
        el("span", { class: "connection-dot" }),
        el("span", { id: "connection-text", text: "Lost contact with the studio — retrying…" }),
        el("span", { id: "connection-hint", class: "connection-hint", hidden: "" }));
      document.body.prepend(box);
    }
    return box;
  }

  // A request got no answer at all: show the banner, start retrying, and hand the caller an error
  // that says so (error.offline: callers keep what they show rather than report a failure).
  function failed() {
    if (lostSince === null) {
      lostSince = Date.now();
      delay = FIRST_RETRY_MS;
      banner().hidden = false;
      $("connection-hint").hidden = true;
      const badge = $("run-status");  // never a stale "training": nobody can tell from here
      if (badge) { badge.textContent = "no contact"; badge.className = "badge offline"; }
      retry();
    }
    const error = new Error("Lost contact with the studio — retrying…");
    error.offline = true;
    return error;
  }

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
    banner().hidden = true;
    for (const reload of reloads) reload();
  }

  return {
    failed,
    onBack: (reload) => reloads.push(reload),
    get lost() { return lostSince !== null; },
  };
})();
