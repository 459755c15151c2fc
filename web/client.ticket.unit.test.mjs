// Unit tests of the JavaScript client's stream tickets given by the page (ticket,
// setTicket, getTicket) and of the names tabs share (per server), with node's test
// runner and no server: a fake fetch (the stream-ticket and REST endpoints, a cookie
// that may be missing), a fake EventSource, a fake BroadcastChannel and Web Locks.
// Run: node --test web/client.ticket.unit.test.mjs (also run by e2e/jsclient_test.go).
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Tocsin } from "./client.js";

let streams, calls, server;
class FakeES {
  constructor(url) {
    this.url = new URL(url);
    this.listeners = new Map();
    streams.push(this);
  }
  addEventListener(name, fn) { this.listeners.set(name, fn); }
  close() { this.closed = true; }
  emit(name, data, id = "") { this.listeners.get(name)({ data: JSON.stringify(data), lastEventId: id }); }
  fail() { this.onerror(); }
}

const realFetch = globalThis.fetch;
beforeEach(() => {
  streams = [];
  calls = [];
  // cookieUser: whose tocsin_token cookie the browser holds ("" for none: 401).
  server = { cookieUser: "", seq: 0 };
  globalThis.fetch = async (url, init = {}) => {
    const path = new URL(url).pathname;
    const auth = (init.headers && init.headers.Authorization) || "";
    calls.push({ path, method: init.method || "GET", auth, credentials: init.credentials });
    const json = (status, body) => new Response(JSON.stringify(body), { status });
    if (!auth && !server.cookieUser) return json(401, { error: { code: "unauthorized", message: "no credentials" } });
    if (path === "/api/notifications/stream-ticket") return json(201, { ticket: "minted" + ++server.seq, userId: server.cookieUser });
    return json(200, { notifications: [], nextCursor: null, unreadCount: 0 });
  };
});
afterEach(() => { globalThis.fetch = realFetch; });

const client = (opts = {}) => new Tocsin({ url: "https://tocsin.test", EventSource: FakeES, share: false, minBackoff: 5, maxBackoff: 10, ...opts });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function stream(n) {
  for (let i = 0; i < 400 && streams.length < n; i++) await sleep(5);
  assert.ok(streams.length >= n, "the client opened " + streams.length + " streams, want " + n);
  return streams[n - 1];
}
const note = (id, userId = "alice") => ({ id, userId, type: "t", title: id, readAt: null, archivedAt: null });
const init = (es, userId, ids, lastId) => es.emit("init", { notifications: ids.map((id) => note(id, userId)), unreadCount: ids.length, userId }, lastId);

test("ticket: the first stream spends it with no request before; the user comes from init; REST calls use the cookie", async () => {
  const t = client({ ticket: "given1" });
  assert.equal(t.ticketOnly, true);
  const users = [];
  t.on("user", (u) => users.push(u));
  t.connect();
  const es = await stream(1);
  assert.equal(es.url.searchParams.get("ticket"), "given1");
  assert.ok(!es.url.searchParams.has("lastEventId"));
  assert.deepEqual(calls, [], "nothing is minted: no cookie or token is needed to start");
  init(es, "alice", ["n2", "n1"], "ep-2");
  assert.equal(t.userId, "alice");
  assert.deepEqual(users, ["alice"]);
  assert.deepEqual(t.notifications.map((n) => n.id), ["n2", "n1"]);
  // REST: the cookie (credentials include, no Authorization); without it, auth.
  await assert.rejects(t.list(), (e) => e.code === "auth" && e.status === 401);
  assert.deepEqual(calls.map((c) => [c.path, c.auth, c.credentials]), [["/api/notifications", "", "include"]]);
  t.close();
});

test("ticket with a token: REST calls and later tickets use the token, and it is not ticketOnly", async () => {
  const tok = "e30." + Buffer.from(JSON.stringify({ sub: "alice", exp: Date.now() / 1000 + 3600 })).toString("base64url") + ".c2ln";
  const t = client({ ticket: "given1", token: tok });
  assert.equal(t.ticketOnly, false);
  t.connect();
  const es = await stream(1);
  assert.equal(es.url.searchParams.get("ticket"), "given1", "the given ticket first");
  init(es, "alice", ["n1"], "ep-1");
  es.fail();
  const next = await stream(2);
  assert.equal(next.url.searchParams.get("ticket"), "minted1");
  assert.equal(next.url.searchParams.get("lastEventId"), "ep-1");
  assert.equal(calls.at(-1).auth, "Bearer " + tok);
  t.close();
});

