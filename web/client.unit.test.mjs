// Unit tests of the JavaScript client with node's test runner and no server: a fake
// fetch (the stream-ticket and REST endpoints) and a fake EventSource that the tests
// drive with synthetic events. Run: node --test web/client.unit.test.mjs (also run
// by e2e/jsclient_test.go).
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Tocsin, jwtClaims, readCovers, isNotificationsRead } from "./client.js";

// jwt makes an unsigned-looking token with these claims (the client never verifies).
function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return b64({ alg: "HS256", typ: "JWT" }) + "." + b64(claims) + ".c2ln";
}
const now = () => Math.floor(Date.now() / 1000);

// FakeES records every stream the client opens.
let streams = [];
class FakeES {
  constructor(url) {
    this.url = new URL(url, "http://x");
    this.listeners = new Map();
    this.closed = false;
    streams.push(this);
  }
  addEventListener(name, fn) { this.listeners.set(name, fn); }
  close() { this.closed = true; }
  // emit delivers one event as the browser would (data is JSON-encoded here).
  emit(name, data, id = "") {
    const fn = name === "message" ? this.onmessage : this.listeners.get(name);
    if (fn) fn({ data: JSON.stringify(data), lastEventId: id });
  }
  fail() { this.onerror && this.onerror(); }
}

// server is the fake server's behaviour: whom tokens name, what answers 401.
let server, calls;
const realFetch = globalThis.fetch;
beforeEach(() => {
  streams = [];
  calls = [];
  server = { refuse: new Set(), users: new Map(), cookieUser: "alice", seq: 0 };
  globalThis.fetch = async (url, init = {}) => {
    const auth = (init.headers && init.headers.Authorization) || "";
    const tok = auth.replace(/^Bearer /, "");
    calls.push({ url: String(url), method: init.method, token: tok, credentials: init.credentials });
    const json = (status, body) => new Response(body === undefined ? "" : JSON.stringify(body), { status });
    if (tok && server.refuse.has(tok)) return json(401, { error: { code: "unauthorized", message: "token expired" } });
    const user = tok ? jwtClaims(tok)?.sub : server.cookieUser;
    if (String(url).endsWith("/api/notifications/stream-ticket")) {
      return json(201, { ticket: "tkt" + ++server.seq, expiresAt: new Date().toISOString(), userId: user });
    }
    if (String(url).endsWith("/api/notifications/read-all")) return json(200, { updated: 1, unreadCount: 0 });
    return json(404, { error: { code: "not_found", message: "no" } });
  };
});
afterEach(() => { globalThis.fetch = realFetch; });

function client(opts = {}) {
  return new Tocsin({ url: "http://tocsin.test", EventSource: FakeES, share: false, minBackoff: 10, maxBackoff: 20, ...opts });
}

