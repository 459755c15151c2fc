-- Each user's count of unread (not read, not archived) notifications, kept by every
-- change, so reading it is O(1) instead of counting rows. Expired items that the
-- sweep has not removed yet are subtracted at read time (a handful, for a second).
CREATE TABLE unread_counts (
    user_id TEXT PRIMARY KEY,
    n       INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO unread_counts (user_id, n)
    SELECT user_id, count(*) FROM notifications
    WHERE read_at IS NULL AND archived_at IS NULL GROUP BY user_id;
