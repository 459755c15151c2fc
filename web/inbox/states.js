// The states that stand in for <tocsin-inbox>'s feed (loading, error, empty) and the
// sentences that explain a failure (web/inbox.js).

import { fmt, icon, el } from "./util.js";

/** stateView is what stands in for host h's feed: the skeleton, the error or the empty state ([] when items show). */
export function stateView(h) {
  const s = h._strings;
  if (h._loading && !h._items.length) {
    return [el("span", { class: "sr", role: "status", text: s.loading }),
      ...[0, 1, 2].map(() => el("div", { class: "sk", "aria-hidden": "true" }, el("i", { class: "c" }),
        el("div", {}, el("i", { class: "w" }), el("i"), el("i", { class: "s" }))))];
  }
  if (h._error && !h._items.length) {
    return [el("div", { class: "state", part: "error" }, el("div", { class: "bubble" }, icon("cloudoff")),
      el("h3", { text: s.errorTitle }), el("p", { text: explain(h, h._error) }),
      el("button", { type: "button", class: "btn", text: s.retry, onclick: () => h.reload() }))];
  }
  if (h._items.length || h._loading) return [];
  const [title, hint] = h._q ? [fmt(s.noResults, { q: h._q }), s.noResultsHint]
    : { unread: [s.emptyUnread, s.emptyUnreadHint], all: [s.emptyAll, s.emptyAllHint], archived: [s.emptyArchived, s.emptyArchivedHint] }[h._tab];
  return [el("div", { class: "state", part: "empty" }, el("div", { class: "bubble" }, icon(h._q ? "search" : h._tab === "unread" ? "check" : "inbox")),
    el("h3", { text: title }), el("p", { text: hint }))];
}

/**
 * explain turns an error into a sentence for the user: a CORS refusal says what to
 * configure, a network failure where the server is, an auth failure to sign in.
 */
export function explain(h, e) {
  const s = h._strings, code = e && e.code;
  const url = h.url || location.origin;
  if (code === "cors") return fmt(s.corsError, { url, origin: e.origin || location.origin });
  if (code === "network") return fmt(s.networkError, { url });
  if (code === "auth") return s.authError;
  return String((e && e.message) || e).replace(/^tocsin: /, "");
}
