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
// saw. Everything shared between tabs is named by the key, the server AND the user, so
// two tabs signed in as two users (or to two servers) never see each other's
// notifications.
//
// A connection that fails is reported once per outage as an `error` event (a
// TocsinError whose code says why: "network", "cors", "auth", "http", "server") while
// the client keeps retrying; `online` follows when the stream is back.
//
// It imports its sibling modules relatively (the server serves them next to it):
// client-inbox.js (the store's rules), client-rest.js (credentials, errors, the REST
// calls: the base class TocsinClient), client-push.js (Web Push).

import { isNotificationsRead, readCovers, isNotificationsUpdated, applyUpdated, inInbox, withNewest } from "./client-inbox.js";
import { TocsinClient, TocsinError, streamFailed, unreachable, httpError, jwtClaims, REFRESH_BEFORE_MS } from "./client-rest.js";

export { isNotificationsRead, readCovers, isSnoozed, inInbox } from "./client-inbox.js";
export { TocsinClient, TocsinError, jwtClaims } from "./client-rest.js";
export { decodeVapidKey, pushStateOf } from "./client-push.js";

const EPOCH_SEQ = /^([a-z0-9]{1,32})-(\d+)$/;

// A ticket minted to learn the user is kept this long for the first connection (the
// server honours it for 60 s).
const SPARE_TICKET_MS = 30000;

// After an open stream ends, failures within this long are not reported: a server
// restart or a deploy is over by then, and an offline banner that flashes for it
// would only worry the user. A first connection's failure is reported at once.
const DROP_GRACE_MS = 2000;

function parseId(id) {
  const m = EPOCH_SEQ.exec(id || "");
  return m ? { epoch: m[1], seq: BigInt(m[2]) } : null;
}

// serverKey names the server at url in what tabs share: its absolute base URL, url
// resolved against the page ("" is the page's origin), so two servers with the same
// user ids never share a stream. Outside a page (Node) url as given.
function serverKey(url) {
  try {
    return new URL(url + "/", typeof location !== "undefined" ? location.href : undefined).href;
  } catch {
    return url;
  }
}

// ticketString is what getTicket gave: a ticket, or the stream-ticket response that
// holds one; "" for anything else.
function ticketString(t) {
  if (t && typeof t === "object") t = t.ticket;
  return typeof t === "string" ? t : "";
}

export class Tocsin extends TocsinClient {
  /**
   * @param {object} opts
   * @param {string} [opts.url]        server base URL ("" for the page's origin)
   * @param {string} [opts.token]      the user's JWT (else getToken, else the tocsin_token cookie)
   * @param {() => Promise<string>} [opts.getToken] returns a fresh JWT: called before
   *   connecting when there is no token or it expires within 30 s, and once after a 401
   * @param {string} [opts.ticket]     a stream ticket for the first stream connection
   *   (minted by the page's backend), so no JWT has to be in the page
   * @param {() => Promise<string|{ticket: string}>} [opts.getTicket] returns a fresh
   *   stream ticket: called for every stream connection after the given one
   * @param {number} [opts.minBackoff] first reconnect wait in ms (250)
   * @param {number} [opts.maxBackoff] reconnect wait cap in ms (30000)
   * @param {boolean} [opts.share]     share one stream between tabs (true where the browser allows)
   * @param {string} [opts.key]        tabs of one user share a stream per key ("default")
   * @param {Function} [opts.EventSource] an EventSource implementation (Node: the npm eventsource package)
   * @param {string} [opts.deviceId]   names this device's Web Push subscription (enablePush)
   */
  constructor(opts = {}) {
    super(opts);
    this.minBackoff = opts.minBackoff ?? 250;
    this.maxBackoff = opts.maxBackoff ?? 30000;
    this.ES = opts.EventSource || globalThis.EventSource;
    this.share = (opts.share ?? true) && typeof BroadcastChannel !== "undefined" &&
      typeof navigator !== "undefined" && !!navigator.locks;
    this.key = opts.key || "default";
    this.getTicket = typeof opts.getTicket === "function" ? opts.getTicket : null;
    this._given = typeof opts.ticket === "string" ? opts.ticket : ""; // spent by the next stream connection
    this._ticketed = !!(this._given || this.getTicket); // the page gives stream tickets
    this.userId = ""; // whose stream this is, once known ("" before)
    this.notifications = []; // newest first: the unread ones, as init and the events say
    this.unreadCount = 0;
    this.lastEventId = "";
    this.status = "idle"; // idle | connecting | open | following | closed
    this._attempt = 0;
    this._preOpenFails = 0; // streams in a row that failed before opening
    this._droppedAt = 0; // when the last open stream ended (0: it did not, or it is back)
    this._closed = false;
    this._active = false; // connect() was called and close() was not
    this._run = 0; // each start bumps it; callbacks of an older run do nothing
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
    this._refused = false;
    this._closed = false;
    this._active = true;
    this._teardown();
    const run = ++this._run;
    this._setStatus("connecting");
    this._start(run);
  }

