// tocsin JavaScript client — an ES module with no dependencies, served by every
// tocsin server at /client.js.
//
//   import { Tocsin } from "/client.js";
//   const t = new Tocsin({ token: userJwt, getToken: fetchFreshJwt });
//   t.on("change", (s) => render(s.notifications, s.unreadCount));
//   t.connect();
//
// It keeps an inbox store (the unread notifications of the init snapshot, then every
// change), reconnects with capped exponential backoff and jitter, resumes exactly by
// Last-Event-ID, drops duplicate events by id, handles reset, and shares one stream
// between the tabs of a browser that follow the same user: one tab (the leader, by
// Web Locks) holds the connection and hands events to the others over a
// BroadcastChannel; when it closes, another tab takes over from the last event id it
// saw. Everything shared between tabs is named by the key AND the user, so two tabs
// signed in as two users never see each other's notifications.

const EPOCH_SEQ = /^([a-z0-9]{1,32})-(\d+)$/;

// A token whose exp is closer than this is refreshed (with getToken) before it is used.
const REFRESH_BEFORE_MS = 30000;

// A ticket minted to learn the user is kept this long for the first connection (the
// server honours it for 60 s).
const SPARE_TICKET_MS = 30000;

function parseId(id) {
  const m = EPOCH_SEQ.exec(id || "");
  return m ? { epoch: m[1], seq: BigInt(m[2]) } : null;
}

/**
 * jwtClaims decodes a JWT's payload WITHOUT verifying it, or returns null. The client
 * needs only `sub` (whose stream it is, to name what tabs share) and `exp` (to refresh
 * in time); the server verifies every token and decides what it may see.
 */
export function jwtClaims(token) {
  const part = String(token || "").split(".")[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
    return claims && typeof claims === "object" && !Array.isArray(claims) ? claims : null;
  } catch {
    return null;
  }
}

/**
 * isNotificationsRead reports whether d has the shape of a `notifications:read`
 * event's data: {"ids": [...], "readAt"} or {"before": "<id>", "readAt"}.
 */
export function isNotificationsRead(d) {
  if (!d || typeof d !== "object" || typeof d.readAt !== "string") return false;
  if (Array.isArray(d.ids)) return d.ids.every((id) => typeof id === "string");
  return typeof d.before === "string" && d.before !== "";
}

/**
 * readCovers reports whether the `notifications:read` event d marked notification n
 * read: n is listed in d.ids, or (d.before) n's id sorts at or before d.before and n
 * was unread and not archived. Notification ids are fixed-length, time-sortable ASCII
 * strings, so JavaScript's string order is the server's byte order.
 */
export function readCovers(d, n) {
  if (!isNotificationsRead(d) || !n || typeof n.id !== "string") return false;
  if (Array.isArray(d.ids)) return d.ids.includes(n.id);
  return n.id <= d.before && !n.readAt && !n.archivedAt;
}

/**
 * decodeVapidKey turns the server's VAPID public key (base64url, with or without
 * padding) into the bytes pushManager.subscribe wants as applicationServerKey. It
 * throws unless they are an uncompressed P-256 point (65 bytes, 0x04 first): a wrong
 * key would subscribe the browser to pushes the server can never sign.
 */
export function decodeVapidKey(key) {
  const s = String(key || "");
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(s)) throw new Error("tocsin: the VAPID public key is not base64url");
  const b64 = s.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  if (bytes.length !== 65 || bytes[0] !== 4) throw new Error("tocsin: the VAPID public key is not an uncompressed P-256 point");
  return bytes;
}

/**
 * pushStateOf is pushState()'s answer from what the browser says: "unsupported"
 * (no service workers, Push API or notifications, or not a secure context), "denied"
 * (the user blocked notifications: only the browser's settings can undo it), "on"
 * (permission granted and a push subscription exists), else "off".
 */
