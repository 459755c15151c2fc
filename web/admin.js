// tocsin's admin console (/admin): plain DOM, no framework, no request outside this
// server (the page's CSP allows only 'self'). The API key lives in sessionStorage, so
// it survives a reload of this tab and is gone when the tab closes or on "Sign out";
// it is never written to localStorage or a cookie.

const $ = (id) => document.getElementById(id);
const KEY = "tocsin.admin.key";
// The page is at {base}/admin; the API is at {base}/api.
const base = location.pathname.replace(/\/admin\/?$/, "");
const VIEWS = ["send", "live", "connections", "deliveries", "scheduled", "keys", "tokens", "webhooks"];
let apiKey = sessionStorage.getItem(KEY) || "";

// ---- the API -------------------------------------------------------------------

class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: "Bearer " + apiKey } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(base + path, init);
  } catch {
    throw new APIError(0, "network", "Could not reach the server. Check that it is running, then try again.");
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: a proxy's page */ }
  if (!r.ok) {
    const e = data && data.error;
    const err = new APIError(r.status, e ? e.code : "http", e ? e.message : `The server answered ${r.status}.`);
    // A key revoked or removed while signed in: back to the sign-in form, saying why.
    if (r.status === 401 && path !== "/api/stats?signin") signOut("Your API key is no longer accepted. Sign in with another one.");
    throw err;
  }
  return data;
}

const enc = encodeURIComponent;

// seg is a typed id as one path segment. encodeURIComponent leaves "." and "..", and
// the browser resolves such a segment (even percent-encoded) before sending, so
// /api/users/../connections would reach /api/connections, another route: those two
// ids are refused here instead (everything else, "/", "?", "#" and "%" included, is
// encoded and reaches its own user).
function seg(id, what) {
  if (id === "." || id === "..") {
    throw new APIError(0, "invalid", `The ${what} "${id}" cannot be looked up from a browser (it resolves as a path). Use the API with a client that sends the path as it is.`);
  }
  return enc(id);
}

// ---- small DOM helpers ---------------------------------------------------------

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function announce(msg) {
  const a = $("announce");
  a.textContent = "";
  setTimeout(() => { a.textContent = msg; }, 30);
}

function when(iso) {
  if (!iso) return el("span", { class: "hint" }, "—");
  const d = new Date(iso);
  return el("time", { datetime: iso, title: iso }, d.toLocaleString());
}

function pill(text, kind) { return el("span", { class: "pill " + (kind || "") }, text); }

// A table view: state line, error line and a tbody inside a .table-wrap, all in one
// card. load() shows "Loading…", then the rows, an empty message or the error.
function tableView(prefix) {
  const rows = $(prefix + "-rows"), wrap = rows.closest(".table-wrap");
  const state = $(prefix + "-state"), error = $(prefix + "-error");
  return {
    // aria-busy marks rows about to be replaced (for assistive technology and tests).
    loading() { error.textContent = ""; state.textContent = "Loading…"; rows.setAttribute("aria-busy", "true"); },
    fail(err) { state.textContent = ""; error.textContent = err.message; wrap.hidden = true; rows.removeAttribute("aria-busy"); },
    show(items, render, empty) {
      rows.removeAttribute("aria-busy");
      error.textContent = "";
      rows.replaceChildren(...items.map(render));
      wrap.hidden = items.length === 0;
      state.textContent = items.length === 0 ? empty : "";
    },
    append(items, render) { rows.append(...items.map(render)); },
  };
}

