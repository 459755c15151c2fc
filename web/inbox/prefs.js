// The preferences view of <tocsin-inbox> (web/inbox.js): channel switches, per-type
// switches for the types the user has seen, quiet hours and this browser's Web Push.
// It edits a copy of the preferences and saves the changed parts with one PATCH
// (a JSON merge patch, PRODUCT.md §3/§8).

import { el, fmt } from "./util.js";

const CHANNELS = [["push", "channelPush"], ["email", "channelEmail"], ["webhook", "channelWebhook"]];

// timeZones lists the IANA zones the browser knows, with zone first if it is missing.
function timeZones(zone) {
  let zones = [];
  try {
    zones = Intl.supportedValuesOf("timeZone");
  } catch {
    zones = ["UTC"];
  }
  return zones.includes(zone) ? zones : [zone, ...zones];
}

/**
 * prefsView builds the form. opts: s (strings), prefs (as GET /api/preferences
 * returned them), types (type names to offer), save(patch) → Promise of the saved
 * preferences, push: {state(), enable(), disable()} or null, idp (an id prefix).
 */
export function prefsView({ s, prefs, types, save, push }) {
  const channels = { push: true, email: true, webhook: true, ...(prefs.channels || {}) };
  const typeRules = prefs.types || {};
  const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const q = prefs.quietHours || null;

  const status = el("span", { role: "status", class: "hint" });
  const chanBoxes = {};
  const chanRows = CHANNELS.map(([c, key]) => {
    chanBoxes[c] = el("input", { type: "checkbox", name: "channel-" + c, checked: channels[c] !== false });
    return el("label", { class: "row" }, chanBoxes[c], s[key]);
  });

  // One row per type: a switch per channel, named "Push for comment" for screen readers.
  const allTypes = [...new Set([...types, ...Object.keys(typeRules)])].sort();
  // Keyed by type names, which may be "__proto__": objects without a prototype keep
  // such a key as a plain property (on a {} its assignment sets the prototype).
  const typeBoxes = Object.create(null);
  const typeTable = allTypes.length ? el("table", {},
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: s.prefsType }),
      ...CHANNELS.map(([, key]) => el("th", { scope: "col", text: s[key] })))),
    el("tbody", {}, ...allTypes.map((t) => {
      typeBoxes[t] = {};
      return el("tr", {}, el("th", { scope: "row", text: t }), ...CHANNELS.map(([c, key]) => {
        const box = el("input", { type: "checkbox", "aria-label": `${s[key]}: ${t}`,
          checked: !(Object.hasOwn(typeRules, t) && typeRules[t] && typeRules[t][c] === false) });
        typeBoxes[t][c] = box;
        return el("td", {}, box);
      }));
    }))) : null;

  const quietOn = el("input", { type: "checkbox", name: "quiet", checked: !!q });
  const start = el("input", { type: "time", name: "quiet-start", value: (q && q.start) || "22:00" });
  const end = el("input", { type: "time", name: "quiet-end", value: (q && q.end) || "07:00" });
  const zone = el("select", { name: "quiet-zone" });
  const want = (q && q.timezone) || localZone;
  for (const z of timeZones(want)) zone.append(el("option", { value: z, text: z, selected: z === want }));
  const quietFields = el("div", { class: "grid" },
    el("label", {}, s.prefsQuietStart, start), el("label", {}, s.prefsQuietEnd, end),
    el("label", {}, s.prefsQuietZone, zone));
  const syncQuiet = () => { for (const f of [start, end, zone]) f.disabled = !quietOn.checked; };
  quietOn.addEventListener("change", syncQuiet);
  syncQuiet();

  const form = el("form", { class: "prefs", "aria-label": s.prefsTitle },
    el("fieldset", {}, el("legend", { text: s.prefsChannels }), el("p", { class: "hint", text: s.prefsChannelsHint }), ...chanRows),
    typeTable && el("fieldset", {}, el("legend", { text: s.prefsTypes }), typeTable),
    el("fieldset", {}, el("legend", { text: s.prefsQuiet }), el("label", { class: "row" }, quietOn, s.prefsQuietOn), quietFields));

  if (push) form.append(pushSection(s, push));
  const saveBtn = el("button", { type: "submit", class: "btn primary", text: s.prefsSave });
  form.append(el("div", { class: "save" }, saveBtn, status));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const patch = { channels: {}, types: Object.create(null) };
    for (const [c] of CHANNELS) patch.channels[c] = chanBoxes[c].checked;
    for (const t of allTypes) {
      const rule = {};
      for (const [c] of CHANNELS) if (!typeBoxes[t][c].checked) rule[c] = false;
      // An all-on type is removed (null in a merge patch): the channels' switches apply.
      patch.types[t] = Object.keys(rule).length ? rule : null;
    }
    patch.quietHours = quietOn.checked ? { start: start.value, end: end.value, timezone: zone.value } : null;
    saveBtn.disabled = true;
    status.textContent = "";
    try {
      await save(patch);
      status.textContent = s.prefsSaved;
    } catch (err) {
      status.textContent = fmt(s.actionFailed, { message: err.message.replace(/^tocsin: /, "") });
    }
    saveBtn.disabled = false;
  });
  return form;
}

// pushSection is the Web Push switch; it stays hidden where the browser cannot
// receive pushes (pushState "unsupported").
function pushSection(s, push) {
  const label = el("span");
  const btn = el("button", { type: "button", class: "btn" });
  const note = el("p", { class: "hint", role: "status" });
  const box = el("fieldset", { hidden: true }, el("legend", { text: s.pushTitle }), el("div", { class: "push" }, label, btn), note);
  let state = "unsupported";
  const show = async () => {
    state = await push.state().catch(() => "unsupported");
    box.hidden = state === "unsupported";
    label.textContent = state === "on" ? s.pushOn : s.pushOff;
    btn.textContent = state === "on" ? s.pushTurnOff : s.pushTurnOn;
    btn.disabled = state === "denied";
    note.textContent = state === "denied" ? s.pushDenied : "";
  };
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      if (state === "on") await push.disable();
      else await push.enable();
    } catch (e) {
      note.textContent = e.code === "denied" ? s.pushDenied : fmt(s.actionFailed, { message: e.message.replace(/^tocsin: /, "") });
    }
    await show();
  });
  show();
  return box;
}
