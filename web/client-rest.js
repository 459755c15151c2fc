// tocsin JavaScript client: credentials, errors and the REST calls, served at
// /client-rest.js and imported by /client.js, whose Tocsin class (the stream, the
// inbox store, the tabs) extends TocsinClient. A page that only calls the REST API
// (no stream) may use TocsinClient by itself.

import * as push from "./client-push.js";

// Every failure the client reports (the `error` event, a rejected REST call) is a
// TocsinError with a code:
//   "network" the server could not be reached at the URL (down, wrong URL, offline)
//   "cors"    the server answered but refused this page's origin (--cors-origins)
//   "auth"    the credentials were refused (401/403), or getToken gave none
//   "http"    the server refused the request (4xx: bad input, not found, too many)
//   "server"  the server failed (5xx), or a stream did not open for a reason the
//             browser does not tell

export class TocsinError extends Error {
  /**
   * @param {"network"|"cors"|"auth"|"http"|"server"} code
   * @param {string} message what happened and what to do
   * @param {object} [extra] status, serverCode, url, origin, cause
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.name = "TocsinError";
    this.code = code;
    this.status = extra.status ?? 0;
    this.serverCode = extra.serverCode ?? "";
    this.url = extra.url ?? "";
    if (extra.origin) this.origin = extra.origin;
    if (extra.cause) this.cause = extra.cause;
  }
}

/**
 * httpError is the TocsinError for an answer with a non-2xx status; body is the
 * parsed JSON body ({"error": {"code", "message"}}) or null.
 */
export function httpError(status, body, url) {
  const e = body && typeof body === "object" && body.error && typeof body.error === "object" ? body.error : null;
  const said = e && typeof e.message === "string" ? e.message : "";
  const extra = { status, serverCode: e && typeof e.code === "string" ? e.code : "", url };
  if (status === 401 || status === 403) {
    return new TocsinError("auth", "tocsin: credentials refused (" + status + ")" + (said ? ": " + said : "") +
      "; give the client a valid token for this server (token, getToken) or sign in again", extra);
  }
  if (status >= 500) return new TocsinError("server", "tocsin: the server failed (" + status + ")" + (said ? ": " + said : "") + "; see its log", extra);
  return new TocsinError("http", "tocsin: " + (said || "the server answered " + status), extra);
}

// pageOrigin is the origin of the page running the client, "" outside a page (Node).
function pageOrigin() {
  try {
    return typeof location !== "undefined" && location.origin ? location.origin : "";
  } catch {
    return "";
  }
}

/**
 * notificationPath is the path of one notification. The id is one encoded segment;
 * "." and ".." are refused (a TypeError): fetch resolves such a segment before
 * sending, so the call would reach another route (/api/notifications/.. is /api/).
 */
function notificationPath(id) {
  if (id === "." || id === "..") throw new TypeError("tocsin: " + JSON.stringify(id) + " is not a notification id");
  return "/api/notifications/" + encodeURIComponent(id);
}

/**
 * unreachable tells why a fetch to base + path threw (fetch says only "Failed to
 * fetch"): a page on another origin probes base + "/healthz" twice. If a CORS request
 * fails while an opaque (no-cors) one gets an answer, the server is up and refuses
 * this origin: "cors". Anything else is "network".
 */
export async function unreachable(base, path, cause) {
  const origin = pageOrigin();
  const target = base || origin;
  let serverOrigin = "";
  try {
    serverOrigin = new URL(target || "/", origin && origin !== "null" ? origin : undefined).origin;
  } catch { /* an unparsable URL: network, below */ }
  if (origin && serverOrigin && serverOrigin !== origin) {
    const probe = (mode) => fetch(target + "/healthz", { mode, credentials: "omit", cache: "no-store" }).then(() => true, () => false);
    if (!(await probe("cors")) && (await probe("no-cors"))) {
      if (origin === "null") {
        // A page opened from a file (or a sandboxed frame) has no origin to list.
        return new TocsinError("cors",
          "tocsin: the server at " + target + " refuses calls from this page, which has no origin (opened from a file?): " +
          "serve the page over http(s) from an origin listed in --cors-origins", { url: target + path, origin, cause });
      }
      return new TocsinError("cors",
        "tocsin: the server at " + target + " refuses calls from this page's origin " + origin +
        " (CORS): start it with --cors-origins " + origin + " (or TOCSIN_CORS_ORIGINS=" + origin + "), or serve the page from " + serverOrigin,
        { url: target + path, origin, cause });
    }
  }
  return new TocsinError("network",
    "tocsin: cannot reach " + (target + path || path) + " (" + (cause && cause.message ? cause.message : "network error") +
    "): check that the server is running and the client's url is right; retrying",
    { url: target + path, cause });
}

/** streamFailed is the error of a stream that did not open though its ticket was given. */
export function streamFailed(url) {
  return new TocsinError("server",
    "tocsin: the stream at " + url + " did not open (the server refused it: too many open streams for this user, " +
    "or a proxy that does not pass server-sent events); retrying", { url });
}

// A token whose exp is closer than this is refreshed (with getToken) before it is used.
export const REFRESH_BEFORE_MS = 30000;

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

// untilString is snooze's time as the server takes it (RFC 3339), from a Date, a
// string Date can read, or ms since the epoch; it throws a RangeError for anything
// else rather than send the server a time it would refuse.
function untilString(until) {
  const d = until instanceof Date ? until : new Date(until);
  if ((typeof until !== "string" && typeof until !== "number" && !(until instanceof Date)) || Number.isNaN(d.getTime())) {
    throw new RangeError("tocsin: snooze needs a time (a Date or an RFC 3339 string), got " + String(until));
  }
  return d.toISOString();
}

// The most ids one updateMany request may carry (the server's bound).
const MAX_BULK_IDS = 100;

/** TocsinClient: the credentials and REST calls of a tocsin client (Tocsin adds the stream). */
export class TocsinClient {
  /** @param {{url?: string, token?: string, getToken?: () => Promise<string>, deviceId?: string}} [opts] (see Tocsin) */
  constructor(opts = {}) {
    this.url = (opts.url || "").replace(/\/$/, "");
    this.token = opts.token || "";
    this.getToken = typeof opts.getToken === "function" ? opts.getToken : null;
    this.deviceId = opts.deviceId || "";
    this.status = "idle";
    this.error = null; // the outage being reported (a TocsinError), null when none
    this._listeners = new Map();
  }

