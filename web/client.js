// tocsin JavaScript client — an ES module with no dependencies, served by every
// tocsin server at /client.js.
//
//   import { Tocsin } from "/client.js";
//   const t = new Tocsin({ token: userJwt });
//   t.on("change", (s) => render(s.notifications, s.unreadCount));
//   t.connect();
//
// It keeps an inbox store (the unread notifications of the init snapshot, then every
// change), reconnects with capped exponential backoff and jitter, resumes exactly by
// Last-Event-ID, drops duplicate events by id, handles reset, and shares one stream
// between all tabs of a browser: one tab (the leader, by Web Locks) holds the
// connection and hands events to the others over a BroadcastChannel; when it closes,
// another tab takes over from the last event id it saw.

const EPOCH_SEQ = /^([a-z0-9]{1,32})-(\d+)$/;

function parseId(id) {
  const m = EPOCH_SEQ.exec(id || "");
  return m ? { epoch: m[1], seq: BigInt(m[2]) } : null;
}

export class Tocsin {
  /**
   * @param {object} opts
   * @param {string} [opts.url]        server base URL ("" for the page's origin)
   * @param {string} [opts.token]      the user's JWT (else the tocsin_token cookie is used)
   * @param {number} [opts.minBackoff] first reconnect wait in ms (250)
   * @param {number} [opts.maxBackoff] reconnect wait cap in ms (30000)
   * @param {boolean} [opts.share]     share one stream between tabs (true where the browser allows)
   * @param {Function} [opts.EventSource] an EventSource implementation (Node: the npm eventsource package)
   */
  constructor(opts = {}) {
    this.url = (opts.url || "").replace(/\/$/, "");
    this.token = opts.token || "";
    this.minBackoff = opts.minBackoff ?? 250;
    this.maxBackoff = opts.maxBackoff ?? 30000;
    this.ES = opts.EventSource || globalThis.EventSource;
    this.share = (opts.share ?? true) && typeof BroadcastChannel !== "undefined" &&
      typeof navigator !== "undefined" && !!navigator.locks;
    this.key = opts.key || "default";
    this.notifications = []; // newest first: the unread ones, as init and the events say
    this.unreadCount = 0;
    this.lastEventId = "";
    this.status = "idle"; // idle | connecting | open | following | closed
    this._listeners = new Map();
    this._attempt = 0;
    this._closed = false;
  }

  /** on("change" | "event" | "notification" | "status", fn) → a function that unsubscribes. */
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

  /** Starts following the stream (as the leader, or through the leader tab). */
  connect() {
    this._closed = false;
    if (!this.share) {
      this._open();
      return;
    }
    this._leading = false;
    this._bc = new BroadcastChannel("tocsin:" + this.key);
    this._bc.onmessage = (m) => {
      const msg = m.data || {};
      if (this._leading) {
        // A new tab asks for the state so far.
        if (msg.type === "hello") {
          this._bc.postMessage({ type: "state", notifications: this.notifications,
            unreadCount: this.unreadCount, lastEventId: this.lastEventId });
        }
        return;
      }
      if (msg.type === "event") this._apply(msg.event);
      if (msg.type === "state" && !this._haveState) {
        this._haveState = true;
        this.notifications = msg.notifications.slice();
        this.unreadCount = msg.unreadCount;
        this.lastEventId = msg.lastEventId;
        this._emit("change", { notifications: this.notifications, unreadCount: this.unreadCount });
      }
    };
    this._setStatus("following");
    this._bc.postMessage({ type: "hello" });
    // Whoever holds the lock leads; the lock is released when that tab closes, and
    // the next tab in line opens the stream from the last id it saw.
    navigator.locks.request("tocsin-leader:" + this.key, () => {
      if (this._closed) return;
      this._leading = true;
      this._open();
      return new Promise((resolve) => { this._releaseLead = resolve; });
    });
  }

  /** Stops following; releases the lead to another tab. */
  close() {
    this._closed = true;
    clearTimeout(this._timer);
    if (this._es) this._es.close();
    this._es = null;
    if (this._releaseLead) this._releaseLead();
    if (this._bc) this._bc.close();
    this._setStatus("closed");
  }

  async _streamURL() {
    const q = new URLSearchParams();
    if (this.lastEventId) q.set("lastEventId", this.lastEventId);
    if (this.token) {
      // EventSource cannot send headers: trade the JWT for a single-use ticket, so no
      // long-lived token sits in the URL.
      const r = await fetch(this.url + "/api/notifications/stream-ticket", {
        method: "POST", headers: { Authorization: "Bearer " + this.token },
      });
      if (r.status === 401 || r.status === 403) {
        const err = new Error("tocsin: credentials refused (" + r.status + ")");
        err.final = true;
        throw err;
      }
      if (!r.ok) throw new Error("tocsin: stream ticket: " + r.status);
      q.set("ticket", (await r.json()).ticket);
    }
    return this.url + "/api/notifications/stream?" + q.toString();
  }

  async _open() {
    if (this._closed) return;
    this._setStatus("connecting");
    let url;
    try {
      url = await this._streamURL();
    } catch (e) {
      if (e.final) { this._emit("error", e); this.close(); return; }
      this._retry();
      return;
    }
    if (this._closed) return;
    const es = new this.ES(url, { withCredentials: !this.token });
    this._es = es;
    const names = ["init", "reset", "notification", "notification:updated", "notification:deleted",
      "unread", "notifications:batch"];
    const handle = (name) => (e) => {
      this._attempt = 0;
      this._receive({ id: e.lastEventId || "", name, data: e.data ? JSON.parse(e.data) : null, hasId: name !== "unread" && name !== "reset" });
    };
    for (const n of names) es.addEventListener(n, handle(n));
    es.onmessage = handle("message");
    es.onopen = () => this._setStatus("open");
    es.onerror = () => {
      // The ticket was single-use: reconnect ourselves, with a new one and the
      // last id, rather than let EventSource retry the spent URL.
      es.close();
      if (this._es === es) this._es = null;
      this._retry();
    };
  }

  _retry() {
    if (this._closed) return;
    this._setStatus("connecting");
    const ceiling = Math.min(this.maxBackoff, this.minBackoff * 2 ** Math.min(this._attempt, 20));
    const wait = this.minBackoff / 2 + Math.random() * (ceiling - this.minBackoff / 2);
    this._attempt++;
    this._timer = setTimeout(() => this._open(), wait);
  }

  // _receive takes an event from this tab's connection: de-duplicates, applies, and
  // hands it to the other tabs.
  _receive(ev) {
    if (ev.hasId && ev.id && this._seen(ev.id)) return;
    if (ev.name === "reset") this.lastEventId = "";
    this._apply(ev);
    if (this._bc && this._leading) this._bc.postMessage({ type: "event", event: ev });
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
      case "unread":
        this.unreadCount = d.unreadCount;
        break;
      case "notifications:batch":
        for (const item of d) this._apply({ id: item.id, name: item.event, data: item.data, hasId: true });
        return;
    }
    this._emit("event", ev);
    this._emit("change", { notifications: this.notifications, unreadCount: this.unreadCount });
  }

  async _call(method, path, body) {
    const headers = {};
    if (this.token) headers.Authorization = "Bearer " + this.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(this.url + path, {
      method, headers, credentials: this.token ? "omit" : "include",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
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

  /** Marks every notification read. */
  markAllRead() { return this._call("POST", "/api/notifications/read-all"); }

  /** Deletes one notification. */
  remove(id) { return this._call("DELETE", "/api/notifications/" + encodeURIComponent(id)); }
}
