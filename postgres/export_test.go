package postgres

import "github.com/tocsin/tocsin"

// SearchSQL is the statement a search of q by userID runs (small: the user has
// at most SmallInbox items), for tests that explain its plan.
func SearchSQL(userID string, q tocsin.ListQuery, small bool) (string, []any) {
	return searchSQL(userID, tocsin.SearchTerms(q.Q), q, small)
}

// SmallInbox is smallInbox.
const SmallInbox = smallInbox
