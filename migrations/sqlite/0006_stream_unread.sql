-- Each user's unread count moves into the row of the user's stream, which every
-- change of the count already writes (its head): one page written per recipient of
-- a publish instead of two, and one statement instead of two. Streams without a
-- count (topics, users with nothing unread) hold 0. A row with head 0 is a stream
-- without events, exactly as a missing row.
ALTER TABLE streams ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;
INSERT INTO streams (stream, head, unread)
    SELECT 'user:' || user_id, 0, n FROM unread_counts WHERE true
    ON CONFLICT (stream) DO UPDATE SET unread = excluded.unread;
DROP TABLE unread_counts;