test("ticket only, the stream drops: with the cookie a minted ticket resumes; without, auth final and the inbox kept; setTicket resumes", async () => {
  server.cookieUser = "alice";
  const t = client({ ticket: "given1" });
  t.connect();
  const es = await stream(1);
  init(es, "alice", ["n1"], "ep-1");
  es.fail();
  const second = await stream(2);
  assert.equal(second.url.searchParams.get("ticket"), "minted1", "the cookie's ticket");
  assert.equal(second.url.searchParams.get("lastEventId"), "ep-1", "resumed");
  assert.equal(calls.at(-1).credentials, "include");
  second.emit("notification", note("n2"), "ep-2");

  server.cookieUser = ""; // no cookie (a page on another site)
  const errors = [];
  t.on("error", (e) => errors.push(e));
  second.fail();
  for (let i = 0; i < 200 && t.status !== "closed"; i++) await sleep(5);
  assert.equal(t.status, "closed");
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "auth");
  assert.ok(errors[0].final);
  assert.deepEqual(t.notifications.map((n) => n.id), ["n2", "n1"], "what the stream gave stays on screen");
  assert.equal(t.lastEventId, "ep-2");

  t.setTicket("given2");
  const third = await stream(3);
  assert.equal(third.url.searchParams.get("ticket"), "given2");
  assert.equal(third.url.searchParams.get("lastEventId"), "ep-2", "a fresh ticket resumes: nothing missed");
  third.emit("notification", note("n3"), "ep-3");
  assert.deepEqual(t.notifications.map((n) => n.id), ["n3", "n2", "n1"]);
  assert.equal(t.status, "open");
  t.close();
});

test("getTicket: every later stream connection asks it (a ticket, or the server's response), and resumes", async () => {
  let n = 0;
  const t = client({ ticket: "given1", getTicket: async () => (++n % 2 ? "got" + n : { ticket: "got" + n, expiresAt: "x", userId: "alice" }) });
  assert.equal(t.ticketOnly, true);
  t.connect();
  const es = await stream(1);
  assert.equal(es.url.searchParams.get("ticket"), "given1");
  assert.equal(n, 0, "not asked while the given ticket is unspent");
  init(es, "alice", ["n1"], "ep-1");
  es.fail();
  const second = await stream(2);
  assert.equal(second.url.searchParams.get("ticket"), "got1");
  assert.equal(second.url.searchParams.get("lastEventId"), "ep-1");
  second.fail();
  const third = await stream(3);
  assert.equal(third.url.searchParams.get("ticket"), "got2");
  assert.equal(third.url.searchParams.get("lastEventId"), "ep-1");
  assert.equal(t.userId, "alice");
  assert.deepEqual(calls, [], "the cookie is never asked for a ticket");
  t.close();

  // Without a ticket: getTicket from the first connection; its userId names the user.
  const u = client({ getTicket: async () => ({ ticket: "x", userId: "bob" }) });
  u.connect();
  await stream(4);
  assert.equal(u.userId, "bob");
  u.close();
});

test("getTicket failing is reported once (code auth) and retried", async () => {
  let n = 0;
  const t = client({ getTicket: async () => { if (++n < 3) throw new Error("backend down"); return "ok"; } });
  const errors = [];
  t.on("error", (e) => errors.push(e.code + " " + e.message));
  t.connect();
  const es = await stream(1);
  assert.equal(es.url.searchParams.get("ticket"), "ok");
  assert.deepEqual(errors, ["auth tocsin: getTicket gave no ticket: backend down"]);
  const v = client({ getTicket: async () => 42 });
  const err = new Promise((resolve) => v.on("error", resolve));
  v.connect();
  assert.equal((await err).code, "auth");
  assert.notEqual(v.status, "closed", "retried, not final");
  t.close();
  v.close();
});

