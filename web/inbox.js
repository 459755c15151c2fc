// <tocsin-inbox>: the notification inbox a page embeds with one script tag
// (PRODUCT.md §9, docs/inbox.md). A custom element with a shadow root, no framework
// and no request beyond the tocsin server: a bell with the unread badge that opens the
// feed (mode="popover", the default) or the feed itself (mode="inline").
//
//   <script type="module" src="https://notify.example.com/inbox.js"></script>
//   <tocsin-inbox url="https://notify.example.com" token="…"></tocsin-inbox>
//
// The client (./client.js, resolved against this module's own URL, so it works under
// --base-path and from another origin) keeps the live unread store and the badge; the
// feed of each tab is a REST listing that live events then patch in place. Every
// notification field is rendered as text; only http:/https: URLs become links or images.

import { Tocsin, readCovers } from "./client.js";
import { adoptStyles } from "./inbox/style.js";
import { prefsView } from "./inbox/prefs.js";
import { STRINGS, fmt, icon, el, relTime, inTab } from "./inbox/util.js";
import { renderItem, closeMenu } from "./inbox/item.js";
import { stateView, explain } from "./inbox/states.js";

const TABS = [["unread", "tabUnread"], ["all", "tabAll"], ["archived", "tabArchived"]];
const PAGE = 20; // items per REST page
const SEARCH_DEBOUNCE_MS = 250;
const TICK_MS = 30000; // relative times are refreshed this often
const OPEN_LINK_WAIT_MS = 800; // a link waits at most this long for its mark-read
const SEEN_AFTER_MS = 1000; // items on screen this long are marked seen

export class TocsinInbox extends HTMLElement {
  static observedAttributes = ["url", "token", "ticket", "mode", "open", "theme", "lang"];

  constructor() {
    super();
    this._root = this.attachShadow({ mode: "open" });
    adoptStyles(this._root);
    this._strings = { ...STRINGS };
    this._tab = "unread";
    this._q = "";
    this._items = [];
    this._cursor = "";
    this._loading = false;
    this._error = null;
    this._selected = new Set();
    this._seenSent = new Set(); // ids marked seen (or being marked) by this element
    this._types = new Set();
    this._view = "feed";
    this._seq = 0; // each listing bumps it; answers of an older one are dropped
    this._during = []; // stream events received while a listing was in flight
    this._unread = 0;
    this._offline = false;
    this._wasOpen = false;
    this._menu = null;
    this._dirty = false;
    this._prefs = null;
    this._onDocDown = (e) => this._outside(e);
    this._build();
  }

  // Attributes, mirrored as properties (frameworks that set properties work too).
  get url() { return this.getAttribute("url") || ""; }
  set url(v) { this.setAttribute("url", v); }
  get token() { return this.getAttribute("token") || ""; }
  set token(v) { v ? this.setAttribute("token", v) : this.removeAttribute("token"); }
  get ticket() { return this.getAttribute("ticket") || ""; }
  set ticket(v) { v ? this.setAttribute("ticket", v) : this.removeAttribute("ticket"); }
  get mode() { return this.getAttribute("mode") === "inline" ? "inline" : "popover"; }
  set mode(v) { this.setAttribute("mode", v); }
  get theme() { return this.getAttribute("theme") || ""; }
  set theme(v) { v ? this.setAttribute("theme", v) : this.removeAttribute("theme"); }
  get isOpen() { return this.mode === "inline" || this.hasAttribute("open"); }

  /** The strings in use; assigning an object merges it over the English defaults. */
  get strings() { return { ...this._strings }; }
  set strings(v) {
    this._strings = { ...STRINGS, ...(v && typeof v === "object" ? v : {}) };
    this._build();
  }

  /** The Tocsin client (./client.js). Assign one to share it; the element then never closes it. */
  get client() { return this._client || null; }
  set client(c) {
    this._detach();
    if (c) this._attach(c, false);
  }

  open() { this.setAttribute("open", ""); }
  close() { this.removeAttribute("open"); }
  toggle() { this.isOpen ? this.close() : this.open(); }

