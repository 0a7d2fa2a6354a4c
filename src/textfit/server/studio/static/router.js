// textfit studio: the address after "#" says what the page shows: #new (a new model, the default),
// #run/<id> (one run), #label (a new labeling project) or #label/<id> (one project).

// {view: "new" | "run" | "label", id: the run's or project's id, or null}
export function where() {
  const run = location.hash.match(/^#run\/([a-z0-9-]+)$/);
  if (run) return { view: "run", id: run[1] };
  const label = location.hash.match(/^#label(?:\/([a-z0-9-]+))?$/);
  if (label) return { view: "label", id: label[1] || null };
  return { view: "new", id: null };
}

// Call `show(where())` now and whenever the address changes; an empty address becomes #new.
export function follow(show) {
  window.addEventListener("hashchange", () => show(where()));
  if (!location.hash) location.hash = "#new";  // a hashchange: shown from there
  else show(where());
}
