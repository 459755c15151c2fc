-- Full-text search over title, body and tags (GET /api/notifications?q=): an FTS5
-- index whose content is the notifications themselves, so only the index is stored,
-- not a second copy of the text. unicode61 with remove_diacritics 2 folds case and
-- diacritics ("Café" is found by "cafe").
--
-- The content is a view rather than the table because tags are stored as a JSON
-- array, which json.Marshal writes with <, > and & as \u003c, \u003e, \u0026 and a
-- tab as \t: read raw, "R&D" would index as "r" and "u0026d". The view turns those
-- escapes into spaces (a table-valued json_each cannot be used: FTS5 reads its
-- content with virtual tables disallowed). The triggers index exactly what the view
-- shows, so a 'rebuild' and the triggers agree, which an external-content index
-- requires (its 'delete' must be given the values that were indexed).
--
-- The index is keyed by the notifications' rowid (implicit: their primary key is
-- the text id). Nothing in tocsin runs VACUUM; an operator who does should run
--   INSERT INTO notifications_fts(notifications_fts) VALUES ('rebuild');
-- after it, since VACUUM may renumber the rowids of such a table.
CREATE VIEW notifications_search AS
    SELECT rowid AS rid, title, body,
        replace(replace(replace(replace(tags, '\u003c', ' '), '\u003e', ' '), '\u0026', ' '), '\t', ' ') AS tags
    FROM notifications;
CREATE VIRTUAL TABLE notifications_fts USING fts5(
    title, body, tags,
    content = 'notifications_search', content_rowid = 'rid',
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Every change of the text keeps the index: a publish inserts, grouping rewrites the
-- title, body and tags, and delete, expiry and retention remove rows. A read-state
-- change (UPDATE OF seen_at, read_at, archived_at) does not fire the update trigger.
CREATE TRIGGER notifications_fts_insert AFTER INSERT ON notifications BEGIN
    INSERT INTO notifications_fts (rowid, title, body, tags) VALUES (new.rowid, new.title, new.body,
        replace(replace(replace(replace(new.tags, '\u003c', ' '), '\u003e', ' '), '\u0026', ' '), '\t', ' '));
END;
CREATE TRIGGER notifications_fts_delete AFTER DELETE ON notifications BEGIN
    INSERT INTO notifications_fts (notifications_fts, rowid, title, body, tags) VALUES ('delete', old.rowid, old.title, old.body,
        replace(replace(replace(replace(old.tags, '\u003c', ' '), '\u003e', ' '), '\u0026', ' '), '\t', ' '));
END;
CREATE TRIGGER notifications_fts_update AFTER UPDATE OF title, body, tags ON notifications BEGIN
    INSERT INTO notifications_fts (notifications_fts, rowid, title, body, tags) VALUES ('delete', old.rowid, old.title, old.body,
        replace(replace(replace(replace(old.tags, '\u003c', ' '), '\u003e', ' '), '\u0026', ' '), '\t', ' '));
    INSERT INTO notifications_fts (rowid, title, body, tags) VALUES (new.rowid, new.title, new.body,
        replace(replace(replace(replace(new.tags, '\u003c', ' '), '\u003e', ' '), '\u0026', ' '), '\t', ' '));
END;
-- What is already stored is indexed now.
INSERT INTO notifications_fts (notifications_fts) VALUES ('rebuild');
