// Unit tests of the service worker (sw.js) with node's test runner: its pure parts,
// and its push and click handlers on a fake worker scope (the click, which the
// DevTools protocol cannot raise in Chromium, is tested only here). Run: node --test
// web/sw.unit.test.mjs (also run by e2e/jsclient_test.go).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePush, notificationOptions, clickTarget, readRequest, apiBase, handlers } from "./sw.js";

const SCOPE = "https://app.example/notify/";

test("parsePush accepts the two messages and nothing else", () => {
  const n = { id: "n1", title: "t" };
  const cases = [
    ["notification", JSON.stringify({ type: "notification", notification: n, unreadCount: 3, readTicket: "rt" }),
      { type: "notification", notification: n, unreadCount: 3, readTicket: "rt" }],
    ["notification without count or ticket", JSON.stringify({ type: "notification", notification: n }),
      { type: "notification", notification: n, unreadCount: null, readTicket: "" }],
    ["dismiss", JSON.stringify({ type: "dismiss", ids: ["a", 7, "b"], unreadCount: 0 }),
      { type: "dismiss", ids: ["a", "b"], unreadCount: 0 }],
    ["negative count ignored", JSON.stringify({ type: "dismiss", ids: [], unreadCount: -1 }),
      { type: "dismiss", ids: [], unreadCount: null }],
    ["not JSON", "hello", null],
    ["JSON null", "null", null],
    ["unknown type", JSON.stringify({ type: "other" }), null],
    ["notification without id", JSON.stringify({ type: "notification", notification: { title: "x" } }), null],
    ["dismiss without ids", JSON.stringify({ type: "dismiss" }), null],
  ];
  for (const [name, text, want] of cases) assert.deepEqual(parsePush(text), want, name);
});

test("notificationOptions maps the notification to showNotification's options", () => {
  const cases = [
    ["urgent with an image", { id: "n1", title: "Down", body: "db", priority: 5, imageUrl: "https://i/x.png", actionUrl: "https://a/b", count: 1 }, "rt",
      { title: "Down", body: "db", tag: "n1", requireInteraction: true, renotify: false, image: "https://i/x.png",
        data: { id: "n1", actionUrl: "https://a/b", readTicket: "rt" } }],
    ["grouped update", { id: "n2", title: "5 comments", priority: 3, count: 5 }, "",
      { title: "5 comments", body: "", tag: "n2", requireInteraction: false, renotify: true, image: undefined,
        data: { id: "n2", actionUrl: "", readTicket: "" } }],
    ["no title: the type", { id: "n3", type: "comment" }, "",
      { title: "comment", body: "", tag: "n3", requireInteraction: false, renotify: false, image: undefined,
        data: { id: "n3", actionUrl: "", readTicket: "" } }],
  ];
  for (const [name, n, ticket, want] of cases) {
    const { title, options } = notificationOptions(n, ticket);
    assert.equal(title, want.title, name);
    for (const k of ["body", "tag", "requireInteraction", "renotify", "image"]) assert.deepEqual(options[k], want[k], name + ": " + k);
    assert.deepEqual(options.data, want.data, name + ": data");
  }
});

test("clickTarget opens only http and https action URLs, else the app", () => {
  const cases = [
    ["https://ci.example/run/7", "https://ci.example/run/7"],
    ["http://intranet/x?y=1", "http://intranet/x?y=1"],
    ["javascript:alert(1)", SCOPE],
    ["JavaScript:alert(1)", SCOPE],
    ["data:text/html,<b>x</b>", SCOPE],
    ["file:///etc/passwd", SCOPE],
    ["/relative/path", SCOPE],
    ["", SCOPE],
    [undefined, SCOPE],
    [42, SCOPE],
  ];
  for (const [url, want] of cases) assert.equal(clickTarget(url, SCOPE), want, String(url));
});

test("readRequest posts the ticket in the body to the app's api/push/read, only with a ticket", () => {
  assert.equal(readRequest(SCOPE, "n1", ""), null);
  assert.equal(readRequest(SCOPE, "", "rt"), null);
  const r = readRequest(SCOPE, "n1", "rt-9");
  assert.equal(r.url, "https://app.example/notify/api/push/read");
  assert.equal(r.init.method, "POST");
  assert.equal(r.init.credentials, "omit");
  assert.deepEqual(JSON.parse(r.init.body), { id: "n1", ticket: "rt-9" });
});

