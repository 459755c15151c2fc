package tocsin

import (
	"testing"
	"time"
)

// IDAt is deterministic, has the shape of an id, and sorts by its time like New's.
func TestIDAt(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	e1, e2 := [10]byte{1, 2, 3}, [10]byte{9, 9, 9}
	a, b := IDAt(t0, e1), IDAt(t0, e1)
	if a != b || !ValidNotificationID(a) {
		t.Fatalf("IDAt: %q, %q", a, b)
	}
	if IDAt(t0, e2) == a {
		t.Errorf("other entropy, same id %s", a)
	}
	var g IDGen
	if n := g.New(t0); n[:10] != a[:10] {
		t.Errorf("time part of New %s differs from IDAt's %s", n, a)
	}
	if later := IDAt(t0.Add(time.Millisecond), [10]byte{}); later <= IDAt(t0, [10]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("a later id %s does not sort after", later)
	}
}