  /**
   * ticketOnly: the page gives the stream tickets (ticket, setTicket, getTicket) and
   * the client has no token nor getToken, so its REST calls rely on the tocsin_token
   * cookie, which a page on another site does not have.
   */
  get ticketOnly() { return this._ticketed && !this.token && !this.getToken; }

  /**
   * Gives the client a stream ticket (of the same user) for its next stream
   * connection, which spends it. The open stream stays as it is; a client waiting to
   * reconnect connects at once; one that stopped because its credential was refused
   * (a ticket-only page whose stream dropped) connects again. Each resumes from
   * lastEventId, missing nothing.
   */
  setTicket(ticket) {
    this._given = typeof ticket === "string" ? ticket : "";
    if (!this._given) return;
    this._ticketed = true;
    if (this._refused) {
      this._refused = false;
      this.connect();
    } else if (this._waiting && !this._stale(this._waiting.run)) {
      const { fn } = this._waiting;
      this._waiting = null;
      clearTimeout(this._timer);
      fn();
    }
  }

  /** Stops following; releases the lead to another tab. */
  close() {
    this._refused = false;
    this._closed = true;
    this._active = false;
    this._run++;
    this._teardown();
    this.error = null;
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
    this._waiting = null;
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
    if (user !== null && user !== this.userId) this._dropState(user);
    if (!this.share || !user) {
      // Not shared: also when the server does not say who the credential is, since
      // then nothing could keep two users' tabs apart.
      this._open(run);
      return;
    }
    const scope = encodeURIComponent(this.key) + ":" + encodeURIComponent(serverKey(this.url)) + ":" + encodeURIComponent(user);
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
      if (msg.type === "hello") this._postOutage(); // a tab that opens mid-outage learns of it
      return;
    }
    if (msg.type === "outage" && msg.error) {
      // The leader has lost the stream: nothing is live here either until it is back.
      this._setStatus("connecting");
      this._report(new TocsinError(msg.error.code, msg.error.message, { status: msg.error.status, url: msg.error.url, origin: msg.error.origin }));
      return;
    }
    if (msg.type === "event" || msg.type === "state" || msg.type === "online") {
      this._setStatus("following");
      this._recover();
    }
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
  // connection. "" when the server does not say. null when the page gives the tickets
  // and no token: the user stays the one followed so far, until the stream's init
  // says (minting a ticket to ask would need a cookie the page may not have).
  async _whoAmI() {
    if (this.ticketOnly) return null;
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

  // _ticket returns {ticket, expiresAt?, userId?} for one connection: the one the
  // page gave (once), the spare one minted to learn the user, one from getTicket, or
  // one minted with the token or the cookie.
  async _ticket() {
    if (this._given) {
      const ticket = this._given;
      this._given = "";
      return { ticket };
    }
    const s = this._spare;
    this._spare = null;
    if (s && s.token === this.token && Date.now() < s.until) return s;
    if (!this.getTicket) return this._mintTicket();
    let t;
    try {
      t = await this.getTicket();
    } catch (e) {
      t = e;
    }
    if (!ticketString(t)) {
      // Reported, then retried with backoff (as a failing getToken is).
      throw new TocsinError("auth", "tocsin: getTicket gave no ticket" + (t instanceof Error ? ": " + t.message : ""),
        { cause: t instanceof Error ? t : undefined });
    }
    return typeof t === "object" ? t : { ticket: t };
  }

  // _mintTicket trades the credential for a single-use stream ticket (EventSource
  // cannot send headers; no long-lived token goes into a URL). A 401 gets one retry
  // with a fresh token from getToken; a refusal after that is final.
  async _mintTicket() {
    for (let refreshed = false; ; refreshed = true) {
      await this._ensureToken();
      const path = "/api/notifications/stream-ticket";
      let r;
      try {
        r = await fetch(this.url + path, {
          method: "POST", headers: this.token ? { Authorization: "Bearer " + this.token } : {},
          credentials: this.token ? "omit" : "include",
        });
      } catch (e) {
        throw await unreachable(this.url, path, e);
      }
      if (r.status === 401 && this.getToken && !refreshed) {
        await this._refresh();
        continue;
      }
      if (!r.ok) {
        const err = httpError(r.status, await r.json().catch(() => null), this.url + path);
        if (err.code === "auth") err.final = true;
        throw err;
      }
      return await r.json();
    }
  }

  // _failed reports e (once per outage) and calls again after a backoff; refused
  // credentials are final. A failure before the tab leads starts over (_start); one
  // of the leader's keeps the lead and retries the stream (a new _start would wait
  // for the lock this tab holds, for ever).
  _failed(e, run, again = () => this._start(run)) {
    if (this._stale(run)) return;
    if (e && e.final) {
      this._emit("error", e);
      this.close();
      this._refused = true; // setTicket (or connect) starts again, resuming
      return;
    }
    if (!this._droppedAt || Date.now() - this._droppedAt >= DROP_GRACE_MS) {
      this._report(e instanceof TocsinError ? e : new TocsinError("server", "tocsin: " + (e && e.message ? e.message : String(e)), { cause: e }));
    }
    this._retry(run, again);
  }

  async _open(run) {
    if (this._stale(run)) return;
    this._setStatus("connecting");
    let t;
    try {
      t = await this._ticket();
    } catch (e) {
      this._failed(e, run, () => this._open(run)); // the lead (or no sharing) stays: only the stream is retried
      return;
    }
    if (this._stale(run)) return;
    if (typeof t.userId === "string" && t.userId && t.userId !== this.userId) {
      if (this.userId) {
        // The credential is someone else's now (another sign-in changed the cookie).
        this._rescope(t.userId, t);
        return;
      }
      this._dropState(t.userId); // a ticket from getTicket names the user not known yet
    }
    const q = new URLSearchParams();
    if (this.lastEventId) q.set("lastEventId", this.lastEventId);
    q.set("ticket", t.ticket);
    const es = new this.ES(this.url + "/api/notifications/stream?" + q.toString());
    this._es = es;
    const names = ["init", "reset", "notification", "notification:updated", "notification:deleted",
      "notifications:read", "notifications:updated", "unread", "notifications:batch"];
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
      this._preOpenFails = 0;
      this._droppedAt = 0;
      this._setStatus("open");
      this._recover();
    };
    es.onerror = () => {
      // The ticket was single-use: reconnect ourselves, with a new one and the
      // last id, rather than let EventSource retry the spent URL. A stream that was
      // open and ended when its token expired reconnects at once, with a fresh token.
      es.close();
      if (this._es !== es) return;
      this._es = null;
      // A ticket was given but the stream did not open: the browser does not say
      // why. Once may be a restart in between; twice in a row is worth reporting.
      if (!opened && ++this._preOpenFails >= 2) this._report(streamFailed(this.url + "/api/notifications/stream"));
      if (opened) this._droppedAt = Date.now();
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
    this._waiting = { run, fn }; // setTicket cuts the wait short
    this._timer = setTimeout(() => {
      this._waiting = null;
      if (!this._stale(run)) fn();
    }, wait);
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
    if (ev.name === "notifications:updated" && Array.isArray(d.notifications) &&
        d.notifications.some((n) => n && typeof n.userId === "string" && n.userId && this.userId && n.userId !== this.userId)) return "";
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
    let other = this._foreignUser(ev);
    if (other && ev.name === "init" && !this.token && !this._bc) {
      // No token and nothing shared: the stream's credential (a ticket the page gave,
      // the cookie) says whose stream this is, and its init starts that user's inbox.
      this._dropState(other);
      other = null;
    }
    if (other !== null) {
      // Never shown, never shared: start over as whoever the server says this is.
      this._rescope(other);
      return;
    }
    this._attempt = 0; // this connection delivers: the next reconnect starts with a short wait
    this._preOpenFails = 0;
    this._droppedAt = 0;
    if (this.status !== "open") this._setStatus("open"); // an EventSource that never called onopen
    this._recover();
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
        this.notifications = d.notifications.filter((n) => inInbox(n));
        this.unreadCount = d.unreadCount;
        break;
      case "notification":
        if (!this.notifications.some((n) => n.id === d.id)) {
          if (inInbox(d)) this.notifications = withNewest(this.notifications, d);
          this._emit("notification", d);
        }
        break;
      case "notification:updated":
        // Snoozed, read or archived: it leaves; back (unsnoozed, unread): at its place.
        this.notifications = applyUpdated(this.notifications, d);
        break;
      case "notifications:updated":
        // One event for a bulk change (updateMany): each item as a notification:updated.
        if (isNotificationsUpdated(d)) for (const n of d.notifications) this.notifications = applyUpdated(this.notifications, n);
        break;
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

}
