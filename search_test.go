package tocsin

import (
	"slices"
	"strings"
	"testing"
)

func TestSearchTerms(t *testing.T) {
	for q, want := range map[string][]string{
		"Payment failed":         {"Payment", "failed"},
		`"pay"* OR -x:y (NEAR)`:  {"pay", "OR", "x", "y", "NEAR"},
		"café crème\u00a0brûlée": {"café", "crème", "brûlée"},
		"e\u0301 \u0301 ٣٤":      {"e\u0301", "٣٤"}, // a mark alone is no word
		"...!!!":                 nil,
		"R&D":                    {"R", "D"},
		strings.Repeat("w ", 20): slices.Repeat([]string{"w"}, MaxSearchTerms),
	} {
		if got := SearchTerms(q); !slices.Equal(got, want) {
			t.Errorf("SearchTerms(%q) = %q, want %q", q, got, want)
		}
	}
}

func TestValidSearch(t *testing.T) {
	for q, ok := range map[string]bool{
		"pay":                                  true,
		"!!!":                                  true,
		strings.Repeat("a", MaxSearchLen):      true,
		strings.Repeat("a", MaxSearchLen+1):    false,
		"\xff":                                 false,
		"a\x01b":                               false,
		"a\u0085b":                             false, // C1 control
		strings.Repeat("w ", MaxSearchTerms):   true,
		strings.Repeat("w ", MaxSearchTerms+1): false,
	} {
		err := ValidSearch(q)
		if (err == nil) != ok || (err != nil && ErrorCodeOf(err) != EInvalid) {
			t.Errorf("ValidSearch(%.20q) = %v, want ok=%v", q, err, ok)
		}
	}
	if CheckSearchPage(ListQuery{Offset: MaxSearchResults}) == nil || CheckSearchPage(ListQuery{Offset: -1}) == nil ||
		CheckSearchPage(ListQuery{Offset: MaxSearchResults - 1}) != nil {
		t.Error("CheckSearchPage bounds")
	}
}
