// A read-all as the JavaScript client sees it on a real tocsin server, with node's
// test runner. Run by e2e/jsclient_test.go (TestJSClientReadAllOneEvent), which sets
// TOCSIN_URL, TOCSIN_USER, TOCSIN_TOKEN and TOCSIN_API_KEY.
//
// needs the server half of #13 (notifications:read): until the server sends one
// notifications:read event per read-all (instead of one notification:updated per
// item), these tests FAIL on the event-count assertions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { Tocsin } from "./client.js";

const require = createRequire(new URL("../e2e/clients/node/", import.meta.url));
const { EventSource } = require("eventsource");
const url = process.env.TOCSIN_URL, user = process.env.TOCSIN_USER;

async function publish(title) {
  const r = await fetch(url + "/api/notifications", {
    method: "POST",
    headers: { Authorization: "Bearer " + process.env.TOCSIN_API_KEY, "Content-Type": "application/json" },
    body: JSON.stringify({ userId: user, title, type: "comment" }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  return (await r.json()).id;
}

function until(t, pred, ms = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error("timed out; state: " + JSON.stringify({ n: t.notifications.length, unread: t.unreadCount }))); }, ms);
    const check = () => { if (pred(t)) { clearTimeout(timer); off(); resolve(); } };
    const off = t.on("change", check);
    check();
  });
}

test("read-all of 3 and then of 150: one notifications:read event each, the inbox empties", async () => {
  const t = new Tocsin({ url, token: process.env.TOCSIN_TOKEN, EventSource, share: false, minBackoff: 50, maxBackoff: 300 });
  const events = [];
  t.on("event", (e) => events.push(e));
  t.connect();
  try {
    await readAll(t, events);
  } finally {
    t.close(); // else the open stream keeps node alive after a failure
  }
});

async function readAll(t, events) {
  await until(t, (s) => s.status === "open" && s.lastEventId !== "");
  for (const n of [3, 150]) {
    const ids = [];
    for (let i = 0; i < n; i++) ids.push(await publish("item " + i));
    await until(t, (s) => s.unreadCount === n && s.notifications.length === n);
    events.length = 0;

    const res = await t.markAllRead();
    assert.equal(res.updated, n);
    await until(t, (s) => s.unreadCount === 0 && s.notifications.length === 0);

    // Every item is read, as the server has it.
    const all = [];
    for (let cursor = ""; ;) {
      const page = await t.list({ status: "all", limit: 100, cursor });
      assert.equal(page.unreadCount, 0);
      all.push(...page.notifications);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    for (const id of ids) {
      const item = all.find((x) => x.id === id);
      assert.ok(item && item.readAt, `${id} is read`);
    }

    // One event for the read-all, not one per item (needs the server half of #13).
    const names = events.map((e) => e.name);
    assert.deepEqual(names.filter((x) => x === "notification:updated"), [], "no per-item events");
    const read = events.filter((e) => e.name === "notifications:read");
    assert.equal(read.length, 1, "one notifications:read: " + names.join(","));
    assert.ok(read[0].id, "it carries an id");
    assert.equal(typeof read[0].data.readAt, "string");
    if (n <= 100) assert.deepEqual([...read[0].data.ids].sort(), [...ids].sort(), "at most 100: the ids");
    else assert.ok(typeof read[0].data.before === "string" && ids.every((id) => id <= read[0].data.before), "more than 100: before covers them all");
    assert.equal(names.at(-1), "unread", "the unread count follows");
  }
}
