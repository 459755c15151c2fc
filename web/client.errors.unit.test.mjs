// Unit tests of how the JavaScript client reports failures, with node's test runner
// and no server: a fake fetch that fails as a browser's would (a TypeError for an
// unreachable server, and, for a page of another origin, for a CORS refusal), a fake
// page location and a fake EventSource. Run: node --test web/client.errors.unit.test.mjs
// (also run by e2e/jsclient_test.go). The real browser's CORS refusal is
// e2e/jscors_test.go's.
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Tocsin, TocsinError } from "./client.js";

// net is the fake network: what the server does, and every request made.
let net, streams;
const realFetch = globalThis.fetch;
beforeEach(() => {
  streams = [];
  net = { mode: "down", calls: [], ticket: 201 };
  globalThis.fetch = async (url, init = {}) => {
    const u = new URL(url);
    net.calls.push({ path: u.pathname, mode: init.mode || "cors" });
    if (net.mode === "down") throw new TypeError("fetch failed");
    // "cors": the server answers, but the browser hides every answer without CORS
    // headers from this page; an opaque no-cors request succeeds.
    if (net.mode === "cors" && init.mode !== "no-cors") throw new TypeError("Failed to fetch");
    if (init.mode === "no-cors") return new Response(null, { status: 200 });
    if (u.pathname === "/healthz") return new Response("{}", { status: 200 });
    if (u.pathname === "/api/notifications/stream-ticket") {
      const st = net.ticket;
      return st === 201 ? new Response(JSON.stringify({ ticket: "t", userId: "alice" }), { status: 201 })
        : new Response(JSON.stringify({ error: { code: "x", message: "refused " + st } }), { status: st });
    }
    return new Response(JSON.stringify({ notifications: [], nextCursor: "", unreadCount: 0 }), { status: 200 });
  };
});
afterEach(() => {
  globalThis.fetch = realFetch;
  delete globalThis.location;
});

class FakeES {
  constructor(url) { this.url = url; streams.push(this); }
  addEventListener() {}
  close() { this.closed = true; }
}

const URL_ = "http://tocsin.test:8080";
const client = (opts = {}) => new Tocsin({ url: URL_, token: "tok", EventSource: FakeES, share: false, minBackoff: 5, maxBackoff: 10, ...opts });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, what) {
  for (let i = 0; i < 400; i++) {
    if (pred()) return;
    await sleep(5);
  }
  throw new Error("timed out waiting for " + what);
}
const ticketCalls = () => net.calls.filter((c) => c.path === "/api/notifications/stream-ticket").length;

// record follows t's error, online and status events, in order.
function record(t) {
  const log = [];
  t.on("error", (e) => log.push("error:" + e.code));
  t.on("online", () => log.push("online"));
  return log;
}

test("unreachable: one network error naming the URL, retried with status connecting", async () => {
  const t = client();
  const errors = [];
  t.on("error", (e) => errors.push(e));
  t.connect();
  await until(() => ticketCalls() >= 5, "five attempts");
  assert.equal(errors.length, 1, "once per outage, not once per retry");
  const e = errors[0];
  assert.ok(e instanceof TocsinError);
  assert.equal(e.code, "network");
  assert.match(e.message, /cannot reach http:\/\/tocsin\.test:8080\/api\/notifications\/stream-ticket/);
  assert.match(e.message, /server is running/);
  assert.equal(t.status, "connecting");
  assert.equal(t.error, e);
  t.close();
  assert.equal(t.error, null);
});

// firstError connects a client from a page of origin ("" for none: Node) on the
// fake network in mode, and returns it with the first error it reports.
async function firstError(origin, mode, href = origin + "/page") {
  if (origin) globalThis.location = { origin, href };
  net.mode = mode;
  const t = client();
  const err = new Promise((resolve) => t.on("error", resolve));
  t.connect();
  return { t, e: await err };
}

test("a page on another origin that the server refuses: cors, naming the origin and --cors-origins", async () => {
  const { t, e } = await firstError("http://app.test:3000", "cors");
  assert.equal(e.code, "cors");
  assert.equal(e.origin, "http://app.test:3000");
  assert.match(e.message, /--cors-origins http:\/\/app\.test:3000/);
  assert.match(e.message, /http:\/\/tocsin\.test:8080/);
  assert.equal(t.status, "connecting");
  // The probes: /healthz as CORS (refused), then no-cors (answered).
  assert.deepEqual(net.calls.filter((c) => c.path === "/healthz").slice(0, 2).map((c) => c.mode), ["cors", "no-cors"]);
  t.close();
});

test("a page without an origin (a file) that the server refuses: cors, saying to serve it over http(s)", async () => {
  const { t, e } = await firstError("null", "cors", "file:///home/me/page.html");
  assert.equal(e.code, "cors");
  assert.match(e.message, /no origin \(opened from a file\?\): serve the page over http\(s\)/);
  t.close();
});

test("a page on another origin and a server that is down: network, not cors", async () => {
  const { t, e } = await firstError("http://app.test:3000", "down");
  assert.equal(e.code, "network");
  t.close();
});

