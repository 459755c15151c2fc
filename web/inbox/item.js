// One notification of <tocsin-inbox> (web/inbox.js) as an article: selection box,
// avatar or type icon with the unread dot, summary, title (a link only for an
// http:/https: actionUrl), body, times, and its actions (a hover/focus bar, or a
// menu on touch and small screens). Every field goes in as text.

import { fmt, safeUrl, icon, el, relTime, absTime, groupSummary, snoozeTimes, isSnoozed, typeIcon } from "./util.js";

/** renderItem returns the article of n, the i-th item of host h's feed. */
export function renderItem(h, n, i) {
  const s = h._strings, lang = h._lang();
  const unread = !n.readAt && !n.archivedAt;
  const p = Math.min(5, Math.max(1, Number(n.priority) || 3));
  const tid = "t" + i;
  const href = safeUrl(n.actionUrl);
  const title = n.title || n.type || "";
  const titleEl = href
    ? el("a", { class: "title", id: tid, href, rel: "noopener noreferrer", "data-k": "link", onclick: (e) => h._linkClick(e, n, href) })
    : el("div", { class: "title", id: tid });
  if (unread) titleEl.append(el("span", { class: "sr", text: s.unread + ", " }));
  if (p === 5) titleEl.append(el("span", { class: "sr", text: s.urgent + ", " }));
  titleEl.append(el("span", { class: "t", text: title }));
  const img = safeUrl(n.imageUrl);
  const avatar = el("div", { class: "avatar", "aria-hidden": "true" },
    img ? el("img", { src: img, alt: "", referrerpolicy: "no-referrer", loading: "lazy", decoding: "async" }) : icon(typeIcon(n.type)),
    unread ? el("span", { class: "dot" }) : null);
  const summary = groupSummary(n, s);
  const meta = el("div", { class: "meta" },
    el("time", { datetime: n.createdAt, title: absTime(n.createdAt, lang), "data-t": n.createdAt, text: relTime(n.createdAt, lang, Date.now(), s.justNow) }),
    p === 5 ? el("span", { class: "tag-urgent", "aria-hidden": "true", text: s.urgent }) : null,
    isSnoozed(n) ? el("span", { text: fmt(s.snoozedUntil, { time: absTime(n.snoozedUntil, lang) }) }) : null);
  const main = el("div", { class: "main" }, summary ? el("div", { class: "summary", text: summary }) : null, titleEl,
    n.body ? el("div", { class: "body", text: n.body }) : null, meta);
  if (!href) main.addEventListener("click", () => { if (h._emit("click", { notification: n }, true) && unread) h._update(n, { read: true }); });
  const sel = el("input", { type: "checkbox", class: "sel", "data-k": "sel", "aria-label": fmt(s.select, { title }),
    checked: h._selected.has(n.id), onchange: (e) => h._toggleSelect(n.id, e.target.checked) });
  const kebab = el("button", { type: "button", class: "ib kebab", "data-k": "kebab", "aria-label": s.more, title: s.more,
    "aria-haspopup": "menu", "aria-expanded": "false", onclick: (e) => openMenu(h, e.currentTarget, allActions(h, n)) }, icon("kebab"));
  const act = (key, ic, fn, extra = {}) => el("button", { type: "button", class: "ib", "data-k": key, "aria-label": s[key], title: s[key], onclick: fn, ...extra }, icon(ic));
  const actions = el("div", { class: "actions", part: "actions" },
    unread ? act("markRead", "check", () => h._update(n, { read: true })) : n.archivedAt ? null : act("markUnread", "dot", () => h._update(n, { read: false })),
    n.archivedAt ? act("unarchive", "unarchive", () => h._update(n, { archived: false })) : act("archive", "archive", () => h._update(n, { archived: true })),
    n.archivedAt ? null : act("snooze", "clock", (e) => openMenu(h, e.currentTarget, snoozeActions(h, n)), { "aria-haspopup": "menu", "aria-expanded": "false" }),
    act("remove", "trash", () => h._act(() => h._client.remove(n.id), () => h._drop(n.id))));
  return el("article", { class: "item" + (unread ? " unread" : "") + (p >= 4 ? " p" + p : ""), part: "item", "data-id": n.id,
    "aria-labelledby": tid, "aria-posinset": String(i + 1), "aria-setsize": h._cursor ? "-1" : String(h._items.length) },
  sel, avatar, main, kebab, actions);
}

export function snoozeActions(h, n) {
  const times = snoozeTimes();
  const out = Object.entries(times).map(([key, t]) => [h._strings.snooze + ": " + h._strings[key], "clock",
    () => h._update(n, { snoozedUntil: t.toISOString() })]);
  if (isSnoozed(n)) out.push([h._strings.unsnooze, "bell", () => h._update(n, { snoozedUntil: null })]);
  return out;
}

// _allActions is the kebab menu (touch and small screens): every action of the item.
export function allActions(h, n) {
  const s = h._strings, unread = !n.readAt && !n.archivedAt, out = [];
  if (!n.archivedAt) out.push(unread ? [s.markRead, "check", () => h._update(n, { read: true })] : [s.markUnread, "dot", () => h._update(n, { read: false })]);
  out.push(n.archivedAt ? [s.unarchive, "unarchive", () => h._update(n, { archived: false })] : [s.archive, "archive", () => h._update(n, { archived: true })]);
  if (!n.archivedAt) out.push(...snoozeActions(h, n));
  out.push([s.remove, "trash", () => h._act(() => h._client.remove(n.id), () => h._drop(n.id))]);
  return out;
}

/** openMenu shows a menu of [label, icon, action] entries in anchor's item of host h. */
export function openMenu(h, anchor, entries) {
  const reopen = h._menu && h._menu.anchor === anchor;
  closeMenu(h, false);
  if (reopen) return;
  const items = entries.map(([label, ic, fn]) => el("button", { type: "button", role: "menuitem", tabindex: "-1",
    onclick: () => { closeMenu(h, true); fn(); } }, icon(ic), label));
  const m = el("div", { class: "menu", role: "menu", part: "menu", "aria-label": anchor.getAttribute("aria-label"),
    onkeydown: (e) => {
      const i = items.indexOf(h._root.activeElement);
      const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[e.key];
      if (to !== undefined) {
        e.preventDefault();
        items[(to + items.length) % items.length].focus();
      } else if (e.key === "Tab") closeMenu(h, false);
    } }, ...items);
  anchor.closest("article").append(m);
  anchor.setAttribute("aria-expanded", "true");
  h._menu = { el: m, anchor };
  items[0].focus();
}

/** closeMenu closes host h's open menu, focusing its button again when refocus. */
export function closeMenu(h, refocus) {
  const m = h._menu;
  if (!m) return;
  h._menu = null;
  m.el.remove();
  m.anchor.setAttribute("aria-expanded", "false");
  if (refocus && m.anchor.isConnected) m.anchor.focus();
  if (h._dirty) {
    h._dirty = false;
    h._render();
  }
}
