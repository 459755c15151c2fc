// Unit tests of the JavaScript client's Web Push part with node's test runner: the
// key decoding and state logic, and enablePush/disablePush/pushState against a fake
// browser (service worker container, push manager, Notification) and a fake server
// (fetch). Run: node --test web/client.push.test.mjs (also run by e2e/jsclient_test.go).
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Tocsin, decodeVapidKey, pushStateOf } from "./client.js";

// A real uncompressed P-256 point (65 bytes, 0x04 first) and its base64url form.
const KEY = new Uint8Array(65).map((_, i) => (i === 0 ? 4 : i));
const KEY_B64 = Buffer.from(KEY).toString("base64url");

test("decodeVapidKey accepts an uncompressed P-256 point in base64url, padded or not", () => {
  assert.deepEqual(decodeVapidKey(KEY_B64), KEY);
  assert.deepEqual(decodeVapidKey(Buffer.from(KEY).toString("base64").replace(/\+/g, "-").replace(/\//g, "_")), KEY);
  const bad = [
    ["empty", ""],
    ["standard base64 alphabet", Buffer.from(new Uint8Array(65).fill(0xfb).map((b, i) => (i ? b : 4))).toString("base64")],
    ["compressed point", Buffer.from(new Uint8Array(33).fill(2)).toString("base64url")],
    ["65 bytes, not 0x04 first", Buffer.from(new Uint8Array(65).fill(3)).toString("base64url")],
    ["not a string", undefined],
    ["spaces", "abc def"],
  ];
  for (const [name, key] of bad) assert.throws(() => decodeVapidKey(key), /VAPID/, name);
});

test("pushStateOf", () => {
  const cases = [
    [{ supported: false, permission: "granted", subscribed: true }, "unsupported"],
    [{ supported: true, permission: "denied", subscribed: true }, "denied"],
    [{ supported: true, permission: "denied", subscribed: false }, "denied"],
    [{ supported: true, permission: "granted", subscribed: true }, "on"],
    [{ supported: true, permission: "granted", subscribed: false }, "off"],
    [{ supported: true, permission: "default", subscribed: false }, "off"],
    [{ supported: true, permission: "default", subscribed: true }, "off"], // permission reset after subscribing
  ];
  for (const [input, want] of cases) assert.equal(pushStateOf(input), want, JSON.stringify(input));
});

// The fake browser and server.
let b, server;
const saved = {};
class FakeSubscription {
  constructor(endpoint, key) {
    this.endpoint = endpoint;
    this.options = { applicationServerKey: key.buffer.slice(0) };
  }
  toJSON() { return { endpoint: this.endpoint, expirationTime: null, keys: b.keys || { p256dh: "BPk", auth: "au" } }; }
  async unsubscribe() { b.log.push("unsubscribe " + this.endpoint); b.sub = null; return true; }
}
beforeEach(() => {
  b = { log: [], sub: null, reg: null, permission: "default", answer: "granted", n: 0 };
  const pushManager = {
    async getSubscription() { return b.sub; },
    async subscribe(o) {
      assert.equal(o.userVisibleOnly, true);
      b.log.push("subscribe " + Buffer.from(o.applicationServerKey).toString("base64url"));
      b.sub = new FakeSubscription((b.endpointBase || "https://push.example/ep") + ++b.n, o.applicationServerKey);
      return b.sub;
    },
  };
  for (const k of ["navigator", "Notification", "PushManager", "fetch"]) saved[k] = Object.getOwnPropertyDescriptor(globalThis, k);
  const define = (k, v) => Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  define("navigator", {
    serviceWorker: {
      async register(url, o) {
        b.log.push(`register ${url} ${o.type}`);
        b.reg = { active: { state: "activated" }, pushManager };
        return b.reg;
      },
      async getRegistration(url) { b.log.push("getRegistration " + url); return b.reg; },
    },
  });
  define("Notification", {
    get permission() { return b.permission; },
    async requestPermission() { b.log.push("ask"); b.permission = b.answer; return b.answer; },
  });
  define("PushManager", function PushManager() {});
  server = { key: KEY_B64, subs: [], posted: [] };
  define("fetch", async (url, init = {}) => {
    const u = new URL(url);
    const json = (status, body) => new Response(body === undefined ? "" : JSON.stringify(body), { status });
    b.log.push(`${init.method} ${u.pathname}`);
    if (init.headers.Authorization !== "Bearer tok") return json(401, { error: { code: "unauthorized", message: "no" } });
    if (u.pathname === "/api/push/vapid-public-key") return json(200, { publicKey: server.key });
    if (u.pathname === "/api/push/subscriptions" && init.method === "POST") {
      const s = JSON.parse(init.body);
      server.posted.push(s);
      server.subs.push({ id: "ps" + server.subs.length, endpoint: s.endpoint, deviceId: s.deviceId || "" });
      return json(201, { id: server.subs.at(-1).id });
    }
    if (u.pathname === "/api/push/subscriptions") return json(200, { subscriptions: server.subs });
    const m = /^\/api\/push\/subscriptions\/(.+)$/.exec(u.pathname);
    if (m && init.method === "DELETE") {
      const before = server.subs.length;
      server.subs = server.subs.filter((s) => s.id !== m[1]);
      return before === server.subs.length ? json(404, { error: { code: "not_found", message: "no" } }) : new Response(null, { status: 204 });
    }
    return json(404, { error: { code: "not_found", message: "no" } });
  });
});
afterEach(() => {
  for (const [k, d] of Object.entries(saved)) {
    if (d) Object.defineProperty(globalThis, k, d);
    else delete globalThis[k];
  }
});

const client = (opts = {}) => new Tocsin({ url: "https://tocsin.test", token: "tok", share: false, ...opts });

test("enablePush: permission, worker, key, subscription, server; then pushState is on", async () => {
  const c = client({ deviceId: "laptop" });
  assert.equal(await c.pushState(), "off");
  const out = await c.enablePush();
  assert.deepEqual(out, { id: "ps0", endpoint: "https://push.example/ep1" });
  assert.deepEqual(server.posted, [{ endpoint: "https://push.example/ep1", expirationTime: null,
    keys: { p256dh: "BPk", auth: "au" }, deviceId: "laptop" }]);
  assert.deepEqual(b.log.filter((l) => !l.startsWith("getRegistration")), [
    "ask", "register https://tocsin.test/sw.js module", "GET /api/push/vapid-public-key",
    "subscribe " + KEY_B64, "POST /api/push/subscriptions"]);
  assert.equal(await c.pushState(), "on");
});

test("enablePush again keeps the subscription; a changed server key renews it", async () => {
  const c = client();
  await c.enablePush({ serviceWorkerUrl: "https://app.test/push/sw.js?api=x" });
  assert.ok(b.log.includes("register https://app.test/push/sw.js?api=x module"));
  b.log = [];
  await c.enablePush();
  assert.equal(b.log.filter((l) => l.startsWith("subscribe")).length, 0, b.log.join("\n"));
  const other = new Uint8Array(65).fill(9);
  other[0] = 4;
  server.key = Buffer.from(other).toString("base64url");
  b.log = [];
  await c.enablePush();
  assert.deepEqual(b.log.filter((l) => /^(un)?subscribe/.test(l)), [
    "unsubscribe https://push.example/ep1", "subscribe " + server.key]);
});

test("enablePush refused: denied permission, unsupported browser, bad key, 401", async () => {
  b.answer = "denied";
  await assert.rejects(client().enablePush(), (e) => e.code === "denied");
  assert.equal(await client().pushState(), "denied");
  assert.equal(b.reg, null, "nothing registered without permission");

  b.permission = "granted";
  server.key = "AAAA";
  await assert.rejects(client().enablePush(), /VAPID/);
  assert.equal(b.sub, null, "not subscribed with a bad key");

  server.key = KEY_B64;
  await assert.rejects(client({ token: "other" }).enablePush(), (e) => e.status === 401);

  delete globalThis.PushManager;
  assert.equal(await client().pushState(), "unsupported");
  await assert.rejects(client().enablePush(), (e) => e.code === "unsupported");
});

test("disablePush deletes this browser's subscription on the server and unsubscribes", async () => {
  const c = client();
  server.subs.push({ id: "other-device", endpoint: "https://push.example/elsewhere" });
  await c.enablePush();
  b.log = [];
  await c.disablePush();
  assert.deepEqual(server.subs.map((s) => s.id), ["other-device"]);
  assert.ok(b.log.includes("DELETE /api/push/subscriptions/ps1"), b.log.join("\n"));
  assert.equal(b.log.at(-1), "unsubscribe https://push.example/ep1");
  assert.equal(await c.pushState(), "off");
  await c.disablePush(); // nothing to do
});

test("disablePush unsubscribes even when the server refuses, and reports it", async () => {
  await client().enablePush();
  await assert.rejects(client({ token: "expired" }).disablePush(), (e) => e.status === 401);
  assert.equal(b.sub, null);
});

// Against a real server (TOCSIN_URL, TOCSIN_TOKEN: e2e/jsclient_test.go sets them):
// the routes take what enablePush sends and disablePush finds it again. The browser
// is still the fake, with a real P-256 key pair for the subscription.
test("enablePush and disablePush against the server", { skip: !process.env.TOCSIN_URL && "needs TOCSIN_URL" }, async () => {
  const { generateKeyPairSync, randomBytes } = await import("node:crypto");
  const realFetch = saved.fetch.value;
  globalThis.fetch = realFetch;
  const jwk = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" });
  const p256dh = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]).toString("base64url");
  const auth = randomBytes(16).toString("base64url");
  b.keys = { p256dh, auth };
  b.endpointBase = "https://push.example/send/" + randomBytes(8).toString("hex") + "/";
  const endpoint = b.endpointBase + "1";
  const c = new Tocsin({ url: process.env.TOCSIN_URL, token: process.env.TOCSIN_TOKEN, share: false, deviceId: "node-test" });
  const listed = async () => (await c._call("GET", "/api/push/subscriptions")).subscriptions;
  const before = (await listed()).length;
  const out = await c.enablePush();
  assert.equal(out.endpoint, endpoint);
  const mine = (await listed()).filter((s) => s.endpoint === endpoint);
  assert.equal(mine.length, 1, "stored once");
  assert.equal(mine[0].id, out.id);
  assert.equal(mine[0].deviceId, "node-test");
  assert.equal((await c.enablePush()).id, out.id, "enabling again keeps the subscription");
  await c.disablePush();
  assert.equal((await listed()).length, before);
  assert.equal(b.sub, null);
});
