package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/tocsin/tocsin"
)

// search is list with q.Q: the user's items that match every word of the query
// (as a prefix of a word of the title, body or tags), ranked, through the FTS5
// index of migration 0010, scoped to the user by its owner token (ownerToken).
//
// Rank is which fields matched: the title (4), the tags (2), the body (1), summed,
// then newest first. Not bm25: its scores use statistics of the whole index (how
// many rows hold a word, the average length), which change with every publish of
// any user, so offset pages over them would repeat or skip items while others
// publish, and one user's ranking would depend on other users' notifications. Which
// fields of a row matched changes only when that row does, and PostgreSQL ranks the
// same way, so both stores give the same order.
func search(ctx context.Context, db querier, userID string, q tocsin.ListQuery) (tocsin.Page, error) {
	if err := tocsin.CheckSearchPage(q); err != nil {
		return tocsin.Page{}, err
	}
	var page tocsin.Page
	if match := ftsMatch(tocsin.SearchTerms(q.Q)); match != "" {
		match = ownerToken(userID) + " AND (" + match + ")"
		var err error
		if page, err = searchRows(ctx, db, userID, match, q); err != nil {
			return page, err
		}
	}
	var err error
	page.UnreadCount, err = unreadCount(ctx, db, userID, q.Now)
	return page, err
}

// ftsMatch is the FTS5 query of terms: each one quoted (a term holds only letters,
// numbers and marks, never a quote) and a prefix ("term"*); terms side by side
// are ANDed. "" when there is no term.
func ftsMatch(terms []string) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(`"` + strings.ReplaceAll(t, `"`, `""`) + `"*`)
	}
	return b.String()
}

// ownerToken is the FTS5 phrase of the token that migration 0010 indexes with every
// notification of userID: U+E000 then the id in hex (one token whatever the id
// holds; no search word can match it, see the migration).
func ownerToken(userID string) string {
	return "\"\uE000" + hex.EncodeToString([]byte(userID)) + "\""
}

// searchCols is selectCols of the notifications table: the index has columns
// of the same names.
var searchCols = func() string {
	cols := strings.Split(selectCols, ",")
	for i, c := range cols {
		cols[i] = "notifications." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()

// A field matched when highlight() marked something in it (columns 1-3: column 0 is
// the owner token). The first page's ceiling is the newest id of the user, read by
// the same statement (one snapshot).
//
// CROSS JOIN fixes the join order: the index's matches first, each looked up in
// notifications by rowid and kept if it is the user's. Left to itself, SQLite
// (3.54) walks the user's rows and probes the index once per row, and each probe
// of a prefix query merges the postings of every word with that prefix again:
// 3 s instead of 0.13 s for a prefix of every row of 100,000 (BenchmarkSearch).
// The owner token makes the index's matches the user's alone: the cost grows with
// how many of the user's rows match, plus FTS5 reading the postings of every word
// with the query's prefixes once (13–18 ms for a prefix of all 100,000 rows).
const sqlSearchHead = `WITH c(ceiling) AS (SELECT coalesce(?, (SELECT max(id) FROM notifications WHERE user_id = ?)))
	SELECT %s, c.ceiling FROM c CROSS JOIN notifications_fts
	CROSS JOIN notifications ON notifications.rowid = notifications_fts.rowid
	WHERE notifications_fts MATCH ? AND notifications.id <= c.ceiling AND %s
	ORDER BY (highlight(notifications_fts, 1, char(1), '') <> notifications.title) * 4
		+ (instr(highlight(notifications_fts, 3, char(1), ''), char(1)) > 0) * 2
		+ (highlight(notifications_fts, 2, char(1), '') <> notifications.body) DESC,
		notifications.id DESC
	LIMIT ? OFFSET ?`

func searchRows(ctx context.Context, db querier, userID, match string, q tocsin.ListQuery) (tocsin.Page, error) {
	var ceiling any // NULL: the first page, which reads it
	if q.Ceiling != "" {
		ceiling = q.Ceiling
	}
	where, fargs := listFilters(userID, q)
	args := append([]any{ceiling, userID, match}, fargs...)
	// One more than a page tells whether there is a next one, but never past the
	// last result a search reaches.
	args = append(args, min(q.Limit+1, tocsin.MaxSearchResults-q.Offset), q.Offset)
	rows, err := db.QueryContext(ctx, fmt.Sprintf(sqlSearchHead, searchCols, strings.Join(where, " AND ")), args...)
	if err != nil {
		return tocsin.Page{}, fmt.Errorf("search notifications: %w", err)
	}
	defer rows.Close()
	var page tocsin.Page
	for rows.Next() {
		n, err := scanNotification(withCeiling{rows, &page.Ceiling})
		if err != nil {
			return page, fmt.Errorf("search notifications: %w", err)
		}
		page.Notifications = append(page.Notifications, n)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("search notifications: %w", err)
	}
	if len(page.Notifications) > q.Limit {
		page.Notifications = page.Notifications[:q.Limit]
		page.NextOffset = q.Offset + q.Limit
	}
	return page, nil
}

// withCeiling scans a notification row that ends with the search's ceiling.
type withCeiling struct {
	rows    *sql.Rows
	ceiling *string
}

func (w withCeiling) Scan(dest ...any) error { return w.rows.Scan(append(dest, w.ceiling)...) }