export function pushStateOf({ supported, permission, subscribed }) {
  if (!supported) return "unsupported";
  if (permission === "denied") return "denied";
  return subscribed && permission === "granted" ? "on" : "off";
}

// sameKey reports whether a subscription's applicationServerKey is key (else the
// server's VAPID key changed and the subscription must be renewed).
function sameKey(sub, key) {
  const have = sub.options && sub.options.applicationServerKey;
  if (!have) return true; // the browser does not say: keep it
  const a = new Uint8Array(have);
  return a.length === key.length && a.every((b, i) => b === key[i]);
}

// activated resolves once the registration has an active worker (subscribe needs one).
function activated(reg) {
  if (reg.active) return Promise.resolve(reg);
  const w = reg.installing || reg.waiting;
  if (!w) return Promise.reject(new Error("tocsin: the service worker did not install"));
  return new Promise((resolve, reject) => {
    w.addEventListener("statechange", () => {
      if (w.state === "activated") resolve(reg);
      if (w.state === "redundant") reject(new Error("tocsin: the service worker failed to install"));
    });
  });
}

export class Tocsin {
  /**
   * @param {object} opts
   * @param {string} [opts.url]        server base URL ("" for the page's origin)
   * @param {string} [opts.token]      the user's JWT (else getToken, else the tocsin_token cookie)
   * @param {() => Promise<string>} [opts.getToken] returns a fresh JWT: called before
   *   connecting when there is no token or it expires within 30 s, and once after a 401
   * @param {number} [opts.minBackoff] first reconnect wait in ms (250)
   * @param {number} [opts.maxBackoff] reconnect wait cap in ms (30000)
   * @param {boolean} [opts.share]     share one stream between tabs (true where the browser allows)
   * @param {string} [opts.key]        tabs of one user share a stream per key ("default")
   * @param {Function} [opts.EventSource] an EventSource implementation (Node: the npm eventsource package)
   * @param {string} [opts.deviceId]   names this device's Web Push subscription (enablePush)
   */
  constructor(opts = {}) {
    this.url = (opts.url || "").replace(/\/$/, "");
    this.token = opts.token || "";
    this.getToken = typeof opts.getToken === "function" ? opts.getToken : null;
    this.minBackoff = opts.minBackoff ?? 250;
    this.maxBackoff = opts.maxBackoff ?? 30000;
    this.ES = opts.EventSource || globalThis.EventSource;
    this.share = (opts.share ?? true) && typeof BroadcastChannel !== "undefined" &&
      typeof navigator !== "undefined" && !!navigator.locks;
    this.key = opts.key || "default";
    this.deviceId = opts.deviceId || "";
    this.userId = ""; // whose stream this is, once known ("" before)
    this.notifications = []; // newest first: the unread ones, as init and the events say
    this.unreadCount = 0;
    this.lastEventId = "";
    this.status = "idle"; // idle | connecting | open | following | closed
    this._listeners = new Map();
    this._attempt = 0;
    this._closed = false;
    this._active = false; // connect() was called and close() was not
    this._run = 0; // each start bumps it; callbacks of an older run do nothing
  }

