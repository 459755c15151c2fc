-- Full-text search over title, body and tags (GET /api/notifications?q=). The
-- document of a notification is its words with the field as the weight: title A,
-- body B, tags C (the search ranks by which fields matched, with tsquery weight
-- filters such as 'pay':*A). The 'simple' configuration lowercases and does not
-- stem or drop stop words, like SQLite's unicode61; unlike it, it does not fold
-- diacritics ("café" is not found by "cafe"; unaccent is an extension we do not
-- require).
--
-- An expression index rather than a stored generated tsvector column: a publish
-- computes the document once either way (for the index), but a column would also
-- store it in every row, making each insert and every later read-state update
-- write a wider tuple. A search recomputes the document only for the rows it
-- matches, of one user.
--
-- array_to_string is only STABLE in general (element output functions), IMMUTABLE
-- for text[]; the wrapper says so, which an index expression requires. It is plain
-- SQL, so the planner inlines it and the query's expression matches the index's.
CREATE FUNCTION tocsin_search_doc(title text, body text, tags text[]) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('simple'::regconfig, title), 'A')
        || setweight(to_tsvector('simple'::regconfig, body), 'B')
        || setweight(to_tsvector('simple'::regconfig, array_to_string(tags, ' ')), 'C');
-- Built over what is already stored. GIN's pending list (fastupdate, the default)
-- keeps the cost of a publish low: new entries are merged into the index in bulk.
CREATE INDEX notifications_search ON notifications USING gin (tocsin_search_doc(title, body, tags));