// stream waits for the n-th stream (1-based) the client opens.
async function stream(n = 1) {
  for (let i = 0; i < 200; i++) {
    if (streams.length >= n) return streams[n - 1];
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("the client opened " + streams.length + " streams, want " + n);
}

const note = (id, extra = {}) => ({ id, userId: "alice", type: "comment", title: id, readAt: null, archivedAt: null, ...extra });
// Notification ids as the server makes them: 26 characters of Crockford base32.
const ID = (n) => "01JD" + String(n).padStart(22, "0");

test("jwtClaims reads a JWT's payload and nothing else", () => {
  assert.deepEqual(jwtClaims(jwt({ sub: "u_9f2", exp: 5 })), { sub: "u_9f2", exp: 5 });
  assert.equal(jwtClaims(jwt({ sub: "é" })).sub, "é");
  for (const bad of ["", "not-a-token", "a.b.c", "a.bnVsbA.c", "a.WzFd.c", null, undefined]) assert.equal(jwtClaims(bad), null, String(bad));
});

test("readCovers: the ids shape and the before shape", () => {
  const byIds = { ids: [ID(1), ID(3)], readAt: "2026-01-02T03:04:05Z" };
  assert.ok(isNotificationsRead(byIds));
  assert.ok(readCovers(byIds, note(ID(1))));
  assert.ok(!readCovers(byIds, note(ID(2))));
  const before = { before: ID(5), readAt: "2026-01-02T03:04:05Z" };
  assert.ok(readCovers(before, note(ID(5))), "at before");
  assert.ok(readCovers(before, note(ID(4))), "older");
  assert.ok(!readCovers(before, note(ID(6))), "newer");
  assert.ok(!readCovers(before, note(ID(4), { archivedAt: "2026-01-01T00:00:00Z" })), "archived ones stay as they were");
  // Ids order as the server's bytes do (Crockford: digits before letters).
  assert.ok(readCovers({ before: "01JD9ZZZZZZZZZZZZZZZZZZZZZ", readAt: "x" }, note("01JD0AAAAAAAAAAAAAAAAAAAAA")));
  assert.ok(!readCovers({ before: "01JD0AAAAAAAAAAAAAAAAAAAAA", readAt: "x" }, note("01JDA0000000000000000000000")));
  for (const bad of [null, {}, { ids: [1], readAt: "x" }, { before: "", readAt: "x" }, { before: ID(1) }, { ids: "x", readAt: "x" }]) {
    assert.ok(!isNotificationsRead(bad), JSON.stringify(bad));
    assert.ok(!readCovers(bad, note(ID(1))));
  }
});

// A client with an init of the given unread ids (newest first).
async function withInbox(ids, opts) {
  const t = client({ token: jwt({ sub: "alice", exp: now() + 3600 }), ...opts });
  t.connect();
  const es = await stream();
  es.emit("init", { notifications: ids.map((id) => note(id)), unreadCount: ids.length, userId: "alice" }, "ep-1");
  return { t, es };
}

test("notifications:read with ids removes exactly those; the unread event sets the count", async () => {
  const { t, es } = await withInbox([ID(4), ID(3), ID(2), ID(1)]);
  const events = [];
  t.on("event", (e) => events.push(e.name));
  es.emit("notifications:read", { ids: [ID(1), ID(3)], readAt: "2026-01-02T03:04:05Z" }, "ep-2");
  es.emit("unread", { unreadCount: 2 });
  assert.deepEqual(t.notifications.map((n) => n.id), [ID(4), ID(2)]);
  assert.equal(t.unreadCount, 2);
  assert.equal(t.lastEventId, "ep-2", "the event carries an id: it moves the resume point");
  assert.deepEqual(events, ["notifications:read", "unread"]);
  t.close();
});

test("notifications:read with before removes every unread item at or before it", async () => {
  const { t, es } = await withInbox([ID(9), ID(8), ID(5), ID(2)]);
  es.emit("notifications:read", { before: ID(8), readAt: "2026-01-02T03:04:05Z" }, "ep-2");
  es.emit("unread", { unreadCount: 1 });
  assert.deepEqual(t.notifications.map((n) => n.id), [ID(9)]);
  assert.equal(t.unreadCount, 1);
  // A replay of the same event (same id) is dropped; a malformed one changes nothing.
  es.emit("notification", note(ID(10)), "ep-3");
  es.emit("notifications:read", { before: ID(10), readAt: "x" }, "ep-2");
  es.emit("notifications:read", { before: 42, readAt: "x" }, "ep-4");
  assert.deepEqual(t.notifications.map((n) => n.id), [ID(10), ID(9)]);
  t.close();
});

test("notifications:read inside a batch", async () => {
  const { t, es } = await withInbox([ID(3), ID(2), ID(1)]);
  es.emit("notifications:batch", [
    { id: "ep-2", event: "notification", data: note(ID(4)) },
    { id: "ep-3", event: "notifications:read", data: { before: ID(3), readAt: "x" } },
    { id: "ep-4", event: "notification", data: note(ID(5)) },
  ], "ep-4");
  es.emit("unread", { unreadCount: 1 + 1 });
  assert.deepEqual(t.notifications.map((n) => n.id), [ID(5), ID(4)]);
  assert.equal(t.lastEventId, "ep-4");
  t.close();
});

test("the user comes from the token's sub before anything opens, and is checked against the ticket and init", async () => {
  const t = client({ token: jwt({ sub: "alice", exp: now() + 3600 }) });
  const users = [];
  t.on("user", (u) => users.push(u));
  t.connect();
  const es = await stream();
  assert.equal(t.userId, "alice");
  assert.match(es.url.search, /ticket=tkt1/);
  assert.ok(!es.url.search.includes("token="), "no token in the URL");
  // An init that names another user is never applied.
  es.emit("init", { notifications: [note(ID(1), { userId: "bob", title: "bob's secret" })], unreadCount: 1, userId: "bob" }, "ep-1");
  assert.deepEqual(t.notifications, []);
  assert.equal(t.unreadCount, 0);
  assert.equal(t.lastEventId, "");
  assert.ok(es.closed, "that stream is closed");
  assert.deepEqual(users, ["alice", "bob"]);
  t.close();
});

test("a live notification of another user is never applied, and the client starts over", async () => {
  const { t, es } = await withInbox([ID(1)]);
  const seen = [];
  t.on("notification", (n) => seen.push(n.title));
  es.emit("notification", note(ID(2), { userId: "bob", title: "bob's secret" }), "ep-2");
  assert.deepEqual(seen, []);
  assert.deepEqual(t.notifications, [], "alice's state is dropped too: the stream is not to be trusted");
  const again = await stream(2);
  assert.ok(!again.url.searchParams.has("lastEventId"), "a fresh start, with init");
  t.close();
});

test("setToken with another user's token drops the inbox and the resume point, and starts over", async () => {
  const { t, es } = await withInbox([ID(2), ID(1)]);
  const changes = [];
  t.on("change", (s) => changes.push(s.notifications.length));
  t.setToken(jwt({ sub: "bob", exp: now() + 3600 }));
  assert.ok(es.closed);
  assert.deepEqual(t.notifications, []);
  assert.equal(t.lastEventId, "");
  assert.deepEqual(changes, [0], "the app hears that alice's inbox is gone");
  const bob = await stream(2);
  assert.equal(t.userId, "bob");
  assert.ok(!bob.url.searchParams.has("lastEventId"), "bob's stream does not resume from alice's id");
  assert.equal(calls.at(-1).token, t.token);
  // The same user's new token changes nothing but the token.
  bob.emit("init", { notifications: [note(ID(3), { userId: "bob" })], unreadCount: 1, userId: "bob" }, "ep-9");
  t.setToken(jwt({ sub: "bob", exp: now() + 7200 }));
  assert.equal(t.notifications.length, 1);
  assert.ok(!bob.closed);
  t.close();
});

test("with a cookie the server names the user (ticket response), and the ticket is used for the stream", async () => {
  const t = client();
  t.connect();
  const es = await stream();
  assert.equal(t.userId, "alice");
  assert.equal(calls.length, 1, "one ticket: learning the user and opening the stream");
  assert.equal(calls[0].credentials, "include");
  assert.equal(es.url.searchParams.get("ticket"), "tkt1");
  // Another sign-in changes the cookie; the next connection is someone else's.
  es.emit("init", { notifications: [note(ID(1))], unreadCount: 1, userId: "alice" }, "ep-1");
  server.cookieUser = "bob";
  es.fail();
  const next = await stream(2);
  assert.equal(t.userId, "bob");
  assert.deepEqual(t.notifications, []);
  assert.ok(!next.url.searchParams.has("lastEventId"));
  t.close();
});

test("getToken: called before connecting without a token, and when the token expires within 30 s", async () => {
  let n = 0;
  const t = client({ getToken: async () => jwt({ sub: "alice", exp: now() + 10, n: ++n }) });
  t.connect();
  const es = await stream();
  assert.equal(n, 1);
  assert.equal(calls[0].token, t.token);
  es.emit("init", { notifications: [], unreadCount: 0, userId: "alice" }, "ep-1");
  // The server ends the stream (its token expired): one fresh token, a resume.
  es.fail();
  const next = await stream(2);
  assert.equal(n, 2);
  assert.equal(next.url.searchParams.get("lastEventId"), "ep-1");
  t.close();

  const long = jwt({ sub: "alice", exp: now() + 3600 });
  let m = 0;
  const u = client({ token: long, getToken: async () => { m++; return long; } });
  u.connect();
  await stream(3);
  assert.equal(m, 0, "a token far from its exp is used as it is");
  u.close();
});

test("getToken: a 401 gets one fresh token and a resume; a second 401 is final; without getToken the first is", async () => {
  const old = jwt({ sub: "alice", exp: now() + 3600, v: 1 });
  const fresh = jwt({ sub: "alice", exp: now() + 3600, v: 2 });
  let n = 0;
  const t = client({ token: old, getToken: async () => { n++; return fresh; } });
  t.connect();
  const es = await stream();
  es.emit("init", { notifications: [], unreadCount: 0, userId: "alice" }, "ep-1");
  server.refuse.add(old); // e.g. the secret was rotated
  es.fail();
  const next = await stream(2);
  assert.equal(n, 1);
  assert.equal(next.url.searchParams.get("lastEventId"), "ep-1");
  assert.equal(t.token, fresh);

  // REST calls too.
  server.refuse.add(fresh);
  const newest = jwt({ sub: "alice", exp: now() + 3600, v: 3 });
  t.getToken = async () => { n++; return newest; };
  assert.deepEqual(await t.markAllRead(), { updated: 1, unreadCount: 0 });
  assert.equal(n, 2);
  t.close();

  // getToken's token is refused as well: final, no storm.
  const bad = jwt({ sub: "alice", exp: now() + 3600, v: 4 });
  server.refuse.add(bad);
  let k = 0;
  const u = client({ token: bad, getToken: async () => { k++; return bad; } });
  const err = new Promise((resolve) => u.on("error", resolve));
  u.connect();
  assert.match((await err).message, /refused \(401\)/);
  assert.equal(k, 1);
  assert.equal(u.status, "closed");

  const v = client({ token: bad });
  const err2 = new Promise((resolve) => v.on("error", resolve));
  v.connect();
  assert.match((await err2).message, /refused/);
  assert.equal(v.status, "closed");
});

test("getToken failing is reported once (code auth) and retried", async () => {
  let n = 0;
  const t = client({ getToken: async () => { if (++n < 3) throw new Error("offline"); return jwt({ sub: "alice", exp: now() + 3600 }); } });
  const errors = [];
  t.on("error", (e) => errors.push(e.code + " " + e.message));
  t.connect();
  await stream();
  assert.equal(n, 3);
  assert.deepEqual(errors, ["auth tocsin: getToken gave no token: offline"], "once per outage, not once per retry");
  t.close();
});