test("a same-origin page is never probed for CORS", async () => {
  const { t, e } = await firstError("http://tocsin.test:8080", "cors"); // as if: it cannot be CORS on the same origin
  assert.equal(e.code, "network");
  assert.equal(net.calls.filter((c) => c.path === "/healthz").length, 0);
  t.close();
});

test("refused credentials: auth, final, closed", async () => {
  net.mode = "up";
  net.ticket = 401;
  const t = client();
  const log = record(t);
  const err = new Promise((resolve) => t.on("error", resolve));
  t.connect();
  const e = await err;
  assert.equal(e.code, "auth");
  assert.equal(e.status, 401);
  assert.equal(e.final, true);
  assert.equal(t.status, "closed");
  await sleep(50);
  assert.equal(ticketCalls(), 1, "no retry");
  assert.deepEqual(log, ["error:auth"]);
});

test("a failing server (5xx): server, retried; 429: http, retried", async () => {
  net.mode = "up";
  for (const [status, code] of [[503, "server"], [429, "http"]]) {
    net.ticket = status;
    net.calls = [];
    const t = client();
    const errors = [];
    t.on("error", (e) => errors.push(e));
    t.connect();
    await until(() => ticketCalls() >= 3, "three attempts");
    assert.deepEqual(errors.map((e) => [e.code, e.status]), [[code, status]]);
    assert.match(errors[0].message, new RegExp("refused " + status));
    assert.equal(t.status, "connecting");
    t.close();
  }
});

test("once per outage: error, online when the stream opens, error again on the next outage", async () => {
  const t = client();
  const log = record(t);
  const statuses = [];
  t.on("status", (s) => statuses.push(s));
  t.connect();
  await until(() => ticketCalls() >= 3, "retries");
  net.mode = "up";
  await until(() => streams.length === 1, "a stream");
  assert.deepEqual(log, ["error:network"], "no online before the stream is open");
  streams[0].onopen();
  assert.deepEqual(log, ["error:network", "online"]);
  assert.equal(t.error, null);
  assert.equal(t.status, "open");
  // The next outage: the stream drops and the server is gone. Failures within 2 s
  // of the drop (a restart) are not reported; after that, once.
  net.mode = "down";
  const before = ticketCalls();
  const dropped = Date.now();
  streams[0].onerror();
  await until(() => ticketCalls() >= before + 3, "retries");
  if (Date.now() - dropped < 1900) assert.deepEqual(log, ["error:network", "online"], "not within 2 s of a drop");
  await until(() => log.length === 3, "the second outage's error");
  assert.ok(Date.now() - dropped >= 2000, "reported after the grace");
  assert.deepEqual(log, ["error:network", "online", "error:network"]);
  assert.equal(t.status, "connecting");
  // A stream that drops and reopens at once is no outage: nothing reported.
  net.mode = "up";
  await until(() => streams.length === 2, "a second stream");
  streams[1].onopen();
  streams[1].onerror();
  await until(() => streams.length === 3, "a third stream");
  streams[2].onopen();
  assert.deepEqual(log, ["error:network", "online", "error:network", "online"]);
  assert.deepEqual(statuses.filter((s, i) => s !== statuses[i - 1]), ["connecting", "open", "connecting", "open", "connecting", "open"]);
  t.close();
});

test("a stream that keeps failing before it opens (ticket given): server, once", async () => {
  net.mode = "up";
  const t = client();
  const log = record(t);
  t.connect();
  await until(() => streams.length === 1, "a stream");
  streams[0].onerror(); // once: maybe a restart in between
  await until(() => streams.length === 2, "a second stream");
  assert.deepEqual(log, []);
  streams[1].onerror();
  await until(() => streams.length === 3, "a third stream");
  streams[2].onerror();
  await until(() => streams.length === 4, "a fourth stream");
  assert.deepEqual(log, ["error:server"]);
  assert.match(t.error.message, /stream at http:\/\/tocsin\.test:8080\/api\/notifications\/stream did not open/);
  streams[3].onopen();
  assert.deepEqual(log, ["error:server", "online"]);
  t.close();
});

test("REST calls: a network failure rejects and is reported once; HTTP errors only reject", async () => {
  const t = client();
  const log = record(t);
  await assert.rejects(t.list(), (e) => e.code === "network" && /cannot reach http:\/\/tocsin\.test:8080\/api\/notifications/.test(e.message));
  await assert.rejects(t.markRead("n1"), (e) => e.code === "network");
  assert.deepEqual(log, ["error:network"]);
  net.mode = "up";
  await t.list();
  assert.deepEqual(log, ["error:network", "online"], "an answer ends the outage (no stream to wait for)");
  globalThis.fetch = async () => new Response(JSON.stringify({ error: { code: "not_found", message: "no" } }), { status: 404 });
  await assert.rejects(t.markRead("n1"), (e) => e.code === "http" && e.status === 404 && e.serverCode === "not_found");
  assert.deepEqual(log, ["error:network", "online"]);
});
