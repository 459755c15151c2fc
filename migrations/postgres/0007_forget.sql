-- A deleted or expired notification's content must be gone from the event log too
-- (see the SQLite step of the same number for what each column is for).
ALTER TABLE notifications ADD COLUMN seq bigint;
ALTER TABLE events ADD COLUMN ref text;
ALTER TABLE events ADD COLUMN expires_at bigint;
UPDATE events SET ref = convert_from(data, 'UTF8')::jsonb ->> 'id'
    WHERE name IN ('notification', 'notification:updated') AND stream LIKE 'user:%';
-- What was deleted or expired before this version is forgotten now.
UPDATE events e SET name = 'notification:deleted', data = convert_to('{"id":"' || e.ref || '"}', 'UTF8'), ref = NULL
    WHERE e.ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.id = e.ref);
CREATE INDEX events_ref ON events (ref) WHERE ref IS NOT NULL;
CREATE INDEX events_expires ON events (expires_at) WHERE expires_at IS NOT NULL;