// A destructive button asks once more in place: the first press turns it into
// "Confirm …" for a few seconds, the second acts. No modal dialog to trap focus in.
function confirmButton(label, action) {
  const b = el("button", { type: "button", class: "small danger" }, label);
  let armed = null;
  b.addEventListener("click", async () => {
    if (!armed) {
      b.textContent = "Confirm " + label.toLowerCase();
      b.className = "small confirm";
      armed = setTimeout(() => { armed = null; b.textContent = label; b.className = "small danger"; }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    b.disabled = true;
    try { await action(); } finally { b.disabled = false; b.textContent = label; b.className = "small danger"; }
  });
  return b;
}

// A confirm button that sends DELETE path, then announces done and reloads the list;
// a refusal (a 409 saying why, say) shows in the list's error line.
function deleteButton(label, path, done, errorId, reload) {
  return confirmButton(label, async () => {
    try {
      await api("DELETE", path);
      announce(done);
      reload();
    } catch (x) { $(errorId).textContent = x.message; }
  });
}

// A secret shown once, with a copy button; the box stays until the next one.
function showSecret(box, what, value, note) {
  const input = el("input", { readonly: true, value, "aria-label": what, spellcheck: "false" });
  const copy = el("button", { type: "button" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      input.select(); // no clipboard API (plain http): select it for Ctrl+C
      document.execCommand("copy");
    }
    copy.textContent = "Copied";
    announce(what + " copied");
  });
  box.replaceChildren(el("div", { class: "secret", role: "status" },
    el("p", {}, el("strong", {}, what + ": "), note),
    el("div", { class: "row" }, el("div", { class: "grow" }, input), copy)));
  input.focus();
  input.select();
}

// ---- sign-in -------------------------------------------------------------------

async function signIn(key) {
  apiKey = key;
  await api("GET", "/api/stats?signin");
  sessionStorage.setItem(KEY, key);
}

function signOut(message) {
  apiKey = "";
  sessionStorage.removeItem(KEY);
  stopLive();
  $("app").hidden = true;
  $("signout").hidden = true;
  $("who").hidden = true;
  $("signin-view").hidden = false;
  $("signin-error").textContent = message || "";
  for (const s of ["keys-secret", "tok-secret", "wh-secret"]) $(s).replaceChildren();
  $("apikey").value = "";
  $("apikey").focus();
}

function enter() {
  $("signin-view").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  $("who").hidden = false;
  $("who").textContent = "Signed in";
  route();
  // Name the key in use, so an operator with several knows which one this tab holds.
  api("GET", "/api/keys").then((out) => {
    const k = (out.keys || []).find((k) => k.current);
    if (k) $("who").textContent = "Signed in with " + (k.source === "config" ? k.id + " (config)" : k.name);
  }, () => { /* an older server without /api/keys: keep "signed in" */ });
}

$("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  const key = $("apikey").value.trim();
  const err = $("signin-error");
  if (!key) { err.textContent = "Type an API key."; return; }
  err.textContent = "";
  try {
    await signIn(key);
    enter();
  } catch (x) {
    apiKey = "";
    err.textContent = x.status === 401 ? "This API key is not valid on this server." :
      x.status === 403 ? "That is a user's token, not an API key." : x.message;
    $("apikey").setAttribute("aria-invalid", "true");
    $("apikey").focus();
  }
});
$("apikey").addEventListener("input", () => $("apikey").removeAttribute("aria-invalid"));
$("signout").addEventListener("click", () => signOut("Signed out."));

// ---- navigation ----------------------------------------------------------------

function route(focus) {
  const name = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "send";
  for (const v of VIEWS) $("view-" + v).hidden = v !== name;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === "#" + name) {
      a.setAttribute("aria-current", "page");
      a.scrollIntoView({ block: "nearest", inline: "nearest" }); // the tab strip on small screens
    }
    else a.removeAttribute("aria-current");
  }
  document.title = document.querySelector(`nav a[href="#${name}"]`).textContent + " · tocsin admin";
  if (name === "live") startLive(); else stopLive();
  if (onShow[name]) onShow[name]();
  if (focus) $("view-" + name).querySelector("h2").focus();
}
window.addEventListener("hashchange", () => { if (apiKey) route(true); });

const onShow = {
  scheduled: () => loadScheduled(false),
  keys: () => loadKeys(),
  tokens: () => loadTokens(),
  webhooks: () => loadWebhooks(),
};

// ---- send ----------------------------------------------------------------------

const toLabels = { user: ["User id"], users: ["User ids", "separated by commas or spaces"], topic: ["Topic"] };
for (const r of document.querySelectorAll('input[name="kind"]')) {
  r.addEventListener("change", () => {
    const [label, hint] = toLabels[r.value];
    $("send-to-label").replaceChildren(label, hint ? el("span", { class: "hint" }, hint) : "");
    // Channels reach a user's devices and addresses; a topic has none (the server
    // refuses channels with topic), so they are off for it.
    $("send-channels").disabled = r.value === "topic";
  });
}
for (const ch of ["push", "email", "webhook"]) {
  $("ch-" + ch).addEventListener("change", () => {
    const d = $("ch-" + ch + "-delay");
    d.disabled = $("ch-" + ch).value !== "delay";
    if (!d.disabled && !d.value) d.value = "0s";
  });
}
$("send-tz").textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";

