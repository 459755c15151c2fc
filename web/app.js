// The tocsin dashboard at /: sign in as a user, then that user's notification center,
// built on <tocsin-inbox> (a bell in the header and the full-page inline feed, both
// on one shared client). It talks only to the server that served it. The admin
// console is at /admin.
import { Tocsin } from "./client.js";
import "./inbox.js";

const $ = (id) => document.getElementById(id);
const base = location.pathname.replace(/\/[^/]*$/, ""); // works under --base-path
const TOAST_MS = 6000;
const MAX_TOASTS = 3;
let client = null;

function setStatus(text, live) {
  $("status").textContent = text;
  $("status").toggleAttribute("data-live", !!live);
}

// toast shows a new notification at the bottom left (clear of the header's controls
// and of the feed's actions), dismissible, announced politely.
function toast(n) {
  const box = document.createElement("div");
  box.className = "toast";
  const title = document.createElement("strong");
  title.textContent = n.title || n.type;
  const body = document.createElement("p");
  body.textContent = n.body || "";
  const close = document.createElement("button");
  close.type = "button";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "✕";
  close.onclick = () => box.remove();
  box.append(title, close, body);
  $("toasts").append(box);
  while ($("toasts").children.length > MAX_TOASTS) $("toasts").firstElementChild.remove();
  let timer = setTimeout(() => box.remove(), TOAST_MS);
  box.onmouseenter = box.onfocusin = () => clearTimeout(timer); // kept while looked at
  box.onmouseleave = () => { timer = setTimeout(() => box.remove(), TOAST_MS); };
}

function inbox(mode) {
  const el = document.createElement("tocsin-inbox");
  el.setAttribute("url", base);
  if (mode) el.setAttribute("mode", mode);
  el.client = client; // before it is connected: it then opens no client of its own
  return el;
}

// signIn follows the user of token: one client (its stream shared with the other
// tabs of that user) for the bell and the feed. getToken, when given, renews the
// token before it expires.
function signIn(token, getToken) {
  signOut(false);
  sessionStorage.setItem("tocsin.token", token);
  client = new Tocsin({ url: base, token, key: "dashboard", getToken });
  client.on("notification", toast);
  client.on("status", (s) => setStatus(s === "open" || s === "following" ? "live" : s, s === "open" || s === "following"));
  client.on("error", (e) => { $("error").textContent = e.message.replace(/^tocsin: /, ""); });
  client.on("change", (s) => { document.title = s.unreadCount ? `(${s.unreadCount}) tocsin` : "tocsin"; });
  const who = (u) => { $("who").textContent = u ? `Signed in as ${u}` : "Signed in"; };
  client.on("user", (u) => { $("toasts").replaceChildren(); who(u); });
  $("bellslot").replaceChildren(Object.assign(inbox(""), { id: "bell" }));
  $("feedslot").replaceChildren(Object.assign(inbox("inline"), { id: "feed" }));
  client.connect();
  who(client.userId);
  $("signin").hidden = true;
  $("signout").hidden = false;
}

function signOut(forget) {
  if (client) client.close();
  client = null;
  $("toasts").replaceChildren(); // nothing of a previous user stays on screen
  $("bellslot").replaceChildren();
  $("feedslot").replaceChildren();
  $("who").textContent = "";
  $("error").textContent = "";
  setStatus("signed out", false);
  document.title = "tocsin";
  if (forget) {
    sessionStorage.removeItem("tocsin.token");
    $("signin").hidden = false;
    $("signout").hidden = true;
  }
}

async function devToken(user) {
  const r = await fetch(base + "/api/dev/token", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ userId: user }),
  });
  const out = await r.json();
  if (!r.ok) throw new Error(out.error.message);
  return out.token;
}

async function devSignIn(user) {
  signIn(await devToken(user), () => devToken(user));
}

const fail = (e) => { $("error").textContent = e.message; };
$("dev").onsubmit = (e) => { e.preventDefault(); devSignIn($("devuser").value.trim()).catch(fail); };
$("tokenform").onsubmit = (e) => { e.preventDefault(); if ($("token").value.trim()) signIn($("token").value.trim()); };
$("signout").onclick = () => signOut(true);

// Start: ?user= (development sign-in) or ?token=, else a token kept for this tab.
// Both come out of the address bar and this history entry at once (replaceState, no
// reload), so the credential is not copied along with the page's address,
// bookmarked, or kept in the history; the token is kept in sessionStorage instead.
const params = new URLSearchParams(location.search);
if (params.has("token") || params.has("user")) {
  const rest = new URLSearchParams(params);
  rest.delete("token");
  rest.delete("user");
  const q = rest.toString();
  history.replaceState(history.state, "", location.pathname + (q ? "?" + q : "") + location.hash);
}
fetch(base + "/api/dev/token", { method: "POST", body: "{}" }).then((r) => { $("dev").hidden = r.status === 404; });
if (params.get("user")) {
  devSignIn(params.get("user")).catch(fail);
} else if (params.get("token") || sessionStorage.getItem("tocsin.token")) {
  signIn(params.get("token") || sessionStorage.getItem("tocsin.token"));
}
