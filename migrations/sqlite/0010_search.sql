-- Full-text search over title, body and tags (GET /api/notifications?q=): an FTS5
-- index whose content is the notifications themselves, so only the index is stored,
-- not a second copy of the text. unicode61 with remove_diacritics 2 folds case and
-- diacritics ("Café" is found by "cafe").
--
-- The content is a view rather than the table because tags are stored as a JSON
-- array, which json.Marshal writes with <, > and & as \u003c, \u003e, \u0026 and a
-- tab as \t: read raw, "R&D" would index as "r" and "u0026d". The view turns those
-- escapes into spaces; tags without a backslash (almost all) skip the replace() calls.
-- (A table-valued json_each cannot be used: FTS5 reads its content with virtual tables
-- disallowed.) The triggers index exactly what the view shows, so a 'rebuild' and
-- the triggers agree, which an external-content index requires (its 'delete' must
-- be given the values that were indexed).
--
-- Every row also indexes an owner token, U+E000 then the user id in hex, and a search
-- is "<owner token>" AND (its words): FTS5 intersects the words with the user's own
-- doclist, so a search reads and ranks only the user's matches, not every user's
-- (BenchmarkSearch: ~50 → ~15 ms where all 100,000 rows match and the user owns 100).
-- No search word can match the token: the words are runs of letters, numbers and
-- marks, and U+E000 (private use) is none of those but is a token character to
-- unicode61. A text holding such a token only adds its row to another user's doclist,
-- where the search's user_id condition drops it.
--
-- Options, measured per row published (docs/benchmarks.md): detail=column and
-- detail=none save 2 and 5 µs of the ~20 the index costs, but support no phrases,
-- which a word becomes when the tokenizer splits it where SearchTerms does not (0,
-- U+0351, 0: a mark to Go, a separator to unicode61; the fuzz seeds hold it);
-- detail=none also made searches 4x slower. columnsize=0 drops the per-row sizes
-- that only bm25 reads (2.5 µs).
-- Most of what the index adds to a publish is FTS5 writing a segment (b-tree) per
-- commit and merging segments: automerge 16 merges 16 segments of a level at a time
-- where the default merges 4, so each entry is rewritten about half as often (a
-- publish of 32 rows per commit: 33 → 28 µs of CPU a row, 13 without the index); a
-- search reads up to 15 segments per level instead of 3 (one b-tree seek each per
-- query word; not measured on a fragmented index).
--
-- The index is keyed by the notifications' rowid (implicit: their primary key is
-- the text id). Nothing in tocsin runs VACUUM; an operator who does should run
--   INSERT INTO notifications_fts(notifications_fts) VALUES ('rebuild');
-- after it, since VACUUM may renumber the rowids of such a table.
CREATE VIEW notifications_search AS
    SELECT rowid AS rid, char(57344) || hex(user_id) AS owner, title, body,
        CASE WHEN instr(tags, '\') = 0 THEN tags ELSE replace(replace(replace(replace(tags, '\u003c', ' '), '\u003e', ' '), '\u0026', ' '), '\t', ' ') END AS tags
    FROM notifications;
CREATE VIRTUAL TABLE notifications_fts USING fts5(
    owner, title, body, tags,
    content = 'notifications_search', content_rowid = 'rid',
    columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('automerge', 16);
-- Every change of the text keeps the index: a publish inserts, grouping rewrites the
-- title, body and tags, and delete, expiry and retention remove rows. A read-state
-- change (UPDATE OF seen_at, read_at, archived_at) does not fire the update trigger,
-- nor does anything else (a notification's user_id never changes). Tags without a
-- backslash (almost all) skip the four replace() calls.
CREATE TRIGGER notifications_fts_insert AFTER INSERT ON notifications BEGIN
    INSERT INTO notifications_fts (rowid, owner, title, body, tags) VALUES (new.rowid, char(57344) || hex(new.user_id), new.title, new.body,
        CASE WHEN instr(new.tags, '\') = 0 THEN new.tags ELSE replace(replace(replace(replace(new.tags, '\u003c', ' '), '\u003e', ' '), '\u0026', ' '), '\t', ' ') END);
END;
CREATE TRIGGER notifications_fts_delete AFTER DELETE ON notifications BEGIN
    INSERT INTO notifications_fts (notifications_fts, rowid, owner, title, body, tags) VALUES ('delete', old.rowid, char(57344) || hex(old.user_id), old.title, old.body,
        CASE WHEN instr(old.tags, '\') = 0 THEN old.tags ELSE replace(replace(replace(replace(old.tags, '\u003c', ' '), '\u003e', ' '), '\u0026', ' '), '\t', ' ') END);
END;
CREATE TRIGGER notifications_fts_update AFTER UPDATE OF title, body, tags ON notifications BEGIN
    INSERT INTO notifications_fts (notifications_fts, rowid, owner, title, body, tags) VALUES ('delete', old.rowid, char(57344) || hex(old.user_id), old.title, old.body,
        CASE WHEN instr(old.tags, '\') = 0 THEN old.tags ELSE replace(replace(replace(replace(old.tags, '\u003c', ' '), '\u003e', ' '), '\u0026', ' '), '\t', ' ') END);
    INSERT INTO notifications_fts (rowid, owner, title, body, tags) VALUES (new.rowid, char(57344) || hex(new.user_id), new.title, new.body,
        CASE WHEN instr(new.tags, '\') = 0 THEN new.tags ELSE replace(replace(replace(replace(new.tags, '\u003c', ' '), '\u003e', ' '), '\u0026', ' '), '\t', ' ') END);
END;
-- What is already stored is indexed now.
INSERT INTO notifications_fts (notifications_fts) VALUES ('rebuild');
