// Unit tests of the JavaScript client's REST calls and inbox store rules with node's
// test runner and no server: a fake fetch records each request (method, path, query,
// body) and a fake EventSource delivers synthetic events. Run:
// node --test web/client.rest.unit.test.mjs (also run by e2e/jsclient_test.go).
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Tocsin, TocsinError, isSnoozed, inInbox } from "./client.js";

let calls, answer, streams;
const realFetch = globalThis.fetch;
beforeEach(() => {
  calls = [];
  streams = [];
  answer = () => ({ status: 200, body: { ok: true } });
  globalThis.fetch = async (url, init = {}) => {
    const u = new URL(url);
    const call = { method: init.method, path: u.pathname, query: Object.fromEntries(u.searchParams), search: u.search,
      body: init.body === undefined ? undefined : JSON.parse(init.body), headers: init.headers || {} };
    calls.push(call);
    if (u.pathname === "/api/notifications/stream-ticket") {
      return new Response(JSON.stringify({ ticket: "t" + calls.length, userId: "alice" }), { status: 201 });
    }
    const a = answer(call);
    return new Response(a.body === undefined ? "" : JSON.stringify(a.body), { status: a.status });
  };
});
afterEach(() => { globalThis.fetch = realFetch; });

class FakeES {
  constructor(url) { this.url = url; this.listeners = new Map(); streams.push(this); }
  addEventListener(name, fn) { this.listeners.set(name, fn); }
  close() { this.closed = true; }
  emit(name, data, id = "") { this.listeners.get(name)({ data: JSON.stringify(data), lastEventId: id }); }
}

const client = (opts = {}) => new Tocsin({ url: "http://tocsin.test", token: "tok", EventSource: FakeES, share: false, minBackoff: 5, maxBackoff: 10, ...opts });
const last = () => calls[calls.length - 1];

test("list: every filter goes in the query; none leaves no '?'", async () => {
  const t = client();
  await t.list();
  assert.equal(last().method, "GET");
  assert.equal(last().path, "/api/notifications");
  assert.equal(last().search, "");
  await t.list({ status: "archived", type: "comment", tag: "billing", q: "payment failed", limit: 20, cursor: "c/1+2", empty: "", nothing: null });
  assert.deepEqual(last().query, { status: "archived", type: "comment", tag: "billing", q: "payment failed", limit: "20", cursor: "c/1+2" });
  assert.equal(last().headers.Authorization, "Bearer tok");
});

test("update and its helpers: PATCH /api/notifications/{id} with exactly the fields", async () => {
  const t = client();
  answer = (c) => ({ status: 200, body: { id: "n1", ...c.body } });
  const until = new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 6));
  const cases = [
    [() => t.update("n/1", { read: true, seen: true }), { read: true, seen: true }],
    [() => t.markRead("n/1"), { read: true }],
    [() => t.markUnread("n/1"), { read: false }],
    [() => t.markSeen("n/1"), { seen: true }],
    [() => t.archive("n/1"), { archived: true }],
    [() => t.unarchive("n/1"), { archived: false }],
    [() => t.snooze("n/1", until), { snoozedUntil: "2030-01-02T03:04:05.006Z" }],
    [() => t.snooze("n/1", "2030-01-02T03:04:05+02:00"), { snoozedUntil: "2030-01-02T01:04:05.000Z" }],
    [() => t.snooze("n/1", until.getTime()), { snoozedUntil: "2030-01-02T03:04:05.006Z" }],
    [() => t.unsnooze("n/1"), { snoozedUntil: null }],
  ];
  for (const [call, body] of cases) {
    const got = await call();
    assert.equal(last().method, "PATCH");
    assert.equal(last().path, "/api/notifications/n%2F1");
    assert.deepEqual(last().body, body);
    assert.equal(last().headers["Content-Type"], "application/json");
    assert.deepEqual(got, { id: "n1", ...body }, "the server's notification comes back");
  }
  const n = calls.length;
  for (const bad of ["tomorrow", new Date(NaN), undefined, null, {}]) {
    await assert.rejects(t.snooze("n1", bad), RangeError, String(bad));
  }
  assert.equal(calls.length, n, "an unreadable time is never sent");
});

test("updateMany: one PATCH /api/notifications per 100 ids; the answers merged", async () => {
  const t = client();
  answer = (c) => ({ status: 200, body: { notifications: c.body.ids.map((id) => ({ id })), unreadCount: 1000 - c.body.ids.length } });
  const r = await t.updateMany(["a", "b"], { archived: true });
  assert.deepEqual(last(), { ...last(), method: "PATCH", path: "/api/notifications", body: { archived: true, ids: ["a", "b"] } });
  assert.deepEqual(r, { notifications: [{ id: "a" }, { id: "b" }], unreadCount: 998 });
  calls = [];
  const ids = Array.from({ length: 250 }, (_, i) => "id" + i);
  const big = await t.updateMany(ids, { read: true });
  assert.deepEqual(calls.map((c) => c.body.ids.length), [100, 100, 50]);
  assert.deepEqual(calls.flatMap((c) => c.body.ids), ids, "every id once, in order");
  assert.ok(calls.every((c) => c.body.read === true));
  assert.equal(big.notifications.length, 250);
  assert.equal(big.unreadCount, 950, "the last answer's count");
  calls = [];
  for (const bad of [[], "a", [1], [""], null]) await assert.rejects(t.updateMany(bad, { read: true }), TypeError);
  assert.equal(calls.length, 0);
});

