// The JavaScript client's inbox calls against a real tocsin server, with node's test
// runner: archive, unarchive, mark unread, snooze, bulk update, search and
// preferences, each checked in the server's answer AND in the live store (which
// only the stream's events change). Run by e2e/jsclient_test.go
// (TestJSClientInboxCalls), which starts the server and sets TOCSIN_URL,
// TOCSIN_TOKEN, TOCSIN_USER and TOCSIN_API_KEY.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { Tocsin } from "./client.js";

const require = createRequire(new URL("../e2e/clients/node/", import.meta.url));
const { EventSource } = require("eventsource");
const url = process.env.TOCSIN_URL, user = process.env.TOCSIN_USER;

async function publish(title, body = "") {
  const r = await fetch(url + "/api/notifications", {
    method: "POST",
    headers: { Authorization: "Bearer " + process.env.TOCSIN_API_KEY, "Content-Type": "application/json" },
    body: JSON.stringify({ userId: user, title, body, type: "comment" }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  return (await r.json()).id;
}

// until resolves when pred(t) holds after a change, or fails after 10 s.
function until(t, pred, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error("timed out waiting for " + what + "; store: " + JSON.stringify(t.notifications.map((n) => n.title)) + " unread " + t.unreadCount)); }, 10000);
    const check = () => { if (pred(t)) { clearTimeout(timer); off(); resolve(); } };
    const off = t.on("change", check);
    check();
  });
}

const titles = (t) => t.notifications.map((n) => n.title);

// The server halves of snooze, bulk update and search are merged from other branches
// (i17-snooze, i17-search): what the server's OpenAPI description lists decides
// whether those cases run, and a skip says which half is missing.
const api = await (await fetch(url + "/api/openapi.json")).json();
const has = {
  snooze: JSON.stringify(api).includes('"snoozedUntil"'),
  bulk: !!api.paths["/api/notifications"]?.patch,
  search: (api.paths["/api/notifications"]?.get?.parameters || []).some((p) => p.name === "q"),
};
const needs = (what, branch) => (has[what] ? {} : { skip: "the server has no " + what + " yet (branch " + branch + ")" });

async function connected(tc) {
  const t = new Tocsin({ url, token: process.env.TOCSIN_TOKEN, EventSource, share: false, minBackoff: 50, maxBackoff: 200 });
  tc.after(() => t.close()); // also after a failure: an open stream keeps node alive
  const names = [];
  t.on("event", (e) => names.push(e.name));
  t.connect();
  await until(t, (s) => s.status === "open" && s.lastEventId !== "" || s._haveState, "the init");
  return { t, names };
}

test("archive, unarchive, mark unread: the answer and the store agree", async (tc) => {
  const { t } = await connected(tc);
  const a = await publish("arch-a"), b = await publish("arch-b"), c = await publish("arch-c");
  await until(t, () => titles(t).slice(0, 3).join() === "arch-c,arch-b,arch-a", "three new");
  const archived = await t.archive(b);
  assert.equal(archived.id, b);
  assert.ok(archived.archivedAt, "archivedAt set");
  await until(t, () => !titles(t).includes("arch-b"), "b to leave the store");
  const page = await t.list({ status: "archived" });
  assert.ok(page.notifications.some((n) => n.id === b), "status=archived lists it");
  assert.ok(!(await t.list()).notifications.some((n) => n.id === b), "status=all does not");
  await t.unarchive(b);
  await until(t, () => titles(t).slice(0, 3).join() === "arch-c,arch-b,arch-a", "b back at its place");
  await t.markRead(a);
  await until(t, () => !titles(t).includes("arch-a"), "a read");
  const un = await t.markUnread(a);
  assert.equal(un.readAt, null);
  await until(t, () => titles(t).slice(0, 3).join() === "arch-c,arch-b,arch-a", "a back, last");
  await t.remove(c);
  await until(t, () => !titles(t).includes("arch-c"), "c deleted");
  await assert.rejects(t.archive(c), (e) => e.code === "http" && e.status === 404 && e.serverCode !== "");
});

test("snooze and unsnooze: the item leaves unread and the count, then comes back", needs("snooze", "i17-snooze"), async (tc) => {
  const { t } = await connected(tc);
  const id = await publish("snooze-me");
  await until(t, () => titles(t)[0] === "snooze-me", "it");
  const before = t.unreadCount;
  const until1h = new Date(Date.now() + 3600e3);
  const n = await t.snooze(id, until1h);
  assert.equal(Date.parse(n.snoozedUntil), until1h.getTime(), "the server keeps the time (ms)");
  await until(t, () => !titles(t).includes("snooze-me") && t.unreadCount === before - 1, "it to leave, the count to drop");
  assert.ok(!(await t.list({ status: "unread" })).notifications.some((m) => m.id === id));
  await assert.rejects(t.snooze(id, new Date(Date.now() - 60e3)), (e) => e.code === "http" && e.status === 400);
  const back = await t.unsnooze(id);
  assert.equal(back.snoozedUntil, null);
  await until(t, () => titles(t)[0] === "snooze-me" && t.unreadCount === before, "it back");
});

test("updateMany: one notifications:updated event; the store and the count follow", needs("bulk", "i17-snooze"), async (tc) => {
  const { t, names } = await connected(tc);
  const ids = [];
  for (const x of ["bulk-1", "bulk-2", "bulk-3"]) ids.push(await publish(x));
  await until(t, () => titles(t).includes("bulk-1") && titles(t).includes("bulk-3"), "three");
  const before = names.length;
  const r = await t.updateMany(ids.slice(0, 2), { read: true });
  assert.deepEqual(r.notifications.map((n) => n.id).sort(), ids.slice(0, 2).sort());
  assert.ok(r.notifications.every((n) => n.readAt));
  await until(t, () => !titles(t).includes("bulk-1") && !titles(t).includes("bulk-2") && t.unreadCount === r.unreadCount, "the two to leave");
  assert.ok(titles(t).includes("bulk-3"));
  assert.equal(names.slice(before).filter((n) => n === "notifications:updated").length, 1, "one event: " + names.slice(before));
  assert.equal(names.slice(before).filter((n) => n === "notification:updated").length, 0);
  await t.updateMany(ids, { archived: true });
  await until(t, () => !titles(t).includes("bulk-3"), "archived");
});

test("list({q}): full-text search finds by a word of the body", needs("search", "i17-search"), async (tc) => {
  const { t } = await connected(tc);
  const word = "zyxquux" + Date.now().toString(36);
  const id = await publish("Payment failed", "card declined " + word);
  await publish("Something else", "nothing to see");
  const r = await t.list({ q: word });
  assert.deepEqual(r.notifications.map((n) => n.id), [id]);
  assert.ok(!r.nextCursor, "one page: no next cursor (" + r.nextCursor + ")");
});

test("preferences: get, patch, put", async (tc) => {
  const { t } = await connected(tc);
  const p = await t.preferences();
  assert.equal(typeof p, "object");
  const patched = await t.patchPreferences({ channels: { email: false } });
  assert.equal(patched.channels.email, false);
  assert.equal((await t.preferences()).channels.email, false);
  const put = await t.setPreferences({ channels: { push: false, email: true, webhook: true } });
  assert.equal(put.channels.push, false);
  assert.equal(put.channels.email, true);
  await assert.rejects(t.patchPreferences({ quietHours: { start: "25:00", end: "07:00" } }), (e) => e.code === "http" && e.status === 400);
});