// RFC 3339 with the browser's offset, from a datetime-local value ("2026-12-03T15:04").
export function localToRFC3339(value) {
  const d = new Date(value); // a datetime-local value without a zone is local time
  if (isNaN(d)) return null;
  const pad = (n) => String(Math.abs(n)).padStart(2, "0");
  const off = -d.getTimezoneOffset();
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    (off >= 0 ? "+" : "-") + pad(Math.trunc(off / 60)) + ":" + pad(off % 60);
}

// The field a server message is about, to mark it (messages start with the field).
const fieldOf = { userId: "send-to", userIds: "send-to", topic: "send-to", title: "send-title", body: "send-body",
  type: "send-type", priority: "send-priority", tags: "send-tags", actionUrl: "send-action", deliverAt: "send-at", channels: "send-channels" };

function sendBody() {
  const kind = document.querySelector('input[name="kind"]:checked').value;
  const to = $("send-to").value.trim();
  const b = {};
  if (kind === "users") b.userIds = to.split(/[\s,]+/).filter(Boolean);
  else b[kind === "user" ? "userId" : "topic"] = to;
  const set = (k, v) => { if (v !== "") b[k] = v; };
  set("title", $("send-title").value.trim());
  set("body", $("send-body").value);
  set("type", $("send-type").value.trim());
  b.priority = Number($("send-priority").value);
  set("actionUrl", $("send-action").value.trim());
  const tags = $("send-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  if (tags.length) b.tags = tags;
  const channels = {};
  for (const ch of ["push", "email", "webhook"]) {
    const mode = $("ch-" + ch).value;
    if (mode === "off") channels[ch] = "off";
    if (mode === "delay") channels[ch] = $("ch-" + ch + "-delay").value.trim() || "0s";
  }
  if (Object.keys(channels).length && kind !== "topic") b.channels = channels;
  if ($("send-at").value) b.deliverAt = localToRFC3339($("send-at").value);
  return b;
}

$("send").addEventListener("submit", async (e) => {
  e.preventDefault();
  const err = $("send-error"), res = $("send-result"), btn = $("send-button");
  for (const f of e.target.querySelectorAll("[aria-invalid]")) f.removeAttribute("aria-invalid");
  err.textContent = "";
  if (!$("send-to").value.trim()) {
    err.textContent = "Say who to send it to.";
    $("send-to").setAttribute("aria-invalid", "true");
    $("send-to").focus();
    return;
  }
  btn.disabled = true;
  res.hidden = false;
  res.textContent = "Sending…";
  try {
    const out = await api("POST", "/api/notifications", sendBody());
    const ns = out.notifications || [out];
    const scheduled = ns[0] && ns[0].status === "scheduled";
    res.replaceChildren(...sendResult(ns, scheduled));
    announce(res.textContent);
  } catch (x) {
    res.hidden = true;
    err.textContent = x.message;
    const ch = x.message.match(/^channels\.(push|email|webhook)\b/);
    const field = ch ? "ch-" + ch[1] + "-delay" : fieldOf[(x.message.match(/^[a-zA-Z]+/) || [""])[0]];
    if (field) $(field).setAttribute("aria-invalid", "true");
  } finally {
    btn.disabled = false;
  }
});

function sendResult(ns, scheduled) {
  const n = ns[0];
  const users = ns.map((x) => x.userId);
  const who = n.topic ? "to topic " + n.topic :
    ns.length > 1 ? `${ns.length} notifications to ${users.slice(0, 3).join(", ")}${ns.length > 3 ? "…" : ""}` : "to " + n.userId;
  const parts = [el("strong", {}, scheduled ? "Scheduled" : "Delivered"), ` ${who} · `, el("code", { id: "send-result-id" }, n.id)];
  if (ns.length > 1) parts.push(" (the first)");
  // A scheduled notification's createdAt is the time it is due.
  if (scheduled) parts.push(" · for ", when(n.createdAt), " · ", el("a", { href: "#scheduled" }, "see scheduled"));
  else if (n.userId) {
    parts.push(" · ", el("a", { href: "#deliveries", onclick: () => { $("del-user").value = n.userId; $("del-id").value = n.id; pendingDeliveries = true; } }, "delivery log"));
  }
  return parts;
}

// ---- live ----------------------------------------------------------------------

const SAMPLES = 60; // two minutes at one sample every 2 s
let liveTimer = null, last = null;
const series = { streams: [], published: [], delivered: [] };

function startLive() {
  if (liveTimer || document.hidden || $("view-live").hidden || !apiKey) return;
  if (!last) $("live-state").textContent = "Loading…";
  tick();
  liveTimer = setInterval(tick, 2000);
}
function stopLive() { clearInterval(liveTimer); liveTimer = null; }
document.addEventListener("visibilitychange", () => {
  if (document.hidden) { stopLive(); last = null; } else startLive(); // a gap resets the rates
});

async function tick() {
  let s;
  try {
    s = await api("GET", "/api/stats");
  } catch (x) {
    $("live-error").textContent = x.message;
    return;
  }
  $("live-error").textContent = "";
  $("live-state").textContent = "";
  const now = performance.now();
  $("live-streams").textContent = String(s.streamsOpen);
  push(series.streams, s.streamsOpen);
  if (last && s.eventsPublished !== undefined) {
    const secs = (now - last.at) / 1000;
    const p = Math.max(0, (s.eventsPublished - last.published) / secs), d = Math.max(0, (s.eventsDelivered - last.delivered) / secs);
    $("live-published").textContent = rate(p);
    $("live-delivered").textContent = rate(d);
    push(series.published, p);
    push(series.delivered, d);
  } else if (s.eventsPublished === undefined) {
    $("live-published").textContent = $("live-delivered").textContent = "n/a";
  } else {
    $("live-published").textContent = $("live-delivered").textContent = "0.0"; // a rate needs two samples
  }
  if (s.eventsPublished !== undefined) {
    $("live-published-total").textContent = `· ${s.eventsPublished.toLocaleString()} since start`;
    $("live-delivered-total").textContent = `· ${s.eventsDelivered.toLocaleString()} since start`;
  }
  last = { at: now, published: s.eventsPublished, delivered: s.eventsDelivered };
  spark("spark-streams", series.streams);
  spark("spark-published", series.published);
  spark("spark-delivered", series.delivered);
}
function push(a, v) { a.push(v); if (a.length > SAMPLES) a.shift(); }
function rate(v) { return v >= 100 ? String(Math.round(v)) : v.toFixed(1); }

function spark(id, values) {
  const svg = $(id), ns = "http://www.w3.org/2000/svg";
  if (values.length < 2) { svg.replaceChildren(); return; }
  const max = Math.max(1, ...values), step = 120 / (SAMPLES - 1), x0 = 120 - step * (values.length - 1);
  const pts = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${(34 - (v / max) * 32).toFixed(1)}`);
  const area = document.createElementNS(ns, "polygon");
  area.setAttribute("points", `${x0.toFixed(1)},36 ${pts.join(" ")} 120,36`);
  area.setAttribute("fill", "currentColor");
  area.setAttribute("opacity", "0.12");
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "currentColor");
  line.setAttribute("stroke-width", "1.5");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.replaceChildren(area, line);
}

// ---- connections ---------------------------------------------------------------

const conns = tableView("conn");
$("conn-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const user = $("conn-user").value.trim();
  if (!user) { $("conn-error").textContent = "Type a user id."; return; }
  conns.loading();
  try {
    const out = await api("GET", `/api/users/${seg(user, "user id")}/connections`);
    conns.show(out.connections || [], (c) => el("tr", {}, el("td", {}, c.deviceId || el("span", { class: "hint" }, "none")), el("td", {}, c.transport), el("td", {}, when(c.since))),
      `No open streams for ${user} on this node.`);
  } catch (x) { conns.fail(x); }
});

// ---- delivery log --------------------------------------------------------------

const delList = tableView("del-list"), delLog = tableView("del");
let pendingDeliveries = false;
onShow.deliveries = () => {
  if (!pendingDeliveries) return;
  pendingDeliveries = false;
  loadUserNotifications();
  loadDeliveries();
};

async function loadUserNotifications() {
  const user = $("del-user").value.trim();
  if (!user) { $("del-list-error").textContent = "Type a user id."; return; }
  delList.loading();
  try {
    const out = await api("GET", `/api/users/${seg(user, "user id")}/notifications?limit=20`);
    delList.show(out.notifications || [], (n) => el("tr", {},
      el("td", { class: "wrap" }, n.title || el("span", { class: "hint" }, "(no title)")), el("td", {}, n.type), el("td", {}, String(n.priority)),
      el("td", {}, when(n.createdAt)), el("td", {}, n.readAt ? pill("read") : pill("unread", "wait")),
      el("td", {}, el("button", { type: "button", class: "small", onclick: () => { $("del-id").value = n.id; loadDeliveries(); } }, "Delivery log"))),
    `${user} has no notifications in the inbox.`);
  } catch (x) { delList.fail(x); }
}

async function loadDeliveries() {
  const user = $("del-user").value.trim(), id = $("del-id").value.trim();
  if (!user || !id) { $("del-error").textContent = "Type the user id above and a notification id."; return; }
  delLog.loading();
  try {
    const out = await api("GET", `/api/users/${seg(user, "user id")}/notifications/${seg(id, "notification id")}/deliveries`);
    const kind = { sent: "ok", failed: "bad", skipped: "", scheduled: "wait" };
    delLog.show(out.deliveries || [], (d) => el("tr", {},
      el("td", {}, d.channel), el("td", {}, pill(d.status, kind[d.status])), el("td", { class: "wrap" }, d.reason || ""),
      el("td", {}, when(d.at)), el("td", {}, String(d.attempts))),
    "No channel has handled it yet: only the inbox has it.");
  } catch (x) { delLog.fail(x); }
}
$("del-user-form").addEventListener("submit", (e) => { e.preventDefault(); loadUserNotifications(); });
$("del-form").addEventListener("submit", (e) => { e.preventDefault(); loadDeliveries(); });

// ---- scheduled -----------------------------------------------------------------

const sch = tableView("sch");
let schCursor = null;
async function loadScheduled(more) {
  const user = $("sch-user").value.trim();
  const q = new URLSearchParams({ limit: "50" });
  if (user) q.set("userId", user);
  if (more && schCursor) q.set("cursor", schCursor);
  if (!more) sch.loading();
  try {
    const out = await api("GET", "/api/scheduled?" + q);
    const items = out.scheduled || [];
    const row = (n) => el("tr", {},
      el("td", {}, when(n.createdAt)), el("td", {}, n.userId || (n.topic ? "topic " + n.topic : "")),
      el("td", { class: "wrap" }, n.title || ""), el("td", {}, el("code", {}, n.id)),
      el("td", {}, deleteButton("Cancel", "/api/scheduled/" + enc(n.id), "Cancelled " + n.id, "sch-error", () => loadScheduled(false))));
    if (more) sch.append(items, row); else sch.show(items, row, user ? `Nothing scheduled for ${user}.` : "Nothing is scheduled.");
    schCursor = out.nextCursor || null;
    $("sch-more").hidden = !schCursor;
  } catch (x) { sch.fail(x); }
}
$("sch-form").addEventListener("submit", (e) => { e.preventDefault(); loadScheduled(false); });
$("sch-more").addEventListener("click", () => loadScheduled(true));

// ---- API keys ------------------------------------------------------------------

const keys = tableView("keys");
async function loadKeys() {
  keys.loading();
  try {
    const out = await api("GET", "/api/keys");
    keys.show(out.keys || [], (k) => {
      let action;
      if (k.source === "config") action = el("span", { class: "hint" }, "from config");
      else if (k.current) action = el("span", { class: "hint" }, "signed in with it");
      else if (k.revokedAt) action = "";
      else action = deleteButton("Revoke", "/api/keys/" + enc(k.id), "Revoked " + k.name, "keys-error", loadKeys);
      return el("tr", {}, el("td", {}, k.name || el("span", { class: "hint" }, "(unnamed)"), k.current ? el("span", { class: "hint" }, "this session") : null),
        el("td", {}, el("code", {}, k.id)), el("td", {}, when(k.createdAt)),
        el("td", {}, k.revokedAt ? pill("revoked", "bad") : pill("live", "ok")), el("td", {}, action));
    }, "No keys.");
  } catch (x) { keys.fail(x); }
}
$("keys-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("keys-name").value.trim(), err = $("keys-form-error");
  err.textContent = "";
  if (!name) { err.textContent = "Name the key."; $("keys-name").focus(); return; }
  try {
    const k = await api("POST", "/api/keys", { name });
    $("keys-name").value = "";
    showSecret($("keys-secret"), "New API key", k.key, `"${k.name}" (${k.id}). Copy it now: it is not shown again.`);
    loadKeys();
  } catch (x) { err.textContent = x.message; }
});

// ---- tokens --------------------------------------------------------------------

const toks = tableView("tok");
async function loadTokens() {
  toks.loading();
  try {
    const out = await api("GET", "/api/tokens");
    toks.show(out.tokens || [], (t) => el("tr", {},
      el("td", {}, t.stream), el("td", {}, t.scope === "publish" ? "publish (hook)" : "subscribe (stream)"),
      el("td", {}, el("code", {}, t.id)), el("td", {}, when(t.createdAt)),
      el("td", {}, t.revokedAt ? pill("revoked", "bad") : pill("live", "ok")),
      el("td", {}, t.revokedAt ? "" : deleteButton("Revoke", "/api/tokens/" + enc(t.id), "Revoked " + t.id, "tok-error", loadTokens))),
    "No tokens yet.");
  } catch (x) { toks.fail(x); }
}
$("tok-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const err = $("tok-form-error"), name = $("tok-name").value.trim();
  err.textContent = "";
  if (!name) { err.textContent = "Name the topic or user."; $("tok-name").focus(); return; }
  try {
    const t = await api("POST", "/api/tokens", { stream: $("tok-kind").value + ":" + name, scope: $("tok-scope").value });
    const url = location.origin + t.url;
    showSecret($("tok-secret"), t.scope === "publish" ? "Hook URL" : "Stream URL", url,
      `for ${t.stream}. Whoever holds it can ${t.scope === "publish" ? "publish to" : "read"} this stream. Copy it now: it is not shown again.`);
    loadTokens();
  } catch (x) { err.textContent = x.message; }
});

// ---- webhooks ------------------------------------------------------------------

const whs = tableView("wh"), whd = tableView("whd");
async function loadWebhooks() {
  whs.loading();
  try {
    const out = await api("GET", "/api/webhooks");
    whs.show(out.webhooks || [], (w) => el("tr", {},
      el("td", { class: "wrap" }, w.url), el("td", { class: "wrap" }, (w.events || []).join(", ")),
      el("td", {}, el("code", {}, w.id)), el("td", {}, when(w.createdAt)),
      el("td", {}, el("div", { class: "btns" },
        el("button", { type: "button", class: "small", onclick: () => loadWebhookDeliveries(w) }, "Deliveries"),
        deleteButton("Delete", "/api/webhooks/" + enc(w.id), "Deleted " + w.url, "wh-error", () => { $("whd-card").hidden = true; loadWebhooks(); })))),
    "No endpoints yet.");
  } catch (x) { whs.fail(x); }
}
async function loadWebhookDeliveries(w) {
  $("whd-card").hidden = false;
  $("whd-h").textContent = "Delivery history · " + w.url;
  $("whd-h").focus();
  whd.loading();
  try {
    const out = await api("GET", `/api/webhooks/${enc(w.id)}/deliveries?limit=50`);
    const kind = { done: "ok", failed: "bad", pending: "wait" };
    whd.show(out.deliveries || [], (d) => el("tr", {},
      el("td", {}, d.event), el("td", {}, d.userId || ""), el("td", {}, pill(d.status, kind[d.status])),
      el("td", {}, String(d.attempts)), el("td", { class: "wrap" }, d.lastStatus ? String(d.lastStatus) : "", d.lastError ? " " + d.lastError : ""),
      el("td", {}, when(d.createdAt)), el("td", {}, when(d.finishedAt))),
    "Nothing sent to this endpoint yet.");
  } catch (x) { whd.fail(x); }
}
$("wh-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const err = $("wh-form-error"), url = $("wh-url").value.trim();
  err.textContent = "";
  const events = [...$("wh-events").querySelectorAll("input:checked")].map((c) => c.value);
  if (!url) { err.textContent = "Type the endpoint's URL."; $("wh-url").focus(); return; }
  try {
    const w = await api("POST", "/api/webhooks", { url, events });
    $("wh-url").value = "";
    showSecret($("wh-secret"), "Signing secret", w.secret, `for ${w.url}: verify each request's signature with it. Copy it now: it is not shown again.`);
    loadWebhooks();
  } catch (x) { err.textContent = x.message; }
});

// ---- start ---------------------------------------------------------------------

if (apiKey) {
  // A reload keeps the key; check it is still good before showing data.
  // Only a refusal forgets it: an unreachable or failing server leaves it in the field,
  // so "Sign in" retries.
  const kept = apiKey;
  $("signin-view").hidden = true; // no flash of the form while the key is checked
  signIn(apiKey).then(enter, (x) => {
    if (x.status === 401 || x.status === 403) return signOut("Your API key is no longer accepted. Sign in with another one.");
    apiKey = "";
    $("signin-view").hidden = false;
    $("signin-error").textContent = x.message;
    $("apikey").value = kept;
  });
} else {
  $("apikey").focus();
}