  connectedCallback() {
    if (!this._client) this._ownClient();
    this._tick = setInterval(() => this._refreshTimes(), TICK_MS);
  }

  disconnectedCallback() {
    clearInterval(this._tick);
    clearTimeout(this._seenTimer);
    clearTimeout(this._searchTimer);
    document.removeEventListener("pointerdown", this._onDocDown, true);
    if (this._own) this._detach();
  }

  attributeChangedCallback(name, old, val) {
    if (old === val) return;
    if (name === "token" && this._own && this._client && !this.ticket) {
      this._client.setToken(val || "");
    } else if ((name === "url" || name === "ticket" || name === "token") && this._own && this.isConnected) {
      this._detach();
      this._ownClient();
    } else if (name === "mode" || name === "lang") {
      this._build();
    } else if (name === "open") {
      this._showOpen(true);
    }
  }

  _ownClient() {
    // A ticket: the client spends it on its first stream, then uses the cookie.
    const opts = { url: this.url, key: "tocsin-inbox" };
    if (this.ticket) opts.ticket = this.ticket;
    else if (this.token) opts.token = this.token;
    this._attach(new Tocsin(opts), true);
    this._client.connect();
  }

  _attach(c, own) {
    this._client = c;
    this._own = own;
    this._unread = c.unreadCount || 0;
    this._hadInit = false;
    this._offs = [
      c.on("change", (s) => {
        this._unread = s.unreadCount;
        this._renderBadge();
        if (this._storeOnly && this._tab === "unread" && !this._q) {
          this._items = s.notifications.slice();
          this._render();
        }
      }),
      c.on("event", (ev) => this._onEvent(ev)),
      c.on("status", (st) => this._onStatus(st)),
      c.on("error", (e) => this._onClientError(e)),
      c.on("online", () => this._onStatus("open")),
      c.on("user", () => this.reload()),
    ];
    this._renderBadge();
    this.reload();
    this._probePrefs();
  }

  _detach() {
    for (const off of this._offs || []) off();
    this._offs = [];
    if (this._client && this._own) this._client.close();
    this._client = null;
    this._own = false;
  }

  _lang() {
    const h = this.closest("[lang]");
    return (h && h.getAttribute("lang")) || (typeof navigator !== "undefined" ? navigator.language : "en");
  }

  _emit(name, detail, cancelable = false) {
    return this.dispatchEvent(new CustomEvent("tocsin-inbox:" + name, { detail, bubbles: true, composed: true, cancelable }));
  }

