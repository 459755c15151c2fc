package readticket

import (
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

func TestMintVerify(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	id := "01M8XT3S2W5WFKCWY5WSA13D1P"
	tk := Mint(key, "user 42", id, now.Add(time.Hour))
	if u, err := Verify(key, tk, id, now); err != nil || u != "user 42" {
		t.Fatalf("Verify = %q, %v", u, err)
	}
	other := Mint(key, "user 43", id, now.Add(time.Hour))
	bad := map[string]struct {
		key        []byte
		ticket, id string
		at         time.Time
	}{
		"expired":           {key, tk, id, now.Add(time.Hour)},
		"another id":        {key, tk, "01M8XT3S2W5WFKCWY5WSA13D1Q", now},
		"another key":       {[]byte("another key, just as long as it..."), tk, id, now},
		"no signature":      {key, tk[:len(tk)-43], id, now},
		"garbage":           {key, "not a ticket", id, now},
		"empty":             {key, "", id, now},
		"swapped signature": {key, tk[:len(tk)-43] + other[len(other)-43:], id, now},
	}
	for name, c := range bad {
		if u, err := Verify(c.key, c.ticket, c.id, c.at); err == nil || tocsin.ErrorCodeOf(err) != tocsin.EUnauthorized {
			t.Errorf("%s: Verify = %q, %v; want EUnauthorized", name, u, err)
		}
	}
	// Every single-byte change of the ticket is refused.
	for i := range tk {
		b := []byte(tk)
		b[i] ^= 1
		if _, err := Verify(key, string(b), id, now); err == nil {
			t.Errorf("a ticket changed at byte %d verifies", i)
		}
	}
}