test("apiBase: the worker's ?api= when http(s), else its scope", () => {
  const cases = [
    ["https://app.example/sw.js", SCOPE],
    ["https://app.example/sw.js?api=https://tocsin.example/base", "https://tocsin.example/base/"],
    ["https://app.example/sw.js?api=https%3A%2F%2Ftocsin.example%2F", "https://tocsin.example/"],
    ["https://app.example/sw.js?api=javascript:alert(1)", SCOPE],
    ["https://app.example/sw.js?api=/relative", SCOPE],
    [undefined, SCOPE],
  ];
  for (const [url, want] of cases) assert.equal(apiBase(url, SCOPE), want, String(url));
});

// fakeWorker is a service worker scope that records what the handlers do.
function fakeWorker({ windows = [], badge = true } = {}) {
  const w = {
    log: [],
    shown: [],
    registration: {
      scope: SCOPE,
      async showNotification(title, options) { w.shown.push({ title, ...options, close() { w.log.push("close " + options.tag); } }); },
      async getNotifications() { return w.shown; },
    },
    posted: [],
    clients: {
      async matchAll() { return [...windows, { url: "https://app.example/notify/", postMessage: (m) => w.posted.push(m) }]; },
      async openWindow(url) { w.log.push("open " + url); },
    },
    async fetch(url, init) { w.log.push("fetch " + url + " " + init.body); return new Response("", { status: 204 }); },
    navigator: badge ? {
      async setAppBadge(n) { w.log.push("badge " + n); },
      async clearAppBadge() { w.log.push("badge cleared"); },
    } : {},
  };
  return w;
}
const pushEvent = (msg) => ({ data: { text: () => JSON.stringify(msg) } });

test("push: shows, sets the badge; dismiss closes the listed ones and clears the badge at 0", async () => {
  const w = fakeWorker();
  await handlers.onPush(w, pushEvent({ type: "notification", notification: { id: "a", title: "A" }, unreadCount: 2 }));
  await handlers.onPush(w, pushEvent({ type: "notification", notification: { id: "b", title: "B" }, unreadCount: 3 }));
  assert.deepEqual(w.shown.map((n) => n.tag), ["a", "b"]);
  await handlers.onPush(w, pushEvent({ type: "dismiss", ids: ["b", "zz"], unreadCount: 0 }));
  assert.deepEqual(w.log, ["badge 2", "badge 3", "close b", "badge cleared"]);
  assert.deepEqual(w.posted, [
    { type: "tocsin:push", push: "notification", ids: ["a"], unreadCount: 2 },
    { type: "tocsin:push", push: "notification", ids: ["b"], unreadCount: 3 },
    { type: "tocsin:push", push: "dismiss", ids: ["b", "zz"], unreadCount: 0 }]);
  await handlers.onPush(w, { data: null }); // an empty push: nothing
  assert.equal(w.log.length, 4);
});

test("push: no badge API is not an error", async () => {
  const w = fakeWorker({ badge: false });
  await handlers.onPush(w, pushEvent({ type: "notification", notification: { id: "a" }, unreadCount: 1 }));
  assert.equal(w.shown.length, 1);
});

test("click: closes, opens the action URL, spends the read ticket", async () => {
  const w = fakeWorker();
  const notification = { data: { id: "n1", actionUrl: "https://ci.example/run/7", readTicket: "rt-1" }, close() { w.log.push("close"); } };
  await handlers.onClick(w, { notification });
  assert.deepEqual(w.log, ["close", `fetch ${SCOPE}api/push/read {"id":"n1","ticket":"rt-1"}`, "open https://ci.example/run/7"]);
});

test("click: an unsafe action URL opens the app; without a ticket nothing is fetched", async () => {
  const w = fakeWorker();
  const notification = { data: { id: "n1", actionUrl: "javascript:alert(1)" }, close() { w.log.push("close"); } };
  await handlers.onClick(w, { notification });
  assert.deepEqual(w.log, ["close", "open " + SCOPE]);
});

test("click: a window already at the URL is focused, not opened again", async () => {
  const focused = [];
  const win = { url: "https://ci.example/run/7", focus: async () => { focused.push(win.url); } };
  const w = fakeWorker({ windows: [{ url: "https://other/", focus: async () => focused.push("other") }, win] });
  const notification = { data: { id: "n1", actionUrl: "https://ci.example/run/7" }, close() {} };
  await handlers.onClick(w, { notification });
  assert.deepEqual(focused, ["https://ci.example/run/7"]);
  assert.deepEqual(w.log, []);
});

test("click: a failed read call does not stop the window from opening", async () => {
  const w = fakeWorker();
  w.fetch = async () => { throw new TypeError("offline"); };
  const notification = { data: { id: "n1", actionUrl: "", readTicket: "rt" }, close() {} };
  await handlers.onClick(w, { notification });
  assert.deepEqual(w.log, ["open " + SCOPE]);
});
