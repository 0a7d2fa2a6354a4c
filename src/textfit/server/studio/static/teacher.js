// textfit studio: what learning from texts without labels adds to a run, said before it starts (the
// estimate's `unlabeled` part: runs/estimate.unlabeled_part), on the new-run form and in a labeling
// project's "Train the model"; where the larger teacher would be taken but is not downloaded, the offer
// to fetch it once (POST /api/models/teacher/fetch, followed through GET /api/models/teacher).
import { api, post } from "./api.js";
import { el } from "./dom.js";
import { count } from "./format.js";

const about = (s) => (s < 45 ? "under a minute" : `about ${Math.max(1, Math.round(s / 60))} min`);

// The line's words: who teaches, the time it adds, and the gain measured for that teacher (or that none was).
export function unlabeledText(part) {
  const texts = `${count(part.texts)} unlabeled text${part.texts === 1 ? "" : "s"}`;
  const who = part.teacher === part.larger_teacher.name
    ? `The larger model (${part.teacher}) learns your ${count(part.labels)} labels and reads your ${texts}`
    : `The model teaches itself from your ${texts}`;
  const sampled = part.texts_used < part.texts ? ` (${count(part.texts_used)} of them, sampled to fit the time limit)` : "";
  const gain = part.gain.measured ? gainWords(part.gain) : "gain not measured yet";
  return `${who}${sampled}: ${about(part.total_s)} more; ${gain}.`;
}

// A measured gain in words: the points, on what data, how many samples.
function gainWords(g) {
  return `measured gain ${g.points >= 0 ? "+" : ""}${g.points} points on ${g.data} (${g.note || `${g.samples} samples`})`;
}

// Fills `box` with the line, and the offer to fetch the larger teacher where the estimate makes it;
// `fetched` is called once it is downloaded (the estimate is then asked again: the teacher changes).
export function showUnlabeled(box, part, fetched) {
  box.hidden = !part;
  if (!part) return box.replaceChildren();
  const line = el("span", { text: unlabeledText(part) });
  const offer = part.larger_teacher;
  if (!offer.offer_fetch) return box.replaceChildren(line);
  const button = el("button", { type: "button", class: "button small", text: `Fetch the larger teacher (about ${offer.size_mb} MB, once)` });
  const worth = offer.gain.measured ? el("span", { class: "muted small", text: ` With it: ${gainWords(offer.gain)}.` }) : "";
  const status = el("span", { class: "muted small", role: "status" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      follow(await post("/api/models/teacher/fetch"), button, status, fetched);
    } catch (error) {
      status.textContent = error.message;
      button.disabled = false;
    }
  });
  box.replaceChildren(line, " ", button, worth, " ", status);
  api("/api/models/teacher").then((t) => t.fetch && t.fetch.status === "running" && follow(t, button, status, fetched)).catch(() => {});
}

// A fetch under way: its last step every two seconds, then done (fetched()) or its error, in words.
function follow(teacher, button, status, fetched) {
  const fetch = teacher.fetch;
  if (teacher.downloaded) return fetched();
  if (!fetch || fetch.status === "failed") {
    status.textContent = fetch ? fetch.error : "";
    button.disabled = false;
    return;
  }
  button.disabled = true;
  const seconds = Math.round(Date.now() / 1000 - fetch.started_at);
  status.textContent = `Fetching ${teacher.name}: ${fetch.step} (${seconds} s so far)…`;
  setTimeout(() => {
    if (!button.isConnected) return;  // the line was redrawn: its own check follows the fetch
    api("/api/models/teacher").then((t) => follow(t, button, status, fetched)).catch(() => follow(teacher, button, status, fetched));
  }, 2000);
}
