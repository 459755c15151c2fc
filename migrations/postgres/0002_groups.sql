-- Grouping: a publish with a groupKey folds into the user's unread item of that key.
CREATE INDEX notifications_group ON notifications (user_id, group_key)
    WHERE group_key <> '' AND read_at IS NULL AND archived_at IS NULL;
