package httpapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

func TestCheckFanout(t *testing.T) {
	t.Parallel()
	in := func(users int, body string) *tocsin.PublishInput {
		p := &tocsin.PublishInput{Title: "t", Body: body}
		if users == 1 {
			p.UserID = "u"
		} else {
			for i := range users {
				p.UserIDs = append(p.UserIDs, fmt.Sprintf("user-%d%s", i, strings.Repeat("x", i%7)))
			}
		}
		if err := p.Validate(time.Now()); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := &Server{cfg: Config{MaxFanoutBytes: 1 << 20}}
	for _, tc := range []struct {
		name    string
		in      *tocsin.PublishInput
		bodyLen int
		refused bool
	}{
		{"one recipient, small", in(1, "hi"), 100, false},
		{"many recipients, small", in(500, "hi"), 8000, false},
		{"many recipients, large", in(100, strings.Repeat("b", 16<<10)), 20000, true},
		{"escaping counts: < is six bytes encoded", in(200, strings.Repeat("<", 1000)), 9000, true},
	} {
		err := s.checkFanout(tc.in, tc.bodyLen)
		if (err != nil) != tc.refused {
			t.Errorf("%s: %v, want refused=%v", tc.name, err, tc.refused)
		}
		if err != nil && (tocsin.ErrorCodeOf(err) != tocsin.ETooLarge || !strings.Contains(err.Error(), "--max-fanout-bytes")) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	off := &Server{}
	if err := off.checkFanout(in(100, strings.Repeat("b", 16<<10)), 20000); err != nil {
		t.Fatalf("0 is off: %v", err)
	}
	for n, want := range map[int64]string{512: "512 bytes", 1536: "1.5 KiB", 64 << 20: "64 MiB", 70_000_000: "66.8 MiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