  // _build (re)creates the static parts: the bell, the panel's header, tabs and search.
  _build() {
    const s = this._strings, r = this._root;
    for (const n of [...r.childNodes]) if (n.nodeName !== "STYLE") n.remove();
    const inline = this.mode === "inline";
    this._bell = inline ? null : el("button", { type: "button", class: "bell", part: "bell", "aria-haspopup": "dialog",
      "aria-expanded": "false", onclick: () => this.toggle() }, icon("bell"));
    this._badge = el("span", { class: "badge", part: "badge", "aria-hidden": "true", hidden: true });
    if (this._bell) this._bell.append(this._badge);

    this._markAll = el("button", { type: "button", class: "ib", "aria-label": s.markAllRead, title: s.markAllRead,
      onclick: () => this._act(() => this._client.markAllRead()) }, icon("checks"));
    this._prefsBtn = el("button", { type: "button", class: "ib", "aria-label": s.preferences, title: s.preferences,
      hidden: !this._prefs, onclick: () => this._showPrefs(this._view !== "prefs") }, icon("gear"));
    const closeBtn = inline ? null : el("button", { type: "button", class: "ib", "aria-label": s.close, title: s.close,
      onclick: () => { this.close(); this._bell.focus(); } }, icon("x"));
    this._heading = el("h2", { id: "h", text: s.title });
    const header = el("header", { class: "top", part: "header" }, this._heading, this._markAll, this._prefsBtn, closeBtn);

    this._tabs = TABS.map(([tab, key]) => el("button", { type: "button", role: "tab", id: "tab-" + tab, class: "tab",
      "aria-controls": "feedpanel", onclick: () => this._selectTab(tab) }, s[key]));
    this._tabCount = el("span", { class: "count", hidden: true });
    this._tabs[0].append(this._tabCount);
    const tablist = el("div", { role: "tablist", class: "tabs", part: "tabs", "aria-label": s.tabs,
      onkeydown: (e) => this._tabKey(e) }, ...this._tabs);
    this._search = el("input", { type: "search", part: "search", "aria-label": s.search, placeholder: s.search,
      autocomplete: "off", spellcheck: "false", oninput: () => this._searchInput() });
    this._search.value = this._q;
    this._banner = el("div", { class: "banner", part: "banner", role: "status", hidden: true });
    this._flashEl = el("div", { class: "toast", role: "alert" });
    this._bulk = el("div", { class: "bulk", hidden: true });
    this._feed = el("div", { class: "feed", role: "feed", part: "feed", "aria-labelledby": "h" });
    this._state = el("div", { part: "state" });
    this._moreBtn = el("button", { type: "button", class: "btn", text: s.loadMore, onclick: () => this._loadMore() });
    this._more = el("div", { class: "more", hidden: true }, this._moreBtn);
    this._tabpanel = el("div", { role: "tabpanel", id: "feedpanel", tabindex: "-1" }, this._state, this._feed, this._more);
    this._scroll = el("div", { class: "scroll", part: "list" }, this._tabpanel);
    this._feedView = el("div", { class: "view", style: "display: contents" },
      tablist, el("div", { class: "searchbox" }, icon("search"), this._search), this._banner, this._flashEl, this._bulk, this._scroll);
    this._prefsView = el("div", { class: "scroll", part: "preferences", hidden: true });
    this._panel = el("div", { class: "panel", part: "panel", role: inline ? "region" : "dialog", "aria-labelledby": "h",
      onkeydown: (e) => this._panelKey(e) }, header, this._feedView, this._prefsView);
    r.append(...[this._bell, this._panel].filter(Boolean));

    if (this._io) this._io.disconnect();
    this._io = typeof IntersectionObserver === "function" ? new IntersectionObserver((es) => {
      if (es.some((e) => e.isIntersecting)) this._loadMore();
    }, { root: inline ? null : this._scroll, rootMargin: "200px" }) : null;
    if (this._io) this._io.observe(this._more);
    this._showOpen(false);
    this._renderBadge();
    this._renderTabs();
    this._render();
    if (this._view === "prefs") this._showPrefs(true);
  }

  _showOpen(announce) {
    const open = this.isOpen;
    this._panel.hidden = !open;
    if (this._bell) this._bell.setAttribute("aria-expanded", String(open));
    if (this.mode === "inline" || !announce) return;
    if (open) {
      // Anchored at the bell's right edge; a bell near the left edge of the page
      // anchors it at its left edge instead, so the panel stays on screen.
      this._panel.classList.toggle("left", this.getBoundingClientRect().right < this._panel.offsetWidth);
      document.addEventListener("pointerdown", this._onDocDown, true);
      this._scheduleSeen();
      (this._view === "prefs" ? this._prefsView.querySelector("button") : this._currentTab()).focus();
      this._emit("open", {});
    } else {
      document.removeEventListener("pointerdown", this._onDocDown, true);
      closeMenu(this, false);
      this._emit("close", {});
    }
  }

  // _outside closes an open menu, or the popover, on a press outside it.
  _outside(e) {
    const path = e.composedPath();
    if (this._menu && !path.includes(this._menu.el) && !path.includes(this._menu.anchor)) closeMenu(this, false);
    if (this.mode !== "inline" && this.isOpen && !path.includes(this)) this.close();
  }

  _panelKey(e) {
    if (e.key !== "Escape") return;
    if (this._menu) {
      closeMenu(this, true);
    } else if (this._view === "prefs") {
      this._showPrefs(false);
    } else if (this.mode !== "inline") {
      this.close();
      this._bell.focus();
    } else return;
    e.stopPropagation();
    e.preventDefault();
  }

