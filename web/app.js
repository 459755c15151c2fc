// The tocsin dashboard: a notification center built on /client.js, and an admin
// console. It talks only to the server that served it.
import { Tocsin } from "./client.js";

const $ = (id) => document.getElementById(id);
const base = location.pathname.replace(/\/[^/]*$/, ""); // works under --base-path
let client = null;

function setBadge(n) {
  $("badge").textContent = String(n);
  $("badge").hidden = n === 0;
  $("bell").setAttribute("aria-label", `Notifications, ${n} unread`);
  document.title = n ? `(${n}) tocsin` : "tocsin";
}

function toast(n) {
  const el = document.createElement("div");
  el.className = "toast";
  const t = document.createElement("strong");
  t.textContent = n.title || n.type;
  const b = document.createElement("div");
  b.textContent = n.body;
  el.append(t, b);
  $("toasts").append(el);
  setTimeout(() => el.remove(), 5000);
}

function render(notifications) {
  const list = $("list");
  list.replaceChildren();
  if (!notifications.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "You're all caught up.";
    list.append(li);
    return;
  }
  for (const n of notifications) {
    const li = document.createElement("li");
    li.dataset.id = n.id;
    const title = document.createElement("div");
    title.className = "title";
    title.textContent = n.count > 1 ? `${n.title} (${n.count})` : n.title || n.type;
    const actions = document.createElement("div");
    actions.className = "actions";
    const read = document.createElement("button");
    read.type = "button";
    read.textContent = "Mark read";
    read.setAttribute("aria-label", `Mark “${n.title}” read`);
    read.onclick = () => client.markRead(n.id);
    const del = document.createElement("button");
    del.type = "button";
    del.textContent = "Delete";
    del.setAttribute("aria-label", `Delete “${n.title}”`);
    del.onclick = () => client.remove(n.id);
    actions.append(read, del);
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `${n.body ? n.body + " · " : ""}${new Date(n.createdAt).toLocaleString()}`;
    li.append(title, actions, meta);
    list.append(li);
  }
}

// signIn follows the user of token. The client shares one stream between the tabs
// signed in as that same user (its key is scoped by the user: tabs of other users
// never share); a read-all arrives as one notifications:read event that empties the
// list and, with the unread event after it, the badge. getToken, when given, renews
// the token before it expires.
function signIn(token, getToken) {
  if (client) client.close();
  $("toasts").replaceChildren(); // nothing of a previous user stays on screen
  render([]);
  setBadge(0);
  sessionStorage.setItem("tocsin.token", token);
  client = new Tocsin({ url: base, token, key: "dashboard", getToken });
  client.on("change", (s) => { setBadge(s.unreadCount); render(s.notifications); });
  client.on("notification", toast);
  client.on("status", (s) => { $("status").textContent = s === "open" || s === "following" ? "live" : s; });
  client.on("error", (e) => { $("status").textContent = e.message; });
  client.on("user", (u) => {
    $("toasts").replaceChildren();
    $("who").textContent = u ? `Signed in as ${u}` : "Signed in";
  });
  client.connect();
  showPush();
  $("signin").hidden = true;
  $("inbox").hidden = false;
  $("who").textContent = client.userId ? `Signed in as ${client.userId}` : "Signed in";
}

// The Web Push toggle: shows pushState() and switches it. Hidden where the browser
// cannot (no service workers or Push API, or not HTTPS/localhost).
async function showPush() {
  const st = client ? await client.pushState().catch(() => "unsupported") : "unsupported";
  const btn = $("push");
  btn.hidden = st === "unsupported";
  btn.dataset.state = st;
  btn.setAttribute("aria-pressed", String(st === "on"));
  btn.disabled = st === "denied";
  btn.textContent = st === "on" ? "Push notifications: on" : "Push notifications: off";
  if (st === "denied") $("pushmsg").textContent = "Notifications are blocked for this site in the browser's settings.";
}

$("push").onclick = async () => {
  const btn = $("push");
  btn.disabled = true;
  $("pushmsg").textContent = "";
  try {
    if (btn.dataset.state === "on") await client.disablePush();
    else await client.enablePush();
  } catch (e) {
    $("pushmsg").textContent = e.code === "denied" ? "Notifications were not allowed." : e.message;
  }
  btn.disabled = false;
  await showPush();
};

async function devToken(user) {
  const r = await fetch(base + "/api/dev/token", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ userId: user }),
  });
  if (!r.ok) throw new Error((await r.json()).error.message);
  const tok = (await r.json()).token;
  sessionStorage.setItem("tocsin.token", tok);
  return tok;
}

async function devSignIn(user) {
  signIn(await devToken(user), () => devToken(user));
}

$("signin").onsubmit = (e) => { e.preventDefault(); if ($("token").value.trim()) signIn($("token").value.trim()); };
$("devsignin").onclick = () => devSignIn($("devuser").value.trim()).catch((e) => { $("status").textContent = e.message; });
$("readall").onclick = () => client && client.markAllRead();
$("bell").onclick = () => $("center").scrollIntoView({ behavior: "smooth" });

// The admin console.
$("apikey").value = sessionStorage.getItem("tocsin.apikey") || "";
$("apikey").onchange = () => sessionStorage.setItem("tocsin.apikey", $("apikey").value);
$("compose").onsubmit = async (e) => {
  e.preventDefault();
  const body = { title: $("title").value, body: $("body").value, priority: Number($("priority").value) };
  body[$("kind").value === "user" ? "userId" : "topic"] = $("to").value.trim();
  const r = await fetch(base + "/api/notifications", {
    method: "POST", body: JSON.stringify(body),
    headers: { Authorization: "Bearer " + $("apikey").value, "Content-Type": "application/json" },
  });
  const out = await r.json();
  $("sent").textContent = r.ok ? `Sent (${out.id})` : `Not sent: ${out.error.message}`;
};
let last = null;
setInterval(async () => {
  const key = $("apikey").value;
  if (!key) return;
  const r = await fetch(base + "/api/stats", { headers: { Authorization: "Bearer " + key } });
  if (!r.ok) return;
  const s = await r.json();
  $("streams").firstChild.textContent = String(s.streamsOpen);
  if (last) $("rate").firstChild.textContent = String(Math.max(0, s.eventsDelivered - last.eventsDelivered));
  last = s;
}, 1000);

// Start: ?user= (development sign-in) or ?token=, else a token kept for this tab.
const params = new URLSearchParams(location.search);
fetch(base + "/api/dev/token", { method: "POST", body: "{}" }).then((r) => { $("dev").hidden = r.status === 404; });
if (params.get("user")) {
  devSignIn(params.get("user")).catch((e) => { $("status").textContent = e.message; });
} else if (params.get("token") || sessionStorage.getItem("tocsin.token")) {
  signIn(params.get("token") || sessionStorage.getItem("tocsin.token"));
}
