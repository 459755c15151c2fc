package tocsin

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of a full-text search (ListQuery.Q).
const (
	// MaxSearchLen is the longest Q in bytes.
	MaxSearchLen = 200
	// MaxSearchTerms is how many words of Q a search uses at most; the HTTP API
	// refuses a q with more.
	MaxSearchTerms = 16
	// MaxSearchResults is how deep a search pages: its best MaxSearchResults matches
	// (a narrower query finds the rest). It bounds the work of one page, which
	// must rank and skip everything before its offset.
	MaxSearchResults = 1000
)

// SearchTerms splits a search into its words: runs of letters, numbers and marks,
// everything else separating them, at most MaxSearchTerms. The stores match each
// word as a prefix of a word of the title, body or tags, and every word must match
// (AND); they quote each word themselves, so nothing the user types is ever read as
// search syntax (FTS5 operators, tsquery operators, quotes). No word: nothing
// matches.
func SearchTerms(q string) []string {
	terms := searchWords(q)
	if len(terms) > MaxSearchTerms {
		terms = terms[:MaxSearchTerms]
	}
	return terms
}

func searchWords(q string) []string {
	var terms []string
	for _, t := range strings.FieldsFunc(q, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r))
	}) {
		// Marks alone are no word: the stores' tokenizers drop them (SQLite folds
		// diacritics away), which would leave an empty term.
		if strings.IndexFunc(t, func(r rune) bool { return !unicode.IsMark(r) }) < 0 {
			continue
		}
		terms = append(terms, t)
	}
	return terms
}

// ValidSearch checks a search as a client sent it (q=): at most MaxSearchLen bytes of
// printable UTF-8 with at most MaxSearchTerms words. A q of punctuation alone is
// valid (it finds nothing).
func ValidSearch(q string) error {
	if len(q) > MaxSearchLen {
		return Errorf(EInvalid, "q is longer than %d bytes", MaxSearchLen)
	}
	if !utf8.ValidString(q) {
		return Errorf(EInvalid, "q is not valid UTF-8")
	}
	for _, r := range q {
		if unicode.IsControl(r) {
			return Errorf(EInvalid, "q contains a control character")
		}
	}
	if n := len(searchWords(q)); n > MaxSearchTerms {
		return Errorf(EInvalid, "q has %d words; at most %d are allowed", n, MaxSearchTerms)
	}
	return nil
}

// CheckSearchPage checks the page a search asks for: its Offset within
// MaxSearchResults. The stores call it; the HTTP API makes no other offsets.
func CheckSearchPage(q ListQuery) error {
	if q.Offset < 0 || q.Offset >= MaxSearchResults {
		return Errorf(EInvalid, "a search pages through its best %d matches", MaxSearchResults)
	}
	return nil
}