test("setTicket cuts a reconnect wait short; an open stream is left as it is", async () => {
  server.cookieUser = "alice";
  const t = client({ ticket: "given1", minBackoff: 60000, maxBackoff: 60000 });
  t.connect();
  const es = await stream(1);
  init(es, "alice", ["n1"], "ep-1");
  t.setTicket("early");
  await sleep(20);
  assert.equal(streams.length, 1, "the open stream stays");
  assert.ok(!es.closed);
  es.fail(); // the reconnect waits 30-60 s (a given ticket does not bypass the backoff)...
  await sleep(20);
  assert.equal(streams.length, 1, "waiting");
  t.setTicket("given3"); // ...until a new ticket comes: a page handing one out means it now
  const second = await stream(2);
  assert.equal(second.url.searchParams.get("ticket"), "given3", "the newest ticket replaces the unspent one");
  assert.equal(second.url.searchParams.get("lastEventId"), "ep-1");
  t.close();
  t.setTicket("after-close");
  await sleep(20);
  assert.equal(streams.length, 2, "a closed client stays closed");
});

test("ticket only: an init of another user starts that user's inbox in place", async () => {
  const t = client({ ticket: "given1" });
  t.connect();
  const es = await stream(1);
  init(es, "alice", ["n1"], "ep-1");
  t.close();
  t.setTicket("bobs");
  t.connect();
  const next = await stream(2);
  assert.equal(next.url.searchParams.get("lastEventId"), "ep-1");
  const users = [];
  t.on("user", (u) => users.push(u));
  init(next, "bob", ["b1"], "ep-9");
  assert.deepEqual(users, ["bob"]);
  assert.deepEqual(t.notifications.map((n) => [n.id, n.userId]), [["b1", "bob"]], "none of alice's items remain");
  assert.equal(t.lastEventId, "ep-9");
  assert.ok(!next.closed, "the stream is bob's: kept");
  t.close();
});

// Tab sharing: what a client names its channel and its lock after.
test("tabs share per key, server and user: two servers with the same user id never share", async () => {
  const names = { channels: [], locks: [] };
  const realBC = globalThis.BroadcastChannel;
  const realNav = Object.getOwnPropertyDescriptor(globalThis, "navigator");
  globalThis.BroadcastChannel = class {
    constructor(name) { names.channels.push(name); }
    postMessage() {}
    close() {}
  };
  Object.defineProperty(globalThis, "navigator", { configurable: true, value: {
    locks: { request(name, opts, fn) { names.locks.push(name); fn(); return Promise.resolve(); } },
  } });
  globalThis.location = new URL("https://app.example/page/x");
  try {
    const tok = "e30." + Buffer.from(JSON.stringify({ sub: "u1", exp: Date.now() / 1000 + 3600 })).toString("base64url") + ".c2ln";
    const open = async (url, key) => {
      const t = new Tocsin({ url, token: tok, key, EventSource: FakeES });
      assert.equal(t.share, true);
      const n = names.locks.length;
      t.connect();
      for (let i = 0; i < 100 && names.locks.length === n; i++) await sleep(2);
      t.close();
      return [names.channels.at(-1), names.locks.at(-1)];
    };
    const a = await open("https://one.example");
    const a2 = await open("https://one.example/");
    const b = await open("https://two.example");
    const c = await open("https://one.example/notify");
    const page = await open("");
    const pageAbs = await open("https://app.example");
    const other = await open("https://one.example", "other");
    assert.deepEqual(a, a2, "the same server, written two ways");
    for (const x of [b, c, page, other]) assert.notDeepEqual(a, x);
    assert.deepEqual(page, pageAbs, '"" is the page\'s origin');
    assert.match(a[0], /^tocsin:default:https%3A%2F%2Fone\.example%2F:u1$/);
    assert.match(a[1], /^tocsin-leader:default:https%3A%2F%2Fone\.example%2F:u1$/);
    // A ticket-only client does not know its user before the stream: it never shares.
    const t = new Tocsin({ url: "https://one.example", ticket: "tk", EventSource: FakeES });
    const before = names.channels.length;
    t.connect();
    await stream(streams.length + 1);
    assert.equal(names.channels.length, before);
    t.close();
  } finally {
    globalThis.BroadcastChannel = realBC;
    if (realNav) Object.defineProperty(globalThis, "navigator", realNav);
    else delete globalThis.navigator;
    delete globalThis.location;
  }
});