  _renderBadge() {
    const n = this._unread, s = this._strings;
    this._badge.textContent = n > 99 ? "99+" : String(n);
    this._badge.hidden = n === 0;
    if (this._bell) this._bell.setAttribute("aria-label", fmt(s.bell, { n }));
    this._tabCount.textContent = String(n);
    this._tabCount.hidden = n === 0;
    this._markAll.disabled = n === 0;
  }

  _currentTab() { return this._tabs[TABS.findIndex(([t]) => t === this._tab)]; }

  _renderTabs() {
    for (const [i, [tab]] of TABS.entries()) {
      const b = this._tabs[i], on = tab === this._tab;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
    }
    this._tabpanel.setAttribute("aria-labelledby", "tab-" + this._tab);
  }

  _tabKey(e) {
    const i = TABS.findIndex(([t]) => t === this._tab);
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    this._selectTab(TABS[(to + TABS.length) % TABS.length][0]);
    this._currentTab().focus();
  }

  _selectTab(tab) {
    if (tab === this._tab) return;
    this._tab = tab;
    this._renderTabs();
    this.reload();
  }

  _searchInput() {
    clearTimeout(this._searchTimer);
    this._searchTimer = setTimeout(() => {
      const q = this._search.value.trim();
      if (q !== this._q) {
        this._q = q;
        this.reload();
      }
    }, SEARCH_DEBOUNCE_MS);
  }

  /** Reloads the current tab from the server. */
  async reload() {
    if (!this._client) return;
    const seq = ++this._seq;
    this._items = [];
    this._cursor = "";
    this._selected.clear();
    this._error = null;
    this._storeOnly = false;
    this._loading = true;
    this._render();
    await this._page(seq);
  }

  async _loadMore() {
    if (this._loading || !this._cursor || this._error || !this._client) return;
    this._loading = true;
    this._moreBtn.disabled = true;
    await this._page(this._seq);
  }

  async _page(seq) {
    this._during = [];
    try {
      const out = await this._client.list({ status: this._tab, q: this._q || undefined, limit: PAGE, cursor: this._cursor || undefined });
      if (seq !== this._seq) return;
      const have = new Set(this._items.map((n) => n.id));
      for (const n of out.notifications || []) if (!have.has(n.id)) this._items.push(n);
      this._cursor = out.nextCursor || "";
      // Events that came while the page was on its way win over what it says.
      for (const ev of this._during.splice(0)) this._apply(ev);
    } catch (e) {
      if (seq !== this._seq) return;
      if (e.code === "auth" && this._client.ticketOnly && this._tab === "unread" && !this._q) {
        // Ticket only, no cookie: the stream's unread items are all there is.
        this._items = this._client.notifications.slice();
        this._cursor = "";
        this._storeOnly = true;
      } else {
        this._error = e;
        this._emit("error", { error: e });
      }
    }
    this._loading = false;
    this._moreBtn.disabled = false;
    this._render();
    // Still at the end after this page (a tall screen): observe afresh, so the
    // observer reports the sentinel again.
    if (this._io && this._cursor) {
      this._io.unobserve(this._more);
      this._io.observe(this._more);
    }
  }

  // _render redraws the feed (or the state that stands in for it), keeping focus
  // on the same control of the same item.
  _render() {
    if (this._menu) {
      this._dirty = true; // after the menu closes: it would go with its item
      return;
    }
    const s = this._strings;
    const active = this._root.activeElement;
    const keep = active && active.dataset && active.dataset.k ? [active.closest("article")?.dataset.id, active.dataset.k] : null;
    for (const n of this._items) this._types.add(n.type);
    this._feed.setAttribute("aria-busy", String(this._loading));
    this._feed.replaceChildren(...this._items.map((n, i) => renderItem(this, n, i)));
    this._state.replaceChildren(...stateView(this));
    this._more.hidden = !this._cursor || !!this._error;
    this._moreBtn.textContent = s.loadMore;
    this._scroll.classList.toggle("selecting", this._selected.size > 0);
    this._renderBulk();
    this._scheduleSeen();
    if (keep) {
      const again = [...this._feed.querySelectorAll("[data-k]")].find((b) => b.dataset.k === keep[1] && b.closest("article").dataset.id === keep[0]);
      if (again) again.focus();
      else if (this._root.activeElement === null || !this._root.activeElement.isConnected) this._tabpanel.focus();
    }
  }

