// Helpers of <tocsin-inbox> (web/inbox.js): its English strings, inline icons, times and
// the rules that decide what may become a link or an image. No DOM state lives here.

import { inInbox } from "../client.js";
export { isSnoozed } from "../client.js";

/**
 * The English strings of the element. A page overrides any of them with the
 * element's `strings` property (an object merged over these); `{name}` placeholders
 * are filled in by fmt. docs/inbox.md lists every key.
 */
export const STRINGS = {
  title: "Notifications",
  bell: "Notifications, {n} unread",
  close: "Close",
  tabs: "Notification filters",
  tabUnread: "Unread",
  tabAll: "All",
  tabArchived: "Archived",
  search: "Search notifications",
  markAllRead: "Mark all as read",
  preferences: "Preferences",
  back: "Back to notifications",
  markRead: "Mark as read",
  markUnread: "Mark as unread",
  archive: "Archive",
  unarchive: "Unarchive",
  snooze: "Snooze",
  snooze1h: "1 hour",
  snoozeTomorrow: "Tomorrow, 9:00",
  snoozeNextWeek: "Next week",
  unsnooze: "Unsnooze",
  remove: "Delete",
  more: "More actions",
  select: "Select “{title}”",
  selected: "{n} selected",
  markSelectedRead: "Mark selected read",
  archiveSelected: "Archive selected",
  clearSelection: "Clear selection",
  loadMore: "Load more",
  loading: "Loading notifications",
  emptyUnread: "You're all caught up",
  emptyUnreadHint: "New notifications will show up here.",
  emptyAll: "No notifications yet",
  emptyAllHint: "When something happens, you'll see it here.",
  emptyArchived: "Nothing archived",
  emptyArchivedHint: "Archived notifications are kept here.",
  noResults: "No results for “{q}”",
  noResultsHint: "Try another word, or clear the search.",
  errorTitle: "Couldn't load notifications",
  retry: "Try again",
  offline: "Reconnecting…",
  corsError: "This page's origin is not allowed by the server at {url}. Start tocsin with --cors-origins {origin}.",
  networkError: "Can't reach the server at {url}.",
  authError: "Your session has ended. Sign in again.",
  actionFailed: "That didn't work: {message}",
  urgent: "Urgent",
  unread: "Unread",
  justNow: "just now",
  snoozedUntil: "Snoozed until {time}",
  groupedActors: "{actor} and {n} others",
  groupedActor: "{actor} and 1 other",
  groupedNew: "{n} new",
  prefsTitle: "Notification preferences",
  prefsUnavailable: "Preferences aren't available on this server.",
  prefsChannels: "Channels",
  prefsChannelsHint: "How notifications reach you when you're not looking.",
  channelPush: "Push",
  channelEmail: "Email",
  channelWebhook: "Other apps",
  prefsTypes: "By type",
  prefsType: "Type",
  prefsQuiet: "Quiet hours",
  prefsQuietOn: "Pause channels during quiet hours (urgent ones still come through)",
  prefsQuietStart: "From",
  prefsQuietEnd: "To",
  prefsQuietZone: "Time zone",
  prefsSave: "Save",
  prefsSaved: "Saved",
  pushTitle: "Browser notifications",
  pushOn: "On for this browser",
  pushOff: "Off for this browser",
  pushTurnOn: "Turn on",
  pushTurnOff: "Turn off",
  pushDenied: "Blocked in this browser's site settings.",
};

