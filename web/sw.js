// tocsin service worker: Web Push in the browser (PRODUCT.md section 8). Served at
// /sw.js (under --base-path too) and registered as a module worker by the JS
// client's enablePush(); its scope is the directory it is served from, the app's root.
//
// It holds no credential. A push carries what the worker needs: the notification to
// show, or the ids to close; and, for marking a notification read on click, a
// single-use, short-lived read ticket minted by the server for that one notification
// and user.
//
// The pure parts are exported so node's test runner can check them (sw.unit.test.mjs);
// the listeners are attached only inside a service worker.

/**
 * parsePush reads a push message's JSON payload, or returns null for anything that
 * is not one of the two messages the server sends:
 *   {"type": "notification", "notification": {...}, "unreadCount": N, "readTicket"?: "..."}
 *   {"type": "dismiss", "ids": [...], "unreadCount": N}
 */
export function parsePush(text) {
  let m;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (!m || typeof m !== "object") return null;
  const count = Number.isInteger(m.unreadCount) && m.unreadCount >= 0 ? m.unreadCount : null;
  if (m.type === "notification") {
    const n = m.notification;
    if (!n || typeof n !== "object" || typeof n.id !== "string" || !n.id) return null;
    const ticket = typeof m.readTicket === "string" ? m.readTicket
      : typeof n.readTicket === "string" ? n.readTicket : "";
    return { type: "notification", notification: n, unreadCount: count, readTicket: ticket };
  }
  if (m.type === "dismiss") {
    if (!Array.isArray(m.ids)) return null;
    return { type: "dismiss", ids: m.ids.filter((id) => typeof id === "string"), unreadCount: count };
  }
  return null;
}

/**
 * notificationOptions turns a pushed notification into showNotification's title and
 * options: tag = id (so a later push of the same id replaces it and a dismiss finds
 * it), requireInteraction for priority 5, renotify for grouped updates (count > 1:
 * the same tag again should still alert). data carries what a click needs.
 */
export function notificationOptions(n, readTicket) {
  const title = String(n.title || n.type || "Notification");
  const opts = {
    body: String(n.body || ""),
    tag: n.id,
    data: { id: n.id, actionUrl: typeof n.actionUrl === "string" ? n.actionUrl : "", readTicket: readTicket || "" },
    requireInteraction: n.priority === 5,
    renotify: n.count > 1,
    timestamp: Date.parse(n.createdAt) || undefined,
  };
  if (typeof n.icon === "string" && n.icon) opts.icon = n.icon;
  if (typeof n.imageUrl === "string" && n.imageUrl) opts.image = n.imageUrl;
  return { title, options: opts };
}

/**
 * clickTarget is the URL a click opens: actionUrl when it is an absolute http: or
 * https: URL (nothing else: no javascript:, data:, or relative surprises), else the
 * app's root (the worker's scope).
 */
export function clickTarget(actionUrl, scope) {
  if (typeof actionUrl === "string" && actionUrl) {
    try {
      const u = new URL(actionUrl);
      if (u.protocol === "http:" || u.protocol === "https:") return u.href;
    } catch { /* not an absolute URL: the app instead */ }
  }
  return scope;
}

/**
 * apiBase is where the worker calls the server: the `api` parameter of the worker's
 * own URL when it is http(s) (an app on another origin serves a copy of sw.js as
 * /sw.js?api=https://tocsin.example/), else the worker's scope (served by tocsin).
 */
export function apiBase(workerUrl, scope) {
  try {
    const api = new URL(workerUrl).searchParams.get("api");
    if (api) {
      const u = new URL(api);
      if (u.protocol === "http:" || u.protocol === "https:") return u.href.endsWith("/") ? u.href : u.href + "/";
    }
  } catch { /* fall through */ }
  return scope;
}

/**
 * readRequest is the request that marks notification id read with its read ticket,
 * or null without a ticket (then the app marks it read when it opens). The ticket
 * goes in the body, not the URL, so it never lands in an access log.
 */
export function readRequest(scope, id, ticket) {
  if (!ticket || !id) return null;
  return {
    url: new URL("api/push/read", scope).href,
    init: {
      method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id, ticket }),
    },
  };
}

// setBadge shows the unread count on the app icon where the browser can.
async function setBadge(nav, count) {
  if (count === null || !nav) return;
  try {
    if (count === 0 && nav.clearAppBadge) await nav.clearAppBadge();
    else if (nav.setAppBadge) await nav.setAppBadge(count);
  } catch { /* not installed as an app: no badge */ }
}

async function onPush(sw, event) {
  const msg = event.data ? parsePush(event.data.text()) : null;
  if (!msg) return;
  if (msg.type === "notification") {
    const { title, options } = notificationOptions(msg.notification, msg.readTicket);
    await sw.registration.showNotification(title, options);
  } else {
    const ids = new Set(msg.ids);
    for (const n of await sw.registration.getNotifications()) if (ids.has(n.tag)) n.close();
  }
  await setBadge(sw.navigator, msg.unreadCount);
  // Tell the app's open windows (an inbox may refresh; tests wait on it).
  const handled = msg.type === "notification"
    ? { type: "tocsin:push", push: "notification", ids: [msg.notification.id], unreadCount: msg.unreadCount }
    : { type: "tocsin:push", push: "dismiss", ids: msg.ids, unreadCount: msg.unreadCount };
  for (const c of await sw.clients.matchAll({ type: "window", includeUncontrolled: true })) c.postMessage(handled);
}

async function onClick(sw, event) {
  const n = event.notification;
  n.close();
  const data = n.data || {};
  const scope = sw.registration.scope;
  const url = clickTarget(data.actionUrl, scope);
  const req = readRequest(apiBase(sw.location && sw.location.href, scope), data.id, data.readTicket);
  const read = req ? sw.fetch(req.url, req.init).catch(() => {}) : null;
  // Focus a window already at that URL, else open one.
  const wins = await sw.clients.matchAll({ type: "window", includeUncontrolled: true });
  const same = wins.find((c) => c.url === url && "focus" in c);
  if (same) await same.focus();
  else if (sw.clients.openWindow) await sw.clients.openWindow(url);
  if (read) await read;
}

if (typeof ServiceWorkerGlobalScope !== "undefined" && self instanceof ServiceWorkerGlobalScope) {
  self.addEventListener("install", () => self.skipWaiting());
  self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
  self.addEventListener("push", (e) => e.waitUntil(onPush(self, e)));
  self.addEventListener("notificationclick", (e) => e.waitUntil(onClick(self, e)));
}

// For the tests: the handlers with an injected worker scope.
export const handlers = { onPush, onClick };
