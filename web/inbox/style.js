// The stylesheet of <tocsin-inbox> (web/inbox.js), adopted by its shadow root. Every
// colour comes from a --tocsin-* custom property with a light and a dark default
// (prefers-color-scheme, or the theme attribute); the defaults keep text at 4.5:1
// or more on every background they sit on (checked by the browser test with axe).

const LIGHT = `--_bg: var(--tocsin-bg, #ffffff); --_fg: var(--tocsin-fg, #111827);
  --_muted: var(--tocsin-muted, #4b5563); --_accent: var(--tocsin-accent, #1d4ed8);
  --_accent-fg: var(--tocsin-accent-fg, #ffffff); --_urgent: var(--tocsin-urgent, #b91c1c);
  --_urgent-fg: var(--tocsin-urgent-fg, #ffffff); --_line: var(--tocsin-line, #e5e7eb);
  --_hover: var(--tocsin-hover, #f3f4f6); --_unread: var(--tocsin-unread-bg, #f0f5ff);
  --_shadow: var(--tocsin-shadow, 0 12px 32px rgba(15, 23, 42, .16), 0 2px 6px rgba(15, 23, 42, .08));
  color-scheme: light;`;
const DARK = `--_bg: var(--tocsin-bg, #16181d); --_fg: var(--tocsin-fg, #f3f4f6);
  --_muted: var(--tocsin-muted, #a7aebb); --_accent: var(--tocsin-accent, #8ab4ff);
  --_accent-fg: var(--tocsin-accent-fg, #0b1020); --_urgent: var(--tocsin-urgent, #fca5a5);
  --_urgent-fg: var(--tocsin-urgent-fg, #1f0a0a); --_line: var(--tocsin-line, #2d323c);
  --_hover: var(--tocsin-hover, #20242c); --_unread: var(--tocsin-unread-bg, #1a2233);
  --_shadow: var(--tocsin-shadow, 0 12px 32px rgba(0, 0, 0, .5));
  color-scheme: dark;`;