test("preferences: GET, PUT, PATCH /api/preferences", async () => {
  const t = client();
  const p = { channels: { push: false }, quietHours: { start: "22:00", end: "07:00", timezone: "Europe/Berlin" } };
  answer = (c) => ({ status: 200, body: c.body || p });
  assert.deepEqual(await t.preferences(), p);
  assert.deepEqual([last().method, last().path, last().body], ["GET", "/api/preferences", undefined]);
  await t.setPreferences(p);
  assert.deepEqual([last().method, last().path, last().body], ["PUT", "/api/preferences", p]);
  await t.patchPreferences({ mutedUntil: null });
  assert.deepEqual([last().method, last().path, last().body], ["PATCH", "/api/preferences", { mutedUntil: null }]);
});

test("REST errors: code by status, the server's code and message kept", async () => {
  const t = client();
  const cases = [
    [404, { error: { code: "not_found", message: "no such notification" } }, "http", /no such notification/],
    [400, { error: { code: "invalid", message: "snoozedUntil: not a time" } }, "http", /snoozedUntil/],
    [401, { error: { code: "unauthorized", message: "token expired" } }, "auth", /credentials refused \(401\): token expired/],
    [403, { error: { code: "forbidden", message: "no" } }, "auth", /refused \(403\)/],
    [503, { error: { code: "unavailable", message: "store down" } }, "server", /failed \(503\): store down/],
    [502, undefined, "server", /502/],
  ];
  for (const [status, body, code, msg] of cases) {
    answer = () => ({ status, body });
    await assert.rejects(t.markRead("n1"), (e) => {
      assert.ok(e instanceof TocsinError);
      assert.equal(e.code, code, String(status));
      assert.equal(e.status, status);
      assert.equal(e.serverCode, body ? body.error.code : "");
      assert.match(e.message, msg);
      assert.equal(e.url, "http://tocsin.test/api/notifications/n1");
      return true;
    });
  }
});

test("isSnoozed / inInbox", () => {
  const now = Date.parse("2030-01-01T00:00:00Z");
  const n = (x) => ({ id: "a", readAt: null, archivedAt: null, snoozedUntil: null, ...x });
  assert.ok(inInbox(n({})));
  assert.ok(!inInbox(n({ readAt: "2029-01-01T00:00:00Z" })));
  assert.ok(!inInbox(n({ archivedAt: "2029-01-01T00:00:00Z" })));
  assert.ok(isSnoozed(n({ snoozedUntil: "2030-01-01T00:00:01Z" }), now));
  assert.ok(!inInbox(n({ snoozedUntil: "2030-01-01T00:00:01Z" })));
  assert.ok(!isSnoozed(n({ snoozedUntil: "2029-12-31T23:59:59Z" }), now), "by the clock, a past snooze is over");
  // The store goes by the server's word, not the clock: it clears snoozedUntil when
  // the snooze ends; until then the item stays out (this page's clock may be ahead).
  assert.ok(!inInbox(n({ snoozedUntil: "2000-01-01T00:00:00Z" })));
  assert.ok(!isSnoozed(n({ snoozedUntil: "garbage" }), now));
});