  /** Replaces the token (Tocsin also starts over when it names another user). */
  setToken(token) { this.token = token || ""; }

  // _post hands a message to the other tabs (Tocsin shares its stream).
  _post() {}

  /**
   * on("change" | "event" | "notification" | "status" | "user" | "error" | "online", fn)
   * → a function that unsubscribes. "error" gets a TocsinError (code "network",
   * "cors", "auth", "http" or "server"), once per outage; "online" follows when the
   * stream is back after one.
   */
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


  // _report emits err as the current outage's error, once: the retries that follow
  // fail the same way and would only repeat it. A leader tells the tabs it serves.
  _report(err) {
    if (this.error) return;
    this.error = err;
    this._emit("error", err);
    this._postOutage();
  }

  // _postOutage tells the tabs a leader serves of the outage it reports.
  _postOutage() {
    const e = this.error;
    if (e && this._leading) this._post({ type: "outage", error: { code: e.code, message: e.message, status: e.status, url: e.url, origin: e.origin } });
  }

  // _recover ends the outage being reported: the next failure is reported again.
  _recover() {
    if (!this.error) return;
    this.error = null;
    this._emit("online");
    if (this._leading) this._post({ type: "online" });
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
            const err = new TocsinError("auth", "tocsin: getToken gave no token" + (tok instanceof Error ? ": " + tok.message : ""),
              { cause: tok instanceof Error ? tok : undefined });
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


  async _fetch(method, path, body) {
    const headers = {};
    if (this.token) headers.Authorization = "Bearer " + this.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(this.url + path, {
      method, headers, credentials: this.token ? "omit" : "include",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  // _call makes one REST call and returns its JSON body (null when empty). It throws a
  // TocsinError: "network" or "cors" when fetch fails (also reported as the `error`
  // event, once per outage), else "auth", "http" or "server" by status.
  async _call(method, path, body) {
    await this._ensureToken();
    const send = async () => {
      try {
        return await this._fetch(method, path, body);
      } catch (e) {
        const err = await unreachable(this.url, path, e);
        this._report(err);
        throw err;
      }
    };
    let r = await send();
    if (r.status === 401 && this.getToken) {
      // Once, with a fresh token; a second 401 is the answer.
      await r.text();
      await this._refresh();
      r = await send();
    }
    // An answer came: whatever the stream is doing, the server is reachable.
    if (this.status !== "connecting") this._recover();
    const text = await r.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      // Not JSON: a proxy's error page, most likely.
      if (r.ok) throw new TocsinError("server", "tocsin: " + method + " " + path + " answered " + r.status + " with a body that is not JSON (a proxy in between?)", { status: r.status, url: this.url + path, cause: e });
    }
    if (!r.ok) throw httpError(r.status, data, this.url + path);
    return data;
  }

  /**
   * Lists notifications, newest first: {notifications, nextCursor, unreadCount}.
   * opts: status ("all" (default), "unread", "read", "archived"), type, tag, q (full-text
   * search), limit, cursor (the previous page's nextCursor, which is null on the
   * last page).
   */
  list(opts = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
    const qs = q.toString();
    return this._call("GET", "/api/notifications" + (qs ? "?" + qs : ""));
  }

  /** One notification. */
  async get(id) { return this._call("GET", notificationPath(id)); }

  /**
   * Changes one notification: patch has any of read, seen, archived (booleans) and
   * snoozedUntil (an RFC 3339 time, or null to unsnooze). Returns the notification as
   * it is now; every tab and device updates through the stream (notification:updated).
   */
  async update(id, patch) { return this._call("PATCH", notificationPath(id), patch); }

  /** Marks one notification read. */
  markRead(id) { return this.update(id, { read: true }); }

  /** Marks one notification unread (it comes back to the store through the stream). */
  markUnread(id) { return this.update(id, { read: false }); }

  /** Marks one notification seen (the channels not sent yet are then skipped). */
  markSeen(id) { return this.update(id, { seen: true }); }

  /** Archives one notification (it leaves the unread store; status "archived" lists it). */
  archive(id) { return this.update(id, { archived: true }); }

  /** Takes one notification out of the archive. */
  unarchive(id) { return this.update(id, { archived: false }); }

  /**
   * Snoozes one notification until a time (a Date, an RFC 3339 string or ms since the
   * epoch): it leaves unread and the count until then, when the server brings it back
   * with notification:updated. A time it cannot read rejects with a RangeError.
   */
  async snooze(id, until) { return this.update(id, { snoozedUntil: untilString(until) }); }

  /** Ends a snooze now. */
  unsnooze(id) { return this.update(id, { snoozedUntil: null }); }

  /**
   * Changes many notifications at once: patch has read, seen and/or archived
   * (booleans). The server takes up to 100 ids a request and sends one
   * notifications:updated event; more ids go in requests of 100, one after another.
   * Returns {notifications: [...the changed ones], unreadCount}.
   */
  async updateMany(ids, patch) {
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === "string" && id)) {
      throw new TypeError("tocsin: updateMany needs a non-empty array of notification ids");
    }
    const out = { notifications: [], unreadCount: this.unreadCount };
    for (let i = 0; i < ids.length; i += MAX_BULK_IDS) {
      const r = await this._call("PATCH", "/api/notifications", { ...patch, ids: ids.slice(i, i + MAX_BULK_IDS) });
      if (r && Array.isArray(r.notifications)) out.notifications.push(...r.notifications);
      if (r && typeof r.unreadCount === "number") out.unreadCount = r.unreadCount;
    }
    return out;
  }

  /** Marks every notification read (the stream then carries one notifications:read event). */
  markAllRead() { return this._call("POST", "/api/notifications/read-all"); }

  /** Deletes one notification. */
  async remove(id) { return this._call("DELETE", notificationPath(id)); }

  /** The user's preferences (PRODUCT.md section 8): {channels, types, topics, mutedUntil, quietHours}. */
  preferences() { return this._call("GET", "/api/preferences"); }

  /** Replaces the user's preferences; returns them as stored. */
  setPreferences(p) { return this._call("PUT", "/api/preferences", p); }

  /** Changes the fields of the user's preferences that p has; returns them as stored. */
  patchPreferences(p) { return this._call("PATCH", "/api/preferences", p); }

  // Web Push (PRODUCT.md section 8), in client-push.js.

  /** "unsupported" | "denied" | "off" | "on": whether this browser gets Web Push for this app. */
  pushState(opts = {}) { return push.pushState(this, opts); }

  /**
   * Registers the service worker, asks permission (call it from a user gesture),
   * subscribes and stores the subscription on the server: {id, endpoint}. Errors
   * carry code "unsupported" or "denied", or a REST call's.
   */
  enablePush(opts = {}) { return push.enablePush(this, opts); }

  /** Removes this browser's subscription from the server and unsubscribes it. */
  disablePush(opts = {}) { return push.disablePush(this, opts); }
}
