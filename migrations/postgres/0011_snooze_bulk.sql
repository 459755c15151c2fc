-- Snooze: an item snoozed until snoozed_until (unix ms) is left out of the unread
-- list, the unread count and the init snapshot until its wake job (a row of jobs,
-- kind 'wake') clears the column. No index: every query that leaves snoozed items
-- out reads through an index of the user's items already, and snoozed items are a
-- handful per user.
ALTER TABLE notifications ADD COLUMN snoozed_until bigint;

-- The items a "notifications:updated" event (a bulk update) carries, one row each:
-- events.ref names one notification, a bulk event many. Removing an item takes its
-- copy out of these events too (forget.go), and its rows with it, so the table
-- holds rows only of items that still exist.
CREATE TABLE event_refs (
    ref    text NOT NULL,
    stream text NOT NULL,
    seq    bigint NOT NULL,
    PRIMARY KEY (ref, stream, seq)
);
