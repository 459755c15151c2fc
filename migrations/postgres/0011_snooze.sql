-- Snooze: an item snoozed until snoozed_until (unix ms) is left out of the unread
-- list, the unread count and the init snapshot until its wake job (a row of jobs,
-- kind 'wake') clears the column. No index: every query that leaves snoozed items
-- out reads through an index of the user's items already, and snoozed items are a
-- handful per user.
ALTER TABLE notifications ADD COLUMN snoozed_until bigint;
