// tocsin JavaScript client: the inbox store's rules, served at /client-inbox.js and
// imported by /client.js. Pure functions of the events' data, so the store's
// behaviour can be tested (and reused by the <tocsin-inbox> component) without a
// connection.
//
// The store holds what an "Unread" tab shows: notifications that are unread, not
// archived and not snoozed, newest first.

/**
 * isNotificationsRead reports whether d has the shape of a `notifications:read`
 * event's data: {"ids": [...], "readAt"} or {"before": "<id>", "readAt"}.
 */
export function isNotificationsRead(d) {
  if (!d || typeof d !== "object" || typeof d.readAt !== "string") return false;
  if (Array.isArray(d.ids)) return d.ids.every((id) => typeof id === "string");
  return typeof d.before === "string" && d.before !== "";
}

/**
 * readCovers reports whether the `notifications:read` event d marked notification n
 * read: n is listed in d.ids, or (d.before) n's id sorts at or before d.before and n
 * was unread and not archived. Notification ids are fixed-length, time-sortable ASCII
 * strings, so JavaScript's string order is the server's byte order.
 */
export function readCovers(d, n) {
  if (!isNotificationsRead(d) || !n || typeof n.id !== "string") return false;
  if (Array.isArray(d.ids)) return d.ids.includes(n.id);
  return n.id <= d.before && !n.readAt && !n.archivedAt;
}

/**
 * isSnoozed reports whether n is snoozed at time now (ms) by this page's clock: its
 * snoozedUntil is a time still ahead (for showing "snoozed until ..."). The server
 * hides it from unread and the count until then, and sends notification:updated,
 * with snoozedUntil null, when it comes back.
 */
export function isSnoozed(n, now = Date.now()) {
  if (!n || !n.snoozedUntil) return false;
  const t = Date.parse(n.snoozedUntil);
  return !Number.isNaN(t) && t > now;
}

/**
 * inInbox reports whether n belongs in the store: unread, not archived, not snoozed.
 * Any snoozedUntil counts as snoozed, without looking at the clock: the server
 * clears it when the snooze ends and sends the item again (notification:updated),
 * and the page's clock may be off from the server's (a page ahead by a minute would
 * show a one-minute snooze at once).
 */
export function inInbox(n) {
  return !!n && typeof n.id === "string" && !n.readAt && !n.archivedAt && !n.snoozedUntil;
}

/**
 * withNewest returns list (newest first) with n added at its place by id: ids sort
 * by creation time, so an item that comes back (unsnoozed, marked unread) goes where
 * it was, not to the top.
 */
export function withNewest(list, n) {
  const out = list.filter((m) => m.id !== n.id);
  const i = out.findIndex((m) => typeof m.id === "string" && m.id < n.id);
  if (i < 0) out.push(n);
  else out.splice(i, 0, n);
  return out;
}

/**
 * applyUpdated returns list after a `notification:updated` with the notification d
 * (or one item of `notifications:updated`): replaced in place while it belongs in the
 * store, removed once read, archived or snoozed, put back at its place once it
 * belongs again.
 */
export function applyUpdated(list, d) {
  if (!d || typeof d.id !== "string") return list;
  const i = list.findIndex((n) => n.id === d.id);
  if (!inInbox(d)) return i >= 0 ? list.filter((n) => n.id !== d.id) : list;
  if (i < 0) return withNewest(list, d);
  const out = list.slice();
  out[i] = d;
  return out;
}

/** isNotificationsUpdated reports whether d is a `notifications:updated` event's data. */
export function isNotificationsUpdated(d) {
  return !!d && typeof d === "object" && Array.isArray(d.notifications) &&
    d.notifications.every((n) => n && typeof n === "object" && typeof n.id === "string");
}
