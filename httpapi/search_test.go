package httpapi

import (
	"encoding/base64"
	"testing"

	"github.com/tocsin/tocsin"
)

// TestSearchCursorRoundTrip: a search's cursor reads back as its page's ceiling and
// offset, with the same words in any case, and with nothing else.
func TestSearchCursorRoundTrip(t *testing.T) {
	ceiling := "01M8Y28M0A3A8XGC89E0VQZ7EA"
	lq := tocsin.ListQuery{Q: "Pay fail", Status: tocsin.StatusUnread, Types: []string{"a", "b"}, Tag: "x"}
	c := searchCursor(lq, tocsin.Page{Ceiling: ceiling, NextOffset: 40})
	same := tocsin.ListQuery{Q: " pay, FAIL! ", Status: tocsin.StatusUnread, Types: []string{"a", "b"}, Tag: "x"}
	if err := parseCursor(c, &same); err != nil || same.Ceiling != ceiling || same.Offset != 40 || same.Before != "" {
		t.Fatalf("round trip: %+v %v", same, err)
	}
	for _, other := range []tocsin.ListQuery{
		{Q: "pay", Status: tocsin.StatusUnread, Types: []string{"a", "b"}, Tag: "x"},
		{Q: "pay fail", Status: tocsin.StatusAll, Types: []string{"a", "b"}, Tag: "x"},
		{Q: "pay fail", Status: tocsin.StatusUnread, Types: []string{"a"}, Tag: "x"},
		{Q: "pay fail", Status: tocsin.StatusUnread, Types: []string{"a", "b"}},
		{Status: tocsin.StatusUnread, Types: []string{"a", "b"}, Tag: "x"},
	} {
		if err := parseCursor(c, &other); tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
			t.Fatalf("cursor of %+v accepted for %+v", lq, other)
		}
	}
	list := base64.RawURLEncoding.EncodeToString([]byte(ceiling))
	if err := parseCursor(list, &tocsin.ListQuery{Q: "pay"}); tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
		t.Fatal("a list's cursor accepted for a search")
	}
}

// FuzzParseCursor: any cursor is either read into a query a store accepts or
// refused as invalid; never a panic, never an offset out of bounds.
func FuzzParseCursor(f *testing.F) {
	lq := tocsin.ListQuery{Q: "pay"}
	f.Add(searchCursor(lq, tocsin.Page{Ceiling: "01M8Y28M0A3A8XGC89E0VQZ7EA", NextOffset: 20}), "pay")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte("01M8Y28M0A3A8XGC89E0VQZ7EA")), "")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte("s1.01M8Y28M0A3A8XGC89E0VQZ7EA.-1.0011223344556677")), "pay")
	f.Fuzz(func(t *testing.T, c, q string) {
		got := tocsin.ListQuery{Q: q}
		err := parseCursor(c, &got)
		if err != nil {
			if tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
				t.Fatalf("cursor %q: %v is not invalid_request", c, err)
			}
			return
		}
		if got.Offset < 0 || got.Offset >= tocsin.MaxSearchResults || (got.Offset > 0) != (got.Ceiling != "") ||
			(got.Before != "" && q != "") {
			t.Fatalf("cursor %q read as %+v", c, got)
		}
	})
}