/** fmt fills `{name}` placeholders of template with vars (missing ones stay). */
export function fmt(template, vars = {}) {
  return String(template).replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/** safeUrl returns s as an absolute http: or https: URL, else "" (never javascript:, data:, ...). */
export function safeUrl(s, base) {
  if (typeof s !== "string" || !s) return "";
  try {
    const u = new URL(s, base);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : "";
  } catch {
    return "";
  }
}

// Icon paths (24×24, stroked), inline so the element loads nothing else.
const PATHS = {
  bell: "M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9M13.7 21a2 2 0 0 1-3.4 0",
  comment: "M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z",
  mention: "M16 12a4 4 0 1 1-8 0 4 4 0 0 1 8 0zM16 8v5a3 3 0 0 0 6 0v-1a10 10 0 1 0-4 8",
  order: "M6 2 3 6v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V6l-3-4zM3 6h18M16 10a4 4 0 0 1-8 0",
  alert: "M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0zM12 9v4M12 17h0",
  system: "M4 4h16v16H4zM9 9h6v6H9zM9 1v3M15 1v3M9 20v3M15 20v3M20 9h3M20 14h3M1 9h3M1 14h3",
  check: "M20 6 9 17l-5-5",
  checks: "M18 6 7 17l-5-5M22 10l-7.5 7.5L13 16",
  dot: "M12 12m-4 0a4 4 0 1 0 8 0a4 4 0 1 0-8 0",
  archive: "M21 8v13H3V8M1 3h22v5H1zM10 12h4",
  unarchive: "M21 8v13H3V8M1 3h22v5H1zM12 17v-6M9 14l3-3 3 3",
  clock: "M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM12 6v6l4 2",
  trash: "M3 6h18M8 6V4a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2M19 6l-1 14a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2L5 6",
  kebab: "M12 5h.01M12 12h.01M12 19h.01",
  gear: "M4 21v-7M4 10V3M12 21v-9M12 8V3M20 21v-5M20 12V3M1 14h6M9 8h6M17 16h6",
  x: "M18 6 6 18M6 6l12 12",
  back: "M19 12H5M12 19l-7-7 7-7",
  search: "M11 19a8 8 0 1 0 0-16 8 8 0 0 0 0 16zM21 21l-4.3-4.3",
  inbox: "M22 12h-6l-2 3h-4l-2-3H2M5.5 5.1 2 12v6a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2v-6l-3.5-6.9A2 2 0 0 0 16.8 4H7.2a2 2 0 0 0-1.7 1.1z",
  cloudoff: "M2 2l20 20M5.8 5.8A7 7 0 0 0 9 19h8a5 5 0 0 0 2.3-.6M21.6 15.5A5 5 0 0 0 17 9h-1.3A7 7 0 0 0 9.6 5",
};

// The icon a notification type gets: by a keyword in its name, else the bell.
const TYPE_ICONS = [
  [/comment|reply|message|chat/i, "comment"],
  [/mention/i, "mention"],
  [/order|payment|invoice|ship|purchase|billing/i, "order"],
  [/alert|warn|error|fail|incident|security/i, "alert"],
  [/system|update|deploy|build|maintenance/i, "system"],
];

/** typeIcon names the icon for a notification type. */
export function typeIcon(type) {
  for (const [re, name] of TYPE_ICONS) if (re.test(type || "")) return name;
  return "bell";
}

/** icon returns a decorative inline SVG (aria-hidden) of the named icon. */
export function icon(name) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon");
  const p = document.createElementNS(NS, "path");
  p.setAttribute("d", PATHS[name] || PATHS.bell);
  svg.append(p);
  return svg;
}

/** el creates an element with attributes (props starting "on" are listeners) and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

const UNITS = [["year", 31536e6], ["month", 2592e6], ["week", 6048e5], ["day", 864e5], ["hour", 36e5], ["minute", 6e4]];

/**
 * relTime says when t was, relative to now, in lang ("2 min. ago", "yesterday");
 * under 45 s it is strings.justNow.
 */
export function relTime(t, lang, now, justNow) {
  const d = new Date(t).getTime() - now;
  if (!Number.isFinite(d)) return "";
  if (Math.abs(d) < 45000) return justNow;
  const rtf = new Intl.RelativeTimeFormat(lang || undefined, { numeric: "auto", style: "short" });
  for (const [unit, ms] of UNITS) {
    if (Math.abs(d) >= ms || unit === "minute") return rtf.format(Math.round(d / ms), unit);
  }
  return "";
}

/** absTime is t as a full local date and time, for the title and screen readers. */
export function absTime(t, lang) {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return "";
  return new Intl.DateTimeFormat(lang || undefined, { dateStyle: "medium", timeStyle: "short" }).format(d);
}

/**
 * groupSummary is the line a grouped notification (count > 1) shows above its
 * title: "Ana and 4 others commented" when data names the actors (data.actors: an
 * array of names or {name} objects, the latest first; or data.actorName), else
 * "5 new". data.verb (a string) follows the actors. "" when not grouped.
 */
export function groupSummary(n, s) {
  const count = Number(n.count) || 1;
  if (count < 2) return "";
  const d = n.data && typeof n.data === "object" ? n.data : {};
  let actor = typeof d.actorName === "string" ? d.actorName : "";
  if (!actor && Array.isArray(d.actors) && d.actors.length) {
    const a = d.actors[0];
    actor = typeof a === "string" ? a : a && typeof a.name === "string" ? a.name : "";
  }
  if (!actor) return fmt(s.groupedNew, { n: count });
  const line = count === 2 ? fmt(s.groupedActor, { actor }) : fmt(s.groupedActors, { actor, n: count - 1 });
  return typeof d.verb === "string" && d.verb ? line + " " + d.verb : line;
}

/** snoozeTimes are the snooze menu's choices: in an hour, tomorrow 9:00, next Monday 9:00 (local time). */
export function snoozeTimes(now = new Date()) {
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  tomorrow.setHours(9, 0, 0, 0);
  const week = new Date(now);
  week.setDate(now.getDate() + (((8 - now.getDay()) % 7) || 7));
  week.setHours(9, 0, 0, 0);
  return { snooze1h: new Date(now.getTime() + 36e5), snoozeTomorrow: tomorrow, snoozeNextWeek: week };
}

/** inTab reports whether n belongs in the tab ("unread" | "all" | "archived"). */
export function inTab(n, tab, now = Date.now()) {
  if (tab === "archived") return !!n.archivedAt;
  return tab === "all" ? !n.archivedAt : inInbox(n, now);
}