// A client whose store holds the unread ids given (newest first) after init.
async function withInbox(ids) {
  const t = client();
  t.connect();
  for (let i = 0; i < 200 && streams.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  const es = streams[0];
  es.emit("init", { notifications: ids.map((id) => note(id)), unreadCount: ids.length, userId: "alice" }, "ep-1");
  return { t, es };
}
const note = (id, x = {}) => ({ id, userId: "alice", title: id, readAt: null, archivedAt: null, snoozedUntil: null, ...x });
const ids = (t) => t.notifications.map((n) => n.id);
const future = () => new Date(Date.now() + 3600e3).toISOString();

test("store: a snoozed item leaves; unsnoozed (or marked unread) it comes back at its place", async () => {
  const { t, es } = await withInbox(["05", "04", "03", "02"]);
  let changes = 0;
  t.on("change", () => changes++);
  es.emit("notification:updated", note("03", { snoozedUntil: future() }), "ep-2");
  assert.deepEqual(ids(t), ["05", "04", "02"]);
  es.emit("notification:updated", note("03"), "ep-3"); // the server brings it back
  assert.deepEqual(ids(t), ["05", "04", "03", "02"], "newest first, at its place, not on top");
  es.emit("notification:updated", note("04", { readAt: "2030-01-01T00:00:00Z" }), "ep-4");
  assert.deepEqual(ids(t), ["05", "03", "02"]);
  es.emit("notification:updated", note("04"), "ep-5"); // marked unread
  assert.deepEqual(ids(t), ["05", "04", "03", "02"]);
  es.emit("notification:updated", note("01", { snoozedUntil: new Date(Date.now() - 60e3).toISOString() }), "ep-6");
  assert.deepEqual(ids(t), ["05", "04", "03", "02"], "snoozed until the server says otherwise, whatever this clock says");
  es.emit("notification:updated", note("01"), "ep-6b"); // the server's wake: snoozedUntil null
  assert.deepEqual(ids(t), ["05", "04", "03", "02", "01"]);
  es.emit("notification:updated", note("02", { archivedAt: "2030-01-01T00:00:00Z" }), "ep-7");
  assert.deepEqual(ids(t), ["05", "04", "03", "01"]);
  es.emit("notification:updated", note("04", { title: "edited" }), "ep-8");
  assert.equal(t.notifications[1].title, "edited", "an unread item is replaced in place");
  es.emit("notification:updated", note("03", { snoozedUntil: future() }), "ep-8"); // a duplicate id: dropped
  assert.deepEqual(ids(t), ["05", "04", "03", "01"]);
  assert.equal(changes, 8);
  t.close();
});

test("store: notifications:updated applies each item; de-duplicated by event id", async () => {
  const { t, es } = await withInbox(["05", "04", "03", "02"]);
  const events = [];
  t.on("event", (e) => events.push(e.name));
  es.emit("notifications:updated", { notifications: [note("05", { readAt: "2030-01-01T00:00:00Z" }), note("03", { archivedAt: "2030-01-01T00:00:00Z" }), note("01")] }, "ep-2");
  es.emit("unread", { unreadCount: 3 });
  assert.deepEqual(ids(t), ["04", "02", "01"]);
  assert.equal(t.unreadCount, 3);
  assert.equal(t.lastEventId, "ep-2");
  es.emit("notifications:updated", { notifications: [note("04", { readAt: "2030-01-01T00:00:00Z" })] }, "ep-2");
  assert.deepEqual(ids(t), ["04", "02", "01"], "a repeat of ep-2 is dropped");
  es.emit("notifications:updated", { notifications: [note("05"), note("04", { snoozedUntil: future() })] }, "ep-3");
  assert.deepEqual(ids(t), ["05", "02", "01"]);
  assert.deepEqual(events, ["notifications:updated", "unread", "notifications:updated"]);
  // Within a batch too.
  es.emit("notifications:batch", [{ id: "ep-4", event: "notifications:updated", data: { notifications: [note("02", { readAt: "x" })] } }]);
  assert.deepEqual(ids(t), ["05", "01"]);
  t.close();
});

test("store: another user's item in notifications:updated is never applied", async () => {
  const { t, es } = await withInbox(["05"]);
  const users = [];
  t.on("user", (u) => users.push(u));
  es.emit("notifications:updated", { notifications: [note("06", { userId: "mallory" })] }, "ep-2");
  assert.ok(!ids(t).includes("06"));
  t.close();
});

test("store: init and new notifications skip snoozed items; new ones go newest first", async () => {
  const { t, es } = await withInbox([]);
  es.emit("init", { notifications: [note("03"), note("02", { snoozedUntil: future() }), note("01")], unreadCount: 2, userId: "alice" }, "ep-2");
  assert.deepEqual(ids(t), ["03", "01"]);
  const seen = [];
  t.on("notification", (n) => seen.push(n.id));
  es.emit("notification", note("04"), "ep-3");
  es.emit("notification", note("00"), "ep-4"); // a scheduled one, created before the others
  assert.deepEqual(ids(t), ["04", "03", "01", "00"]);
  assert.deepEqual(seen, ["04", "00"]);
  t.close();
});

test("one notification's calls: an id is one path segment; . and .. are refused, never sent", async () => {
  const t = client();
  await t.get("a/../b?c#d");
  assert.equal(last().path, "/api/notifications/a%2F..%2Fb%3Fc%23d");
  assert.equal(last().search, "");
  await t.get("%2e%2E"); // encoded again: a plain segment, not a dot one
  assert.equal(last().path, "/api/notifications/%252e%252E");
  const before = calls.length;
  for (const id of [".", ".."]) {
    for (const call of [() => t.get(id), () => t.markRead(id), () => t.remove(id), () => t.snooze(id, Date.now() + 60000)]) {
      await assert.rejects(call(), (e) => e instanceof TypeError && /notification id/.test(e.message), id);
    }
  }
  assert.equal(calls.length, before, "no request for a dot segment");
});
