// Tests of the JavaScript client against a real tocsin server, with node's test
// runner. Run by e2e/jsclient_test.go, which starts the server and sets
// TOCSIN_URL, TOCSIN_TOKEN (a user JWT), TOCSIN_USER and TOCSIN_API_KEY. Node has no
// EventSource: the npm eventsource package stands in (e2e/clients/node).
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
  assert.equal(r.status, 201);
  return (await r.json()).id;
}

// until resolves when pred(state) holds after a change, or fails after 10 s.
function until(t, pred) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error("timed out; state: " + JSON.stringify({ n: t.notifications.length, unread: t.unreadCount }))); }, 10000);
    const check = () => { if (pred(t)) { clearTimeout(timer); off(); resolve(); } };
    const off = t.on("change", check);
    check();
  });
}

test("inbox store: init, live notifications, mark read, resume after a drop", async (tc) => {
  const t = new Tocsin({ url, token: process.env.TOCSIN_TOKEN, EventSource, share: false, minBackoff: 50, maxBackoff: 200 });
  tc.after(() => t.close()); // also after a failure: an open stream keeps node alive
  const seen = [];
  t.on("notification", (n) => seen.push(n.id));
  t.connect();
  await until(t, (s) => s.status === "open" || s.lastEventId !== "");

  const a = await publish("first");
  await until(t, (s) => s.unreadCount === 1 && s.notifications[0]?.id === a);

  await t.markRead(a);
  await until(t, (s) => s.unreadCount === 0 && s.notifications.length === 0);

  // The connection drops; two notifications are published meanwhile; the client
  // resumes with the last id and gets each exactly once.
  t._es.onerror();
  const b = await publish("during the drop 1");
  const c = await publish("during the drop 2");
  await until(t, (s) => s.unreadCount === 2 && s.notifications.length === 2);
  assert.deepEqual(seen, [a, b, c]);
  assert.deepEqual(t.notifications.map((n) => n.id), [c, b]);

  await t.markAllRead();
  await until(t, (s) => s.unreadCount === 0);
  t.close();
});

test("refused credentials stop the client", async () => {
  const t = new Tocsin({ url, token: "not-a-token", EventSource, share: false });
  const err = new Promise((resolve) => t.on("error", resolve));
  t.connect();
  const e = await err;
  assert.match(e.message, /refused/);
  assert.equal(t.status, "closed");
});
