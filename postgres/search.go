package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tocsin/tocsin"
)

// search is list with q.Q: the user's items that match every word of the query
// (as a prefix of a word of the title, body or tags), ranked, through the
// expression index of migration 0010.
//
// Rank is which fields matched, as in the SQLite store (see its search for why not
// a statistical score): the title (4), the tags (2), the body (1), summed, then
// newest first. A field matched when the document, whose lexemes carry their field
// as weight (A title, B body, C tags), matches any term restricted to that weight.
func search(ctx context.Context, db querier, userID string, q tocsin.ListQuery) (tocsin.Page, error) {
	if err := tocsin.CheckSearchPage(q); err != nil {
		return tocsin.Page{}, err
	}
	var page tocsin.Page
	if terms := tocsin.SearchTerms(q.Q); len(terms) > 0 {
		var err error
		if page, err = searchRows(ctx, db, userID, terms, q); err != nil {
			return page, err
		}
	}
	var err error
	page.UnreadCount, err = unreadCount(ctx, db, userID, q.Now)
	return page, err
}

// tsQuery is the to_tsquery text of terms: each quoted as a lexeme (a term holds
// only letters, numbers and marks; quotes and backslashes are escaped all the
// same), a prefix (:*), restricted to weights (e.g. "A"; "" any), joined by op.
func tsQuery(terms []string, weights, op string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		t = strings.ReplaceAll(strings.ReplaceAll(t, `\`, `\\`), `'`, `''`)
		parts[i] = "'" + t + "':*" + weights
	}
	return strings.Join(parts, " "+op+" ")
}

// The document expression in the WHERE must be the index's exactly. The inner
// query computes the document once more per row it finds (OFFSET 0 keeps the
// planner from folding it into the outer query, which would compute it again for
// each of the three ranking tests): a document is computed from the text, not
// stored (see migration 0010). The first page's ceiling is the newest id of the
// user, read by the same statement (one snapshot).
const sqlSearch = `WITH c AS (SELECT coalesce(%s::text, (SELECT max(id) FROM notifications WHERE user_id = $1)) AS ceiling)
	SELECT %s, ceiling FROM (
		SELECT notifications.*, c.ceiling, tocsin_search_doc(title, body, tags) AS doc FROM %s notifications, c
		WHERE %s AND id <= c.ceiling
		AND tocsin_search_doc(title, body, tags) @@ to_tsquery('simple', %s)
		OFFSET 0) found
	ORDER BY (doc @@ to_tsquery('simple', %s))::int * 4
		+ (doc @@ to_tsquery('simple', %s))::int * 2
		+ (doc @@ to_tsquery('simple', %s))::int DESC,
		id DESC
	LIMIT %s OFFSET %s`

// smallInbox is the most items a user may have for their search to read their
// items through the user's index and test each (computing its document, about
// 20 µs), instead of through the search index. The GIN index finds a prefix's
// matches of every user before the user's condition applies (a prefix match
// reads all its posting lists: 12-30 ms for a prefix all of 110,000 rows hold),
// and the planner, whose estimate of a prefix's matches is far too low (2 % of
// the rows for one they all hold), chose it even for a user of 110 items: that
// search cost what the whole table's matches cost. Below the bound a search
// costs at most about 10 ms whatever the other users store; above it the index
// is the better way for selective words (docs/benchmarks.md, "Full-text search").
// The count is a statement of its own (outside a transaction, a moment older than
// the search's): it chooses the way, never what is found.
const smallInbox = 500

func searchRows(ctx context.Context, db querier, userID string, terms []string, q tocsin.ListQuery) (tocsin.Page, error) {
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM notifications WHERE user_id = $1 LIMIT $2) mine`,
		userID, smallInbox+1).Scan(&n); err != nil {
		return tocsin.Page{}, fmt.Errorf("search notifications: %w", err)
	}
	sql, args := searchSQL(userID, terms, q, n <= smallInbox)
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return tocsin.Page{}, fmt.Errorf("search notifications: %w", err)
	}
	var page tocsin.Page
	ns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tocsin.Notification, error) {
		return scanNotification(withCeiling{r, &page.Ceiling})
	})
	if err != nil {
		return page, fmt.Errorf("search notifications: %w", err)
	}
	page.Notifications = ns
	if len(ns) > q.Limit {
		page.Notifications = ns[:q.Limit]
		page.NextOffset = q.Offset + q.Limit
	}
	return page, nil
}

// searchSQL is the statement of searchRows and its arguments. With small, the
// user's items are read first (OFFSET 0 keeps the planner from pushing the
// match into that subquery, where it would use the search index) and the
// match tests each of them.
func searchSQL(userID string, terms []string, q tocsin.ListQuery, small bool) (string, []any) {
	from := "notifications"
	if small {
		from = "(SELECT * FROM notifications WHERE user_id = $1 OFFSET 0)"
	}
	args := []any{userID, q.Now.UnixMilli()}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var ceiling *string // NULL: the first page, which reads it
	if q.Ceiling != "" {
		ceiling = &q.Ceiling
	}
	ceilingArg := arg(ceiling)
	where := listFilters(q, arg)
	// One more than a page tells whether there is a next one, but never past the
	// last result a search reaches.
	sql := fmt.Sprintf(sqlSearch, ceilingArg, selectCols, from, strings.Join(where, " AND "),
		arg(tsQuery(terms, "", "&")),
		arg(tsQuery(terms, "A", "|")), arg(tsQuery(terms, "C", "|")), arg(tsQuery(terms, "B", "|")),
		arg(min(q.Limit+1, tocsin.MaxSearchResults-q.Offset)), arg(q.Offset))
	return sql, args
}

// withCeiling scans a notification row that ends with the search's ceiling.
type withCeiling struct {
	row     pgx.Row
	ceiling *string
}

func (w withCeiling) Scan(dest ...any) error { return w.row.Scan(append(dest, w.ceiling)...) }
