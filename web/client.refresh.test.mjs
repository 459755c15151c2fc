// The JavaScript client's getToken against a real tocsin server, with node's test
// runner. Run by e2e/jsrefresh_test.go (TestJSClientTokenRefresh), which starts the
// server and a stand-in for the application's backend, and sets TOCSIN_URL,
// TOCSIN_USER, TOCSIN_API_KEY and TOCSIN_APP_URL:
//   GET  $TOCSIN_APP_URL/token?user=<id>&ttl=<s>  a JWT of user valid for ttl seconds (0: no exp)
//   POST $TOCSIN_APP_URL/rotate                   restarts the server on the same address
//                                                 and data dir with a new JWT secret
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { Tocsin } from "./client.js";

const require = createRequire(new URL("../e2e/clients/node/", import.meta.url));
const { EventSource } = require("eventsource");
const url = process.env.TOCSIN_URL, app = process.env.TOCSIN_APP_URL;

async function token(user, ttl) {
  const r = await fetch(app + "/token?user=" + encodeURIComponent(user) + "&ttl=" + ttl);
  assert.equal(r.status, 200);
  return r.text();
}

async function publish(user, title) {
  const r = await fetch(url + "/api/notifications", {
    method: "POST",
    headers: { Authorization: "Bearer " + process.env.TOCSIN_API_KEY, "Content-Type": "application/json" },
    body: JSON.stringify({ userId: user, title, type: "comment" }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  return (await r.json()).id;
}

// until resolves when pred(t) holds after a change, or fails after ms.
function until(t, pred, ms = 15000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error("timed out; state: " + JSON.stringify({ n: t.notifications.length, unread: t.unreadCount, status: t.status }))); }, ms);
    const check = () => { if (pred(t)) { clearTimeout(timer); off(); resolve(); } };
    const off = t.on("change", check);
    check();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("a 401 on reconnect (the server's secret rotated): getToken once, resume, every event exactly once", async (tc) => {
  const user = process.env.TOCSIN_USER + "-rotate";
  let calls = 0;
  // The user's token is valid for an hour: the client has no reason to refresh it
  // until the server refuses it.
  const t = new Tocsin({ url, token: await token(user, 3600), EventSource, share: false,
    minBackoff: 50, maxBackoff: 300, getToken: async () => { calls++; return token(user, 3600); } });
  const seen = [];
  t.on("notification", (n) => seen.push(n.title));
  const errors = [];
  // The restart is an outage: reported only if it outlasts the client's grace (2 s).
  t.on("error", (e) => { if (e.code !== "network") errors.push(e.message); });
  tc.after(() => t.close()); // also after a failure: an open stream keeps node alive
  t.connect();
  await until(t, (s) => s.status === "open");
  const want = [];
  for (const title of ["a", "b"]) want.push(title), await publish(user, title);
  await until(t, () => seen.length === 2);

  // The server restarts with another JWT secret: the stream ends, and the next stream
  // ticket answers 401 to the old token. Events go on being published meanwhile.
  const r = await fetch(app + "/rotate", { method: "POST" });
  assert.equal(r.status, 204);
  for (const title of ["c", "d", "e"]) want.push(title), await publish(user, title);
  await until(t, () => seen.length >= want.length);
  await sleep(300); // a duplicate would have arrived by now
  assert.deepEqual(seen, want, "every event exactly once, in order");
  assert.equal(calls, 1, "one fresh token after the 401");
  assert.deepEqual(errors, []);
  assert.equal(t.status, "open");
  t.close();
});

// The server half of issue 12 item 6 ends an open stream when its token expires and
// refuses user JWTs without exp by default. This test publishes across two expiries.
// Without that server half the stream simply outlives its token: the delivery is
// still checked, and the test then reports itself skipped (not passed).
test("streams end when their token expires: the client refreshes and misses nothing", async (tc) => {
  const user = process.env.TOCSIN_USER + "-expiry";
  const ttl = 3;
  let calls = 0;
  const t = new Tocsin({ url, EventSource, share: false, minBackoff: 50, maxBackoff: 300,
    getToken: async () => { calls++; return token(user, ttl); } });
  const seen = [];
  t.on("notification", (n) => seen.push(n.title));
  let opens = 0;
  t.on("status", (s) => { if (s === "open") opens++; });
  tc.after(() => t.close());
  t.connect();
  await until(t, (s) => s.status === "open");
  assert.equal(calls, 1, "no token: getToken before connecting");

  const want = [];
  const end = Date.now() + 2.5 * ttl * 1000;
  for (let i = 0; Date.now() < end; i++) {
    want.push("n" + i);
    await publish(user, "n" + i);
    await sleep(150);
  }
  await until(t, () => seen.length >= want.length);
  await sleep(300);
  assert.deepEqual(seen, want, "every event exactly once, in order");
  t.close();

  const noExp = await fetch(url + "/api/notifications/stream-ticket", {
    method: "POST", headers: { Authorization: "Bearer " + await token(user, 0) },
  });
  if (noExp.status === 201) {
    // needs the server half of #6 (streams end at token expiry)
    tc.skip("the server does not enforce token expiry yet (server half of issue 12 item 6): " +
      `${opens} stream(s), ${calls} getToken call(s)`);
    return;
  }
  assert.ok(opens >= 3, `the stream ended at each expiry and was reopened: ${opens} opens`);
  assert.ok(calls >= 3, `a fresh token for each: ${calls} getToken calls`);
});