  _linkClick(e, n, href) {
    if (!this._emit("click", { notification: n }, true)) {
      e.preventDefault();
      return;
    }
    const unread = !n.readAt && !n.archivedAt;
    if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) {
      if (unread) this._update(n, { read: true }); // a new tab or window: this page stays
      return;
    }
    if (!unread) return;
    // Leaving the page would cancel the mark-read: follow the link once it is done
    // (or after a short wait).
    e.preventDefault();
    Promise.race([this._update(n, { read: true }), new Promise((r) => setTimeout(r, OPEN_LINK_WAIT_MS))])
      .finally(() => { location.assign(href); });
  }

  // _scheduleSeen marks the items the user has had on screen for a second as seen
  // (one bulk PATCH): channels that wait for an unseen notification (an email after
  // 15 minutes) then skip it, as the contract's escalation says. Only while the feed
  // shows in a visible page; each id once.
  _scheduleSeen() {
    clearTimeout(this._seenTimer);
    if (!this.isOpen || this._storeOnly || !this._client) return;
    this._seenTimer = setTimeout(() => {
      if (!this.isOpen || document.visibilityState === "hidden" || !this._client) return;
      const ids = this._items.filter((n) => !n.seenAt && !this._seenSent.has(n.id)).map((n) => n.id);
      if (!ids.length) return;
      for (const id of ids) this._seenSent.add(id);
      this._client.updateMany(ids, { seen: true }).catch((e) => this._emit("error", { error: e }));
    }, SEEN_AFTER_MS);
  }

  _toggleSelect(id, on) {
    if (on) this._selected.add(id);
    else this._selected.delete(id);
    this._scroll.classList.toggle("selecting", this._selected.size > 0);
    this._renderBulk();
  }

  _renderBulk() {
    const s = this._strings, n = this._selected.size;
    this._bulk.hidden = n === 0;
    if (!n) return this._bulk.replaceChildren();
    const ids = () => [...this._selected];
    const done = () => { this._selected.clear(); this._render(); };
    this._bulk.replaceChildren(el("span", { class: "n", role: "status", text: fmt(s.selected, { n }) }),
      this._tab === "unread" || this._tab === "all" ? el("button", { type: "button", class: "btn", text: s.markSelectedRead,
        onclick: () => this._act(() => this._client.updateMany(ids(), { read: true }), done) }) : null,
      this._tab !== "archived" ? el("button", { type: "button", class: "btn", text: s.archiveSelected,
        onclick: () => this._act(() => this._client.updateMany(ids(), { archived: true }), done) }) : null,
      el("button", { type: "button", class: "link", text: s.clearSelection, onclick: done }));
  }

  _update(n, patch) {
    return this._act(() => this._client.update(n.id, patch), (out) => { if (out && out.id) this._upsert(out); });
  }

  // _act runs one change; a failure is shown (and raised as tocsin-inbox:error). The
  // stream then tells every tab, this one included.
  async _act(fn, then) {
    this._flash("");
    try {
      const out = await fn();
      if (then) then(out);
      return out;
    } catch (e) {
      this._flash(fmt(this._strings.actionFailed, { message: explain(this, e) }));
      this._emit("error", { error: e });
      return null;
    }
  }

  _flash(text) { this._flashEl.textContent = text; }

  // _upsert places a changed notification: replaced where it is, removed when it no
  // longer belongs to the tab, added (by id: newest first) when it now does and
  // falls within what is loaded. A search only changes or removes what it found.
  _upsert(n) {
    if (!n || typeof n.id !== "string") return;
    const i = this._items.findIndex((x) => x.id === n.id);
    const fits = inTab(n, this._tab);
    if (i >= 0 && fits) this._items[i] = n;
    else if (i >= 0) {
      this._items.splice(i, 1);
      this._selected.delete(n.id);
    } else if (fits && !this._q && !this._error) {
      const last = this._items[this._items.length - 1];
      if (this._cursor && last && n.id < last.id) return; // on a page not loaded yet
      const at = this._items.findIndex((x) => x.id < n.id);
      this._items.splice(at < 0 ? this._items.length : at, 0, n);
    } else return;
    this._render();
  }

  _drop(id) {
    const before = this._items.length;
    this._items = this._items.filter((x) => x.id !== id);
    this._selected.delete(id);
    if (this._items.length !== before) this._render();
  }

  _onEvent(ev) {
    // A listing in flight may have been read before this change: its answer would
    // bring the old state back. Remember the event and apply it again on the answer.
    if (this._loading && ev.name !== "init") this._during.push(ev);
    this._apply(ev);
  }

  _apply(ev) {
    const d = ev.data;
    switch (ev.name) {
      case "notification":
      case "notification:updated":
        this._upsert(d);
        break;
      case "notification:deleted":
        if (d && d.id) this._drop(d.id);
        break;
      case "notifications:read":
        this._items = this._items.map((n) => (readCovers(d, n) ? { ...n, readAt: d.readAt } : n)).filter((n) => inTab(n, this._tab));
        this._render();
        break;
      case "notifications:updated":
        // A bulk change: the notifications when the event carries them, else a fresh listing.
        if (d && Array.isArray(d.notifications)) for (const n of d.notifications) this._upsert(n);
        else this.reload();
        break;
      case "init":
        // A second init follows a reset: what happened meanwhile is only in a listing.
        if (this._hadInit) this.reload();
        this._hadInit = true;
        break;
    }
  }

  // The offline banner: shown while the stream reconnects after having been live, or
  // while the client reports an outage (its error event); cleared when it is back.
  _onStatus(st) {
    const live = st === "open" || st === "following";
    if (live) {
      this._wasOpen = true;
      this._offline = false;
      this._connError = null;
      if (this._error) this.reload(); // back: the listing that failed, again
    } else if (st === "connecting" && this._wasOpen) {
      this._offline = true;
    }
    this._renderBanner();
  }

  _onClientError(e) {
    this._emit("error", { error: e });
    if (e && e.code !== "http") this._connError = e;
    this._renderBanner();
  }

  _renderBanner() {
    const e = this._connError;
    this._banner.textContent = e ? explain(this, e) + (e.final ? "" : " " + this._strings.offline) : this._strings.offline;
    this._banner.hidden = !this._offline && !e;
  }

  _refreshTimes() {
    const lang = this._lang(), now = Date.now();
    for (const t of this._feed.querySelectorAll("time[data-t]")) t.textContent = relTime(t.dataset.t, lang, now, this._strings.justNow);
  }

  // Preferences: offered when GET /api/preferences answers for this user.
  async _probePrefs() {
    const c = this._client;
    try {
      const p = await this._client.preferences();
      if (c !== this._client) return;
      this._prefs = p;
    } catch {
      this._prefs = null;
    }
    this._prefsBtn.hidden = !this._prefs;
  }

  _showPrefs(on) {
    this._view = on ? "prefs" : "feed";
    this._feedView.hidden = on;
    this._prefsView.hidden = !on;
    this._prefsBtn.setAttribute("aria-pressed", String(on));
    this._heading.textContent = on ? this._strings.prefsTitle : this._strings.title;
    if (!on) {
      this._prefsView.replaceChildren();
      this._currentTab().focus();
      return;
    }
    const s = this._strings, c = this._client;
    const back = el("button", { type: "button", class: "link", onclick: () => this._showPrefs(false) }, s.back);
    const push = c && typeof c.pushState === "function" && !c.ticketOnly
      ? { state: () => c.pushState(), enable: () => c.enablePush(), disable: () => c.disablePush() } : null;
    const form = this._prefs
      ? prefsView({ s, prefs: this._prefs, types: [...this._types].filter(Boolean), push,
        save: async (patch) => { this._prefs = await this._client.patchPreferences(patch); return this._prefs; } })
      : el("p", { class: "hint", text: s.prefsUnavailable });
    this._prefsView.replaceChildren(el("div", { style: "padding: 8px 12px 0" }, back), form);
    back.focus();
  }
}

if (!customElements.get("tocsin-inbox")) customElements.define("tocsin-inbox", TocsinInbox);
