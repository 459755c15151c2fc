// Unit tests of <tocsin-inbox>'s pure helpers (web/inbox/util.js): which URLs become
// links, the grouped line, relative times, the snooze choices and which tab an item
// belongs to. Run by e2e (TestInboxHelpersInNode) or: node --test web/inbox.unit.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { fmt, safeUrl, groupSummary, relTime, snoozeTimes, inTab, typeIcon, STRINGS } from "./inbox/util.js";

test("safeUrl keeps http and https only", () => {
  assert.equal(safeUrl("https://example.com/a?b=1"), "https://example.com/a?b=1");
  assert.equal(safeUrl("http://example.com"), "http://example.com/");
  for (const bad of ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<b>", "vbscript:x", "//evil.example", "", null, 42, {}]) {
    assert.equal(safeUrl(bad), "", String(bad));
  }
  assert.equal(safeUrl("/path", "https://app.example/"), "https://app.example/path");
});

test("fmt fills placeholders and keeps unknown ones", () => {
  assert.equal(fmt("Notifications, {n} unread", { n: 3 }), "Notifications, 3 unread");
  assert.equal(fmt("{a} {b}", { a: "x" }), "x {b}");
});

test("groupSummary names the actors, else counts", () => {
  const n = (count, data) => ({ count, data });
  assert.equal(groupSummary(n(1, { actorName: "Ana" }), STRINGS), "");
  assert.equal(groupSummary(n(5, { actorName: "Ana", verb: "commented" }), STRINGS), "Ana and 4 others commented");
  assert.equal(groupSummary(n(2, { actors: [{ name: "Bo" }, "Ana"] }), STRINGS), "Bo and 1 other");
  assert.equal(groupSummary(n(3, { actors: ["Lin"] }), STRINGS), "Lin and 2 others");
  assert.equal(groupSummary(n(7, {}), STRINGS), "7 new");
  assert.equal(groupSummary(n(4, { actorName: 42, verb: {} }), STRINGS), "4 new");
});

test("relTime is relative and localized", () => {
  const now = Date.parse("2026-06-01T12:00:00Z");
  assert.equal(relTime("2026-06-01T11:59:50Z", "en", now, "just now"), "just now");
  assert.equal(relTime("2026-06-01T11:58:00Z", "en", now, "just now"), "2 min. ago");
  assert.equal(relTime("2026-06-01T09:00:00Z", "en", now, "just now"), "3 hr. ago");
  assert.equal(relTime("2026-05-31T12:00:00Z", "en", now, "just now"), "yesterday");
  assert.equal(relTime("2026-05-31T12:00:00Z", "de", now, "gerade"), "gestern");
  assert.equal(relTime("not a time", "en", now, "just now"), "");
});

test("snoozeTimes: an hour, tomorrow 9:00, next Monday 9:00", () => {
  const now = new Date(2026, 5, 3, 22, 30); // a Wednesday, local time
  const t = snoozeTimes(now);
  assert.equal(t.snooze1h.getTime() - now.getTime(), 3600e3);
  assert.deepEqual([t.snoozeTomorrow.getDate(), t.snoozeTomorrow.getHours()], [4, 9]);
  assert.deepEqual([t.snoozeNextWeek.getDay(), t.snoozeNextWeek.getDate(), t.snoozeNextWeek.getHours()], [1, 8, 9]);
  const monday = snoozeTimes(new Date(2026, 5, 8, 8, 0));
  assert.equal(monday.snoozeNextWeek.getDate(), 15, "from a Monday: the next one");
});

test("inTab sorts items into Unread, All and Archived", () => {
  const now = Date.now();
  const unread = { id: "a" }, read = { id: "b", readAt: "2026-01-01T00:00:00Z" };
  const archived = { id: "c", archivedAt: "2026-01-01T00:00:00Z" };
  const snoozed = { id: "d", snoozedUntil: new Date(now + 60000).toISOString() };
  // The server clears snoozedUntil when the snooze ends; until then any value is snoozed
  // (the page's clock may differ from the server's).
  const woke = { id: "e", snoozedUntil: null };
  const late = { id: "f", snoozedUntil: new Date(now - 1000).toISOString() };
  const tabs = (n) => ["unread", "all", "archived"].filter((t) => inTab(n, t, now)).join();
  assert.equal(tabs(unread), "unread,all");
  assert.equal(tabs(read), "all");
  assert.equal(tabs(archived), "archived");
  assert.equal(tabs(snoozed), "all");
  assert.equal(tabs(woke), "unread,all");
  assert.equal(tabs(late), "all");
});

test("typeIcon by keyword", () => {
  assert.equal(typeIcon("comment"), "comment");
  assert.equal(typeIcon("order.paid"), "order");
  assert.equal(typeIcon("payment_failed"), "order");
  assert.equal(typeIcon("security-alert"), "alert");
  assert.equal(typeIcon("deploy"), "system");
  assert.equal(typeIcon("xyz"), "bell");
  assert.equal(typeIcon(""), "bell");
});