export const CSS = `
:host { ${LIGHT} display: inline-block; position: relative; color: var(--_fg);
  font: 14px/1.45 var(--tocsin-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif); }
@media (prefers-color-scheme: dark) { :host(:not([theme=light])) { ${DARK} } }
:host([theme=dark]) { ${DARK} }
:host([mode=inline]) { display: block; }
:host([hidden]) { display: none; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
button, input, select { font: inherit; color: inherit; }
button { cursor: pointer; }
:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
[role=tabpanel]:focus { outline: none; } /* focused only by script, when the focused item went */
.icon { width: 18px; height: 18px; fill: none; stroke: currentColor; stroke-width: 2;
  stroke-linecap: round; stroke-linejoin: round; flex: none; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; }
.ib { display: inline-flex; align-items: center; justify-content: center; width: 32px; height: 32px;
  padding: 0; border: 0; border-radius: 8px; background: transparent; color: var(--_muted); }
.ib:hover { background: var(--_hover); color: var(--_fg); }
.ib:disabled { opacity: .45; cursor: default; background: transparent; }
.btn { padding: 6px 12px; border-radius: 8px; border: 1px solid var(--_line); background: var(--_bg);
  color: var(--_fg); font-weight: 550; }
.btn:hover { background: var(--_hover); }
.btn.primary { background: var(--_accent); border-color: var(--_accent); color: var(--_accent-fg); }
.link { border: 0; background: none; padding: 2px 4px; color: var(--_accent); font-weight: 550; }

.bell { position: relative; display: inline-flex; align-items: center; justify-content: center;
  width: 40px; height: 40px; border-radius: 999px; border: 1px solid var(--_line);
  background: var(--_bg); color: var(--_fg); padding: 0; }
.bell:hover { background: var(--_hover); }
.bell .icon { width: 20px; height: 20px; }
.badge { position: absolute; top: -4px; right: -6px; min-width: 20px; height: 20px; padding: 0 5px;
  border-radius: 999px; background: var(--_urgent); color: var(--_urgent-fg); font-size: 11px;
  font-weight: 700; line-height: 20px; text-align: center; border: 2px solid var(--_bg); }

.panel { display: flex; flex-direction: column; background: var(--_bg); color: var(--_fg);
  border: 1px solid var(--_line); border-radius: var(--tocsin-radius, 12px); overflow: hidden; }
:host(:not([mode=inline])) .panel { position: absolute; right: 0; top: calc(100% + 8px);
  z-index: var(--tocsin-z, 1000); width: var(--tocsin-width, 400px); max-width: calc(100vw - 16px);
  height: min(600px, calc(100vh - 80px)); box-shadow: var(--_shadow); }
:host(:not([mode=inline])) .panel.left { right: auto; left: 0; }
@media (max-width: 480px) {
  :host(:not([mode=inline])) .panel, :host(:not([mode=inline])) .panel.left { position: fixed; inset: 0; width: 100%; max-width: none;
    height: 100%; border-radius: 0; border: 0; }
}
:host([mode=inline]) .panel { width: 100%; }

header.top { display: flex; align-items: center; gap: 4px; padding: 12px 12px 4px 16px; }
header.top h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 700; min-width: 0; }
.tabs { display: flex; gap: 4px; padding: 0 12px; border-bottom: 1px solid var(--_line); }
.tab { position: relative; border: 0; background: none; padding: 10px 8px; color: var(--_muted);
  font-weight: 600; border-radius: 6px 6px 0 0; }
.tab[aria-selected=true] { color: var(--_fg); }
.tab[aria-selected=true]::after { content: ""; position: absolute; left: 6px; right: 6px; bottom: -1px;
  height: 2px; border-radius: 2px; background: var(--_accent); }
.tab .count { margin-left: 6px; padding: 0 6px; border-radius: 999px; background: var(--_hover);
  color: var(--_fg); font-size: 12px; }
.searchbox { position: relative; padding: 10px 12px 6px; }
.searchbox .icon { position: absolute; left: 22px; top: 19px; color: var(--_muted); width: 16px; height: 16px; }
input[type=search] { width: 100%; padding: 7px 10px 7px 32px; border-radius: 8px;
  border: 1px solid var(--_line); background: var(--_bg); }
.banner { margin: 6px 12px; padding: 8px 10px; border-radius: 8px; background: var(--_hover);
  color: var(--_fg); font-size: 13px; display: flex; gap: 8px; align-items: center; }
.bulk { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; padding: 6px 12px;
  border-bottom: 1px solid var(--_line); font-size: 13px; }
.bulk .n { flex: 1; font-weight: 600; }
.bulk .btn { padding: 4px 10px; font-size: 13px; }
.scroll { flex: 1; overflow-y: auto; overflow-x: hidden; overscroll-behavior: contain; }
:host([mode=inline]) .scroll { overflow: visible; }
.feed { margin: 0; padding: 0; }

.item { position: relative; display: grid; grid-template-columns: 20px 36px minmax(0, 1fr) auto;
  gap: 10px; align-items: start; padding: 12px 12px 12px 10px; border-bottom: 1px solid var(--_line); }
.item:hover { background: var(--_hover); }
.item.unread { background: var(--_unread); }
.item.p4::before, .item.p5::before { content: ""; position: absolute; left: 0; top: 0; bottom: 0;
  width: 3px; background: var(--_accent); }
.item.p5::before { background: var(--_urgent); }
.sel { margin: 10px 0 0 2px; width: 16px; height: 16px; accent-color: var(--_accent); opacity: 0; }
.item:hover .sel, .item:focus-within .sel, .sel:checked, .selecting .sel { opacity: 1; }
.avatar { position: relative; width: 36px; height: 36px; border-radius: 999px; display: flex;
  align-items: center; justify-content: center; color: var(--_accent);
  background: color-mix(in srgb, var(--_accent) 14%, var(--_bg)); }
.p5 .avatar { color: var(--_urgent); background: color-mix(in srgb, var(--_urgent) 14%, var(--_bg)); }
.avatar img { width: 36px; height: 36px; border-radius: 999px; object-fit: cover; }
.dot { position: absolute; top: -1px; left: -1px; width: 10px; height: 10px; border-radius: 999px;
  background: var(--_accent); border: 2px solid var(--_bg); }
.main { min-width: 0; }
.summary { font-size: 12px; color: var(--_muted); margin-bottom: 1px; overflow-wrap: anywhere; }
.title { font-weight: 550; overflow-wrap: anywhere; }
.unread .title { font-weight: 700; }
a.title { color: inherit; text-decoration: none; }
a.title:hover { text-decoration: underline; }
.body { color: var(--_muted); margin-top: 2px; overflow: hidden; display: -webkit-box;
  -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow-wrap: anywhere; }
.meta { display: flex; flex-wrap: wrap; gap: 4px 8px; margin-top: 4px; font-size: 12px; color: var(--_muted); }
.tag-urgent { color: var(--_urgent); font-weight: 700; }
.kebab { display: none; }
.actions { position: absolute; right: 8px; top: 6px; display: flex; gap: 2px; padding: 2px;
  border-radius: 10px; background: var(--_bg); border: 1px solid var(--_line); box-shadow: var(--_shadow);
  opacity: 0; pointer-events: none; }
.item:hover .actions, .item:focus-within .actions { opacity: 1; pointer-events: auto; }
@media (pointer: coarse), (max-width: 480px) {
  .actions { display: none; }
  .kebab { display: inline-flex; }
  .sel { opacity: 1; }
}
.menu { position: absolute; z-index: 5; right: 8px; top: 40px; min-width: 190px; padding: 4px;
  border-radius: 10px; background: var(--_bg); border: 1px solid var(--_line); box-shadow: var(--_shadow); }
.menu button { display: flex; width: 100%; align-items: center; gap: 10px; padding: 8px 10px; border: 0;
  border-radius: 6px; background: none; text-align: left; }
.menu button:hover, .menu button:focus { background: var(--_hover); }
.menu hr { border: 0; border-top: 1px solid var(--_line); margin: 4px 0; }

.more { display: flex; justify-content: center; padding: 12px; }
.state { display: flex; flex-direction: column; align-items: center; text-align: center; gap: 6px;
  padding: 48px 24px; color: var(--_muted); }
.state .bubble { width: 48px; height: 48px; border-radius: 999px; display: flex; align-items: center;
  justify-content: center; background: var(--_hover); color: var(--_fg); margin-bottom: 6px; }
.state h3 { margin: 0; color: var(--_fg); font-size: 15px; }
.state p { margin: 0; max-width: 32ch; }
.sk { display: grid; grid-template-columns: 36px 1fr; gap: 12px; padding: 14px 16px 14px 40px; }
.sk i { display: block; height: 10px; border-radius: 6px; background: var(--_hover); margin: 6px 0; }
.sk i.c { width: 36px; height: 36px; border-radius: 999px; margin: 0; }
.sk i.w { width: 60%; } .sk i.s { width: 35%; }
@media (prefers-reduced-motion: no-preference) { .sk i { animation: pulse 1.2s ease-in-out infinite alternate; } }
@keyframes pulse { to { opacity: .45; } }
.toast { margin: 0 12px 8px; font-size: 13px; color: var(--_urgent); }

.prefs { padding: 4px 16px 16px; }
.prefs fieldset { border: 0; padding: 0; margin: 14px 0 0; min-width: 0; }
.prefs legend { font-weight: 700; padding: 0; margin-bottom: 4px; }
.prefs .hint { color: var(--_muted); font-size: 13px; margin: 0 0 8px; }
.prefs label.row { display: flex; align-items: center; gap: 10px; padding: 6px 0; }
.prefs input[type=checkbox] { width: 18px; height: 18px; accent-color: var(--_accent); }
.prefs table { width: 100%; border-collapse: collapse; font-size: 13px; }
.prefs th, .prefs td { padding: 6px 4px; text-align: center; border-bottom: 1px solid var(--_line); }
.prefs th:first-child, .prefs td:first-child { text-align: left; overflow-wrap: anywhere; }
.prefs .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); gap: 8px; }
.prefs .grid label { display: flex; flex-direction: column; gap: 4px; font-size: 13px; color: var(--_muted); }
.prefs input[type=time], .prefs select { padding: 6px 8px; border-radius: 8px; border: 1px solid var(--_line);
  background: var(--_bg); min-width: 0; width: 100%; }
.prefs .save { display: flex; gap: 10px; align-items: center; margin-top: 16px; }
.prefs .push { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
.prefs .push span { flex: 1; min-width: 140px; }
`;

/** sheet returns the stylesheet for a shadow root: a constructed one where supported. */
export function adoptStyles(root) {
  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
    const s = new CSSStyleSheet();
    s.replaceSync(CSS);
    root.adoptedStyleSheets = [s];
    return;
  }
  const style = document.createElement("style");
  style.textContent = CSS;
  root.append(style);
}
