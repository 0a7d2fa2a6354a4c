// textfit studio: "Label messages" in a project of several labels a message (labeling/label_sets.py).
// The key on a category (1-9, then letters) or a click toggles it, ← → move a cursor along the
// categories and Space toggles the one under it, Enter confirms the set: the toggled ones, or the
// suggestion alone when none is. labeling.js asks this module what a key does and what Enter sends.
import { $ } from "./dom.js";

const chosen = new Set();  // the categories toggled on for the message on screen
let cursor = -1;           // the category ← → point at (Space toggles it)
const KEYS_WORDS = "1–9, then letters, or a click: toggle a category · ← → and Space: toggle without them · "
  + "Enter: confirm (nothing toggled: the suggestion) · S: skip · Backspace: back";

// A new message on screen: toggled as it was answered before (`given`, a list), else nothing.
export function reset(given) {
  chosen.clear();
  (Array.isArray(given) ? given : given ? [given] : []).forEach((name) => chosen.add(name));
  cursor = -1;
  show();
}

export function toggle(name) {
  if (chosen.has(name)) chosen.delete(name);
  else chosen.add(name);
  show();
}

// What Enter confirms: the toggled categories in the page's order, or the suggestion alone.
export function confirmed(suggestion) {
  const order = [...document.querySelectorAll(".label-choice")].map((b) => b.dataset.label);
  const picked = order.filter((name) => chosen.has(name));
  return picked.length ? picked : suggestion ? [suggestion] : [];
}

export function moveCursor(by) {
  const buttons = [...document.querySelectorAll(".label-choice")];
  if (!buttons.length) return;
  cursor = cursor < 0 ? 0 : (cursor + by + buttons.length) % buttons.length;
  show();
  buttons[cursor].scrollIntoView({ block: "nearest" });
}

export function toggleAtCursor() {
  const button = document.querySelectorAll(".label-choice")[cursor];
  if (button) toggle(button.dataset.label);
}

function show() {
  document.querySelectorAll(".label-choice").forEach((b, i) => {
    b.classList.toggle("selected", chosen.has(b.dataset.label));
    b.classList.toggle("cursor", i === cursor);
    b.setAttribute("aria-pressed", String(chosen.has(b.dataset.label)));
  });
}

// The hint under the message.
export function hint(item) {
  if (item.given === null) return "You skipped this one. Toggle its labels and press Enter, or skip it again.";
  if (item.given !== undefined) {
    const names = (Array.isArray(item.given) ? item.given : [item.given]).map((n) => `“${n}”`).join(", ");
    return `You labeled this ${names}. Keep them (Enter) or toggle others.`;
  }
  return `Suggested: ${item.suggestion}. Toggle every label that fits, then Enter (nothing toggled: Enter takes the suggestion).`;
}

// The keys line under the choices: this mode's keys, or the page's own (`usual`) for one label a message.
export function keysLine(several, usual) {
  $("label-keys").textContent = several ? KEYS_WORDS : usual;
}
