// textfit studio: the page's entry, loaded by index.html as a module: plain JavaScript over the
// studio's JSON API, no build step, no network beyond localhost. Every view's markup is in
// index.html; each view's module fills it: new-run.js (#new), run-page.js (#run/<id>),
// labeling.js (#label); the sidebar is runs-list.js's and labeling.js's.
import { api } from "./api.js";
import * as connection from "./connection.js";
import { $, toast } from "./dom.js";
import * as labeling from "./labeling.js";
import * as newRun from "./new-run.js";
import * as router from "./router.js";
import * as runPage from "./run-page.js";
import { loadRuns, markOpen } from "./runs-list.js";

function show({ view, id }) {
  $("view-new").hidden = view !== "new";
  runPage.opened(view === "run" ? id : null);
  labeling.opened(view === "label", view === "label" ? id : null);
  markOpen(view === "run" ? id : null);
}

async function studioInfo() {
  try {
    const info = await api("/api/info");
    for (const size of [$("max-upload"), ...document.querySelectorAll(".max-upload-size")]) size.textContent = info.max_upload;
    return info;
  } catch (error) {
    if (!error.offline) toast(error.message);  // no answer: connection.js's banner says so
    return null;
  }
}

async function init() {
  labeling.init();
  newRun.init();
  runPage.init();
  newRun.useInfo(await studioInfo());
  connection.onBack(() => { loadRuns(); runPage.loadRun(); });  // the studio answers again
  await loadRuns();
  router.follow(show);
}

init();
