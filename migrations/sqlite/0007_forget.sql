-- A deleted or expired notification's content must be gone from the event log too:
-- every earlier event of it is rewritten, in the transaction that removes it, to
-- notification:deleted {"id": ...} at the same position. To find those events:
--   notifications.seq  the position of the item's "notification" event in its user's
--                      stream, set by the multi-row publish (a value in a row it
--                      writes anyway: no index, so publishing costs nothing more);
--   events.ref         the notification a later event carries (notification:updated,
--                      the "notification" event of a one-by-one publish, a topic
--                      notification that expires), indexed only where set.
--   events.expires_at  a topic notification's expiresAt (topic notifications have
--                      no inbox row): the expiry sweep forgets it at that time.
ALTER TABLE notifications ADD COLUMN seq INTEGER;
ALTER TABLE events ADD COLUMN ref TEXT;
ALTER TABLE events ADD COLUMN expires_at INTEGER;
UPDATE events SET ref = json_extract(CAST(data AS TEXT), '$.id')
    WHERE name IN ('notification', 'notification:updated') AND stream LIKE 'user:%';
-- What was deleted or expired before this version is forgotten now.
UPDATE events SET name = 'notification:deleted', data = CAST('{"id":"' || ref || '"}' AS BLOB), ref = NULL
    WHERE ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.id = events.ref);
CREATE INDEX events_ref ON events (ref) WHERE ref IS NOT NULL;
CREATE INDEX events_expires ON events (expires_at) WHERE expires_at IS NOT NULL;
