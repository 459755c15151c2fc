package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/tocsin/tocsin"
)

// Cursors of GET /api/notifications are opaque to clients. A list's is base64url of
// the id of the last item of its page (ListQuery.Before). A search's pages by rank
// position, so its cursor is base64url of
//
//	s1.<ceiling id>.<offset>.<key>
//
// the newest id the first page could see (items that arrive later are left out,
// so they do not shift the pages), where the next page starts (below
// tocsin.MaxSearchResults), and the first 8 bytes (hex) of SHA-256 of the search's
// words and filters: a cursor is good only with the q, status, type and tag it was
// made for. A cursor is not signed: one forged in the right shape pages the user's
// own search, nothing more.
const searchCursorPrefix = "s1."

// searchKey identifies a search for its cursors: its words (case folded: the same
// matches) and filters.
func searchKey(lq tocsin.ListQuery) string {
	h := sha256.New()
	for _, t := range tocsin.SearchTerms(lq.Q) {
		h.Write([]byte(strings.ToLower(t)))
		h.Write([]byte{0})
	}
	h.Write([]byte{1})
	h.Write([]byte(lq.Status))
	h.Write([]byte{0})
	h.Write([]byte(strings.Join(lq.Types, ",")))
	h.Write([]byte{0})
	h.Write([]byte(lq.Tag))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func searchCursor(lq tocsin.ListQuery, p tocsin.Page) string {
	raw := searchCursorPrefix + p.Ceiling + "." + strconv.Itoa(p.NextOffset) + "." + searchKey(lq)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

var errBadCursor = tocsin.Errorf(tocsin.EInvalid, "cursor is not one this server made")

// parseCursor reads the cursor c into lq, whose Q and filters are already read: a
// list's cursor for a list, a search's for the same search.
func parseCursor(c string, lq *tocsin.ListQuery) error {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return errBadCursor
	}
	s := string(raw)
	if tocsin.ValidNotificationID(s) {
		if lq.Q != "" {
			return tocsin.Errorf(tocsin.EInvalid, "cursor is of a list without q: a search starts without a cursor")
		}
		lq.Before = s
		return nil
	}
	rest, ok := strings.CutPrefix(s, searchCursorPrefix)
	parts := strings.Split(rest, ".")
	if !ok || len(parts) != 3 || !tocsin.ValidNotificationID(parts[0]) {
		return errBadCursor
	}
	off, err := strconv.Atoi(parts[1])
	// Exactly as searchCursor writes it: no sign, no leading zeros.
	if err != nil || off <= 0 || off >= tocsin.MaxSearchResults || strconv.Itoa(off) != parts[1] ||
		len(parts[2]) != 16 || strings.ToLower(parts[2]) != parts[2] {
		return errBadCursor
	}
	if _, err := hex.DecodeString(parts[2]); err != nil {
		return errBadCursor
	}
	if lq.Q == "" {
		return tocsin.Errorf(tocsin.EInvalid, "cursor is of a search: send it with the q (and filters) of its first page")
	}
	if parts[2] != searchKey(*lq) {
		return tocsin.Errorf(tocsin.EInvalid, "cursor is of another search: send it with the q (and filters) of its first page")
	}
	lq.Ceiling, lq.Offset = parts[0], off
	return nil
}
