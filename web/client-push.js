// tocsin JavaScript client: Web Push (PRODUCT.md section 8), served at /client-push.js
// and imported by /client.js, whose Tocsin class exposes enablePush, disablePush and
// pushState (this module's functions, called with the client). Kept apart so pages
// that never ask for push still read a small client.
//
// The service worker must be same-origin with the page: by default the server's
// /sw.js, which is right when the page is served by the server (the dashboard) or by
// a proxy in front of it.

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
function swUrl(c, opts) {
  const base = typeof location !== "undefined" ? location.href : undefined;
  return new URL(opts.serviceWorkerUrl || c.url + "/sw.js", base).href;
}

function pushSupported() {
  return typeof navigator !== "undefined" && !!navigator.serviceWorker &&
    typeof PushManager !== "undefined" && typeof Notification !== "undefined" &&
    globalThis.isSecureContext !== false;
}

// pushSubscription returns this browser's registration of the worker and its push
// subscription (either may be null).
async function pushSubscription(c, opts) {
  const reg = await navigator.serviceWorker.getRegistration(swUrl(c, opts));
  const sub = reg && reg.pushManager ? await reg.pushManager.getSubscription() : null;
  return { reg, sub };
}

/**
 * pushState(c) → "unsupported" | "denied" | "off" | "on": whether this browser gets
 * Web Push for this app (see pushStateOf).
 */
export async function pushState(c, opts = {}) {
  if (!pushSupported()) return "unsupported";
  const { sub } = await pushSubscription(c, opts);
  return pushStateOf({ supported: true, permission: Notification.permission, subscribed: !!sub });
}

/**
 * enablePush registers the service worker, asks for the notifications permission
 * (call it from a user gesture: browsers ignore the prompt otherwise), subscribes
 * with the server's VAPID key and stores the subscription on the server under the
 * client c's credentials. Returns {id, endpoint}. Errors carry code "unsupported" or
 * "denied"; server errors carry status and code as the REST helpers' do.
 * @param {{serviceWorkerUrl?: string, deviceId?: string}} [opts]
 */
export async function enablePush(c, opts = {}) {
  if (!pushSupported()) throw Object.assign(new Error("tocsin: this browser cannot receive Web Push here"), { code: "unsupported" });
  const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
  if (permission !== "granted") throw Object.assign(new Error("tocsin: notifications are not allowed"), { code: "denied" });
  const reg = await activated(await navigator.serviceWorker.register(swUrl(c, opts), { type: "module" }));
  const key = decodeVapidKey((await c._call("GET", "/api/push/vapid-public-key")).publicKey);
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub, key)) {
    await sub.unsubscribe(); // the server's key changed: its pushes would be refused
    sub = null;
  }
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  const body = sub.toJSON();
  const deviceId = opts.deviceId || c.deviceId;
  if (deviceId) body.deviceId = deviceId;
  const out = await c._call("POST", "/api/push/subscriptions", body);
  return { id: out && out.id, endpoint: sub.endpoint };
}

/**
 * disablePush removes this browser's subscription from the server and unsubscribes
 * it. The browser side goes even when the server cannot be reached (the push
 * service then answers the server's next push with 410, which removes it there).
 */
export async function disablePush(c, opts = {}) {
  if (!pushSupported()) return;
  const { sub } = await pushSubscription(c, opts);
  if (!sub) return;
  let err = null;
  try {
    const d = await c._call("GET", "/api/push/subscriptions");
    const list = Array.isArray(d) ? d : (d && (d.subscriptions || d.items)) || [];
    for (const s of list) {
      if (s && s.endpoint === sub.endpoint) {
        await c._call("DELETE", "/api/push/subscriptions/" + encodeURIComponent(s.id)).catch((e) => {
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