  /** on("change" | "event" | "notification" | "status" | "user" | "error", fn) → a function that unsubscribes. */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this._listeners.get(type).delete(fn);
  }

  _emit(type, value) {
    for (const fn of this._listeners.get(type) || []) {
      try { fn(value); } catch (e) { setTimeout(() => { throw e; }); }
    }
  }

  _setStatus(s) {
    if (this.status !== s) {
      this.status = s;
      this._emit("status", s);
    }
  }

  _stale(run) { return this._closed || run !== this._run; }

  _changed() { this._emit("change", { notifications: this.notifications, unreadCount: this.unreadCount }); }

  /** Starts following the stream (as the leader, or through the leader tab). */
  connect() {
    this._closed = false;
    this._active = true;
    this._teardown();
    const run = ++this._run;
    this._setStatus("connecting");
    this._start(run);
  }

  /** Stops following; releases the lead to another tab. */
  close() {
    this._closed = true;
    this._active = false;
    this._run++;
    this._teardown();
    this._setStatus("closed");
  }

  /**
   * Replaces the token. For the same user the next connection uses it; for another
   * user (or a token whose user it cannot read) everything of the previous user goes
   * (the inbox, the resume point, the shared stream and the lead) and, if connected,
   * the client starts over as the new user.
   */
  setToken(token) {
    token = token || "";
    if (token === this.token) return;
    this.token = token;
    this._pinned = null;
    this._spare = null;
    const sub = jwtClaims(token)?.sub;
    if (sub && sub === this.userId) return;
    // Nobody's state yet (a start in progress learns the user from this token).
    if (!this.userId && !this.lastEventId && !this._es) return;
    this._teardown();
    this._dropState("");
    if (this._active && !this._closed) this.connect();
  }

  // _teardown closes this tab's stream and everything it shares: the lead (handed to
  // the next tab of the same user), a pending lock request, the channel.
  _teardown() {
    clearTimeout(this._timer);
    if (this._es) this._es.close();
    this._es = null;
    if (this._releaseLead) this._releaseLead();
    this._releaseLead = null;
    if (this._lockAbort) this._lockAbort.abort();
    this._lockAbort = null;
    if (this._bc) this._bc.close();
    this._bc = null;
    this._leading = false;
  }

  // _dropState forgets the inbox and the resume point, and makes user the one this
  // client follows.
  _dropState(user) {
    const had = this.notifications.length > 0 || this.unreadCount !== 0 || this.lastEventId !== "";
    const other = user !== this.userId;
    this.notifications = [];
    this.unreadCount = 0;
    this.lastEventId = "";
    this._haveState = false;
    this.userId = user;
    if (had) this._changed();
    if (other) this._emit("user", user);
  }

  // _start learns whose stream it is, then leads or follows under that user's names.
  async _start(run) {
    let user;
    try {
      user = await this._whoAmI();
    } catch (e) {
      this._failed(e, run);
      return;
    }
    if (this._stale(run)) return;
    if (user !== this.userId) this._dropState(user);
    if (!this.share || !user) {
      // Not shared: also when the server does not say who the credential is, since
      // then nothing could keep two users' tabs apart.
      this._open(run);
      return;
    }
    const scope = encodeURIComponent(this.key) + ":" + encodeURIComponent(user);
    this._bc = new BroadcastChannel("tocsin:" + scope);
    this._bc.onmessage = (m) => this._onMessage(m.data, run);
    // "following" only once a leader answers: until then nothing is live yet.
    this._post({ type: "hello" });
    // Whoever holds the lock leads; the lock is released when that tab closes (or
    // changes user), and the next tab in line opens the stream from the last id it saw.
    const ac = new AbortController();
    this._lockAbort = ac;
    navigator.locks.request("tocsin-leader:" + scope, { signal: ac.signal }, () => {
      if (this._stale(run)) return;
      this._lockAbort = null;
      this._leading = true;
      this._open(run);
      return new Promise((resolve) => { this._releaseLead = resolve; });
    }).catch(() => {}); // aborted: this tab stopped waiting for the lead
  }

  _post(msg) {
    if (this._bc) this._bc.postMessage({ ...msg, user: this.userId });
  }

  _onMessage(msg, run) {
    // Every message names its user; one that names another (an older client, a bug)
    // is never applied.
    if (this._stale(run) || !msg || msg.user !== this.userId) return;
    if (this._leading) {
      // A new tab asks for the state so far (once there is one: else it gets the
      // init when it comes).
      if (msg.type === "hello" && this._haveState) {
        this._post({ type: "state", notifications: this.notifications,
          unreadCount: this.unreadCount, lastEventId: this.lastEventId });
      }
      return;
    }
    if (msg.type === "event" || msg.type === "state") this._setStatus("following");
    if (msg.type === "event" && msg.event && this._foreignUser(msg.event) === null) this._apply(msg.event);
    if (msg.type === "state" && !this._haveState && Array.isArray(msg.notifications)) {
      this._haveState = true;
      this.notifications = msg.notifications.slice();
      this.unreadCount = msg.unreadCount;
      this.lastEventId = msg.lastEventId;
      this._changed();
    }
  }

  // _whoAmI returns the user this client follows: the token's sub (or the user the
  // server named for this token), else what the server says of the credential it
  // holds (a cookie, a token it cannot read), keeping that ticket for the first
  // connection. "" when the server does not say.
  async _whoAmI() {
    await this._ensureToken();
    if (this.token) {
      if (this._pinned && this._pinned.token === this.token) return this._pinned.user;
      const sub = jwtClaims(this.token)?.sub;
      if (typeof sub === "string" && sub) return sub;
    }
    const t = await this._mintTicket();
    this._spare = { ...t, token: this.token, until: Date.now() + SPARE_TICKET_MS };
    return typeof t.userId === "string" ? t.userId : "";
  }

  // _expiresWithin reports whether token's exp is less than ms away (or past).
  _expiresWithin(token, ms) {
    const exp = jwtClaims(token)?.exp;
    return typeof exp === "number" && exp * 1000 - Date.now() < ms;
  }

  // _stale token: missing, expired, or expiring within 30 s unless getToken just gave
  // it (a short-lived token is as fresh as it gets; asking again would not help).
  _staleToken() {
    const t = this.token;
    return !t || this._expiresWithin(t, 0) || (t !== this._gotToken && this._expiresWithin(t, REFRESH_BEFORE_MS));
  }

  // _ensureToken refreshes the token first when there is a getToken and the token is
  // stale.
  async _ensureToken() {
    if (this.getToken && this._staleToken()) await this._refresh();
  }

  // _refresh asks getToken for a fresh token; concurrent callers share one call.
  _refresh() {
    if (!this._refreshing) {
      this._refreshing = (async () => {
        try {
          let tok;
          try {
            tok = await this.getToken();
          } catch (e) {
            tok = e;
          }
          if (typeof tok !== "string" || !tok) {
            const err = new Error("tocsin: getToken gave no token" + (tok instanceof Error ? ": " + tok.message : ""));
            err.refresh = true; // reported, then retried with backoff
            throw err;
          }
          this._gotToken = tok;
          this.setToken(tok);
        } finally {
          this._refreshing = null;
        }
      })();
    }
    return this._refreshing;
  }

  // _ticket returns {ticket, expiresAt, userId} for one connection: the spare one
  // minted to learn the user, or a new one.
  async _ticket() {
    const s = this._spare;
    this._spare = null;
    if (s && s.token === this.token && Date.now() < s.until) return s;
    return this._mintTicket();
  }

  // _mintTicket trades the credential for a single-use stream ticket (EventSource
  // cannot send headers; no long-lived token goes into a URL). A 401 gets one retry
  // with a fresh token from getToken; a refusal after that is final.
  async _mintTicket() {
    for (let refreshed = false; ; refreshed = true) {
      await this._ensureToken();
      const r = await fetch(this.url + "/api/notifications/stream-ticket", {
        method: "POST", headers: this.token ? { Authorization: "Bearer " + this.token } : {},
        credentials: this.token ? "omit" : "include",
      });
      if (r.status === 401 && this.getToken && !refreshed) {
        await this._refresh();
        continue;
      }
      if (r.status === 401 || r.status === 403) {
        const err = new Error("tocsin: credentials refused (" + r.status + ")");
        err.final = true;
        throw err;
      }
      if (!r.ok) throw new Error("tocsin: stream ticket: " + r.status);
      return await r.json();
    }
  }

  _failed(e, run) {
    if (this._stale(run)) return;
    if (e && e.final) {
      this._emit("error", e);
      this.close();
      return;
    }
    if (e && e.refresh) this._emit("error", e);
    this._retry(run, () => this._start(run));
  }

  async _open(run) {
    if (this._stale(run)) return;
    this._setStatus("connecting");
    let t;
    try {
      t = await this._ticket();
    } catch (e) {
      this._failed(e, run);
      return;
    }
    if (this._stale(run)) return;
    if (typeof t.userId === "string" && t.userId && t.userId !== this.userId) {
      // The credential is someone else's now (another sign-in changed the cookie).
      this._rescope(t.userId, t);
      return;
    }
    const q = new URLSearchParams();
    if (this.lastEventId) q.set("lastEventId", this.lastEventId);
    q.set("ticket", t.ticket);
    const es = new this.ES(this.url + "/api/notifications/stream?" + q.toString());
    this._es = es;
    const names = ["init", "reset", "notification", "notification:updated", "notification:deleted",
      "notifications:read", "unread", "notifications:batch"];
    let opened = false;
    const handle = (name) => (e) => {
      if (this._stale(run) || this._es !== es) return;
      opened = true;
      this._receive({ id: e.lastEventId || "", name, data: e.data ? JSON.parse(e.data) : null, hasId: name !== "unread" && name !== "reset" }, run);
    };
    for (const n of names) es.addEventListener(n, handle(n));
    es.onmessage = handle("message");
    es.onopen = () => {
      if (this._es !== es) return;
      opened = true;
      this._setStatus("open");
    };
    es.onerror = () => {
      // The ticket was single-use: reconnect ourselves, with a new one and the
      // last id, rather than let EventSource retry the spent URL. A stream that was
      // open and ended when its token expired reconnects at once, with a fresh token.
      es.close();
      if (this._es !== es) return;
      this._es = null;
      if (opened && this.getToken && this._expiresWithin(this.token, REFRESH_BEFORE_MS)) {
        this._gotToken = null; // the server ended it for its token, most likely: ask for a new one
        this._open(run);
      } else this._retry(run, () => this._open(run));
    };
  }

  _retry(run, fn) {
    if (this._stale(run)) return;
    this._setStatus("connecting");
    const ceiling = Math.min(this.maxBackoff, this.minBackoff * 2 ** Math.min(this._attempt, 20));
    const wait = this.minBackoff / 2 + Math.random() * (ceiling - this.minBackoff / 2);
    this._attempt++;
    clearTimeout(this._timer);
    this._timer = setTimeout(() => { if (!this._stale(run)) fn(); }, wait);
  }

  // _rescope starts over as user (the server's word): it drops everything of the
  // user this client thought it followed, shared or not, then leads or follows under
  // the new user's names after a backoff. spare is a ticket already minted for user.
  _rescope(user, spare) {
    if (!this._active || this._closed) return;
    this._pinned = user && this.token ? { token: this.token, user } : null;
    this._spare = spare ? { ...spare, token: this.token, until: Date.now() + SPARE_TICKET_MS } : null;
    this._teardown();
    this._dropState(user);
    const run = ++this._run;
    this._retry(run, () => this._start(run));
  }

  // _foreignUser returns the user an event names when that is not this client's
  // user, "" when it names a notification of another user, and null when the event
  // is this user's (or names nobody).
  _foreignUser(ev) {
    const d = ev.data;
    if (!d || typeof d !== "object") return null;
    if (ev.name === "init" && typeof d.userId === "string" && this.userId && d.userId !== this.userId) return d.userId;
    if ((ev.name === "notification" || ev.name === "notification:updated") &&
        typeof d.userId === "string" && d.userId && this.userId && d.userId !== this.userId) return "";
    if (ev.name === "notifications:batch" && Array.isArray(d)) {
      for (const item of d) {
        const f = item && this._foreignUser({ name: item.event, data: item.data });
        if (f !== null && f !== undefined) return f;
      }
    }
    return null;
  }

  // _receive takes an event from this tab's connection: checks it is this user's,
  // de-duplicates, applies, and hands it to the other tabs of the same user.
  _receive(ev, run) {
    const other = this._foreignUser(ev);
    if (other !== null) {
      // Never shown, never shared: start over as whoever the server says this is.
      this._rescope(other);
      return;
    }
    this._attempt = 0; // this connection delivers: the next reconnect starts with a short wait
    if (ev.name === "init" && !this.userId && typeof ev.data?.userId === "string") {
      this.userId = ev.data.userId; // a server that did not say so before the stream
      this._emit("user", this.userId);
    }
    if (ev.hasId && ev.id && this._seen(ev.id)) return;
    if (ev.name === "reset") this.lastEventId = "";
    this._apply(ev);
    if (this._leading && !this._stale(run)) this._post({ type: "event", event: ev });
  }

  _seen(id) {
    const cur = parseId(id), last = parseId(this.lastEventId);
    return !!(cur && last && cur.epoch === last.epoch && cur.seq <= last.seq);
  }

  _apply(ev) {
    if (ev.hasId && ev.id) this.lastEventId = ev.id;
    if (ev.name === "reset") this.lastEventId = "";
    const d = ev.data;
    switch (ev.name) {
      case "init":
        this._haveState = true;
        this.notifications = d.notifications.slice();
        this.unreadCount = d.unreadCount;
        break;
      case "notification":
        if (!this.notifications.some((n) => n.id === d.id)) {
          this.notifications.unshift(d);
          this._emit("notification", d);
        }
        break;
      case "notification:updated": {
        const i = this.notifications.findIndex((n) => n.id === d.id);
        const unread = !d.readAt && !d.archivedAt;
        if (i >= 0 && unread) this.notifications[i] = d;
        else if (i >= 0) this.notifications.splice(i, 1);
        else if (unread) this.notifications.unshift(d);
        break;
      }
      case "notification:deleted":
        this.notifications = this.notifications.filter((n) => n.id !== d.id);
        break;
      case "notifications:read":
        // One event for a whole read-all: the store holds unread items only, so the
        // covered ones leave it. The count comes with the unread event that follows.
        if (isNotificationsRead(d)) this.notifications = this.notifications.filter((n) => !readCovers(d, n));
        break;
      case "unread":
        this.unreadCount = d.unreadCount;
        break;
      case "notifications:batch":
        for (const item of d) this._apply({ id: item.id, name: item.event, data: item.data, hasId: true });
        return;
    }
    this._emit("event", ev);
    this._changed();
  }

  async _fetch(method, path, body) {
    const headers = {};
    if (this.token) headers.Authorization = "Bearer " + this.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(this.url + path, {
      method, headers, credentials: this.token ? "omit" : "include",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async _call(method, path, body) {
    await this._ensureToken();
    let r = await this._fetch(method, path, body);
    if (r.status === 401 && this.getToken) {
      // Once, with a fresh token; a second 401 is the answer.
      await r.text();
      await this._refresh();
      r = await this._fetch(method, path, body);
    }
    const text = await r.text();
    const data = text ? JSON.parse(text) : null;
    if (!r.ok) {
      const err = new Error("tocsin: " + (data && data.error ? data.error.message : r.status));
      err.status = r.status;
      err.code = data && data.error ? data.error.code : "";
      throw err;
    }
    return data;
  }

  /** Lists the inbox: {notifications, nextCursor, unreadCount}. */
  list(opts = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts)) if (v !== undefined && v !== "") q.set(k, String(v));
    return this._call("GET", "/api/notifications?" + q.toString());
  }

  /** Marks one notification read (every tab and device updates through the stream). */
  markRead(id) { return this._call("PATCH", "/api/notifications/" + encodeURIComponent(id), { read: true }); }

  /** Marks every notification read (the stream then carries one notifications:read event). */
  markAllRead() { return this._call("POST", "/api/notifications/read-all"); }

  /** Deletes one notification. */
  remove(id) { return this._call("DELETE", "/api/notifications/" + encodeURIComponent(id)); }

  // Web Push (PRODUCT.md section 8). The service worker must be same-origin with the
  // page: by default the server's /sw.js, which is right when the page is served by
  // the server (the dashboard) or by a proxy in front of it.

  _swUrl(opts) {
    const base = typeof location !== "undefined" ? location.href : undefined;
    return new URL(opts.serviceWorkerUrl || this.url + "/sw.js", base).href;
  }

  _pushSupported() {
    return typeof navigator !== "undefined" && !!navigator.serviceWorker &&
      typeof PushManager !== "undefined" && typeof Notification !== "undefined" &&
      globalThis.isSecureContext !== false;
  }

  // _pushSubscription returns this browser's registration of the worker and its push
  // subscription (either may be null).
  async _pushSubscription(opts) {
    const reg = await navigator.serviceWorker.getRegistration(this._swUrl(opts));
    const sub = reg && reg.pushManager ? await reg.pushManager.getSubscription() : null;
    return { reg, sub };
  }

  /**
   * pushState() → "unsupported" | "denied" | "off" | "on": whether this browser gets
   * Web Push for this app (see pushStateOf).
   */
  async pushState(opts = {}) {
    if (!this._pushSupported()) return "unsupported";
    const { sub } = await this._pushSubscription(opts);
    return pushStateOf({ supported: true, permission: Notification.permission, subscribed: !!sub });
  }

  /**
   * enablePush registers the service worker, asks for the notifications permission
   * (call it from a user gesture: browsers ignore the prompt otherwise), subscribes
   * with the server's VAPID key and stores the subscription on the server under this
   * client's credentials. Returns {id, endpoint}. Errors carry code "unsupported" or
   * "denied"; server errors carry status and code as the REST helpers' do.
   * @param {{serviceWorkerUrl?: string, deviceId?: string}} [opts]
   */
  async enablePush(opts = {}) {
    if (!this._pushSupported()) throw Object.assign(new Error("tocsin: this browser cannot receive Web Push here"), { code: "unsupported" });
    const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
    if (permission !== "granted") throw Object.assign(new Error("tocsin: notifications are not allowed"), { code: "denied" });
    const reg = await activated(await navigator.serviceWorker.register(this._swUrl(opts), { type: "module" }));
    const key = decodeVapidKey((await this._call("GET", "/api/push/vapid-public-key")).publicKey);
    let sub = await reg.pushManager.getSubscription();
    if (sub && !sameKey(sub, key)) {
      await sub.unsubscribe(); // the server's key changed: its pushes would be refused
      sub = null;
    }
    if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    const body = sub.toJSON();
    const deviceId = opts.deviceId || this.deviceId;
    if (deviceId) body.deviceId = deviceId;
    const out = await this._call("POST", "/api/push/subscriptions", body);
    return { id: out && out.id, endpoint: sub.endpoint };
  }

  /**
   * disablePush removes this browser's subscription from the server and unsubscribes
   * it. The browser side goes even when the server cannot be reached (the push
   * service then answers the server's next push with 410, which removes it there).
   */
  async disablePush(opts = {}) {
    if (!this._pushSupported()) return;
    const { sub } = await this._pushSubscription(opts);
    if (!sub) return;
    let err = null;
    try {
      const d = await this._call("GET", "/api/push/subscriptions");
      const list = Array.isArray(d) ? d : (d && (d.subscriptions || d.items)) || [];
      for (const s of list) {
        if (s && s.endpoint === sub.endpoint) {
          await this._call("DELETE", "/api/push/subscriptions/" + encodeURIComponent(s.id)).catch((e) => {
            if (e.status !== 404) throw e; // gone already
          });
        }
      }
    } catch (e) {
      err = e;
    }
    await sub.unsubscribe();
    if (err) throw err;
  }
}
