package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records a skip or a failure; like testing's, both
// end the goroutine (run calls fn in one).
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, a ...any) {
	r.skipped = fmt.Sprintf(format, a...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, a ...any) {
	r.failed = fmt.Sprintf(format, a...)
	runtime.Goexit()
}

// run calls fn with r as a test would, returning when fn returns or ends.
func (r *recorder) run(fn func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
}

// TestNeedMessages: a missing service skips with "needs VARIABLE (LABEL): how" (what
// the test summary groups by) outside CI, and fails in CI; OptIn skips in both.
func TestNeedMessages(t *testing.T) {
	t.Setenv("TOCSIN_TEST_POSTGRES_URL", "")
	t.Setenv("TOCSIN_TEST_X_URL", "")
	t.Setenv("TOCSIN_TEST_NOPE", "")
	t.Setenv("PATH", t.TempDir())
	t.Setenv("TOCSIN_SOAK", "")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		for _, tc := range []struct {
			call func(testing.TB)
			want string
		}{
			{func(tb testing.TB) { Postgres(tb) }, "needs TOCSIN_TEST_POSTGRES_URL (PostgreSQL): set TOCSIN_TEST_POSTGRES_URL=postgres://"},
			{func(tb testing.TB) { URL(tb, "TOCSIN_TEST_X_URL") }, "needs TOCSIN_TEST_X_URL (TOCSIN_TEST_X_URL): set TOCSIN_TEST_X_URL to run"},
			{func(tb testing.TB) { Program(tb, "TOCSIN_TEST_NOPE", "no-such-program-x") }, "needs TOCSIN_TEST_NOPE (no-such-program-x): no-such-program-x is not on PATH"},
		} {
			r := &recorder{TB: t}
			r.run(tc.call)
			got := r.skipped
			if ci != "" {
				got = r.failed
				if r.skipped != "" {
					t.Errorf("CI=%s: skipped %q, want a failure", ci, r.skipped)
				}
			}
			if prefix, how, _ := strings.Cut(tc.want, "): "); !strings.HasPrefix(got, prefix+"): ") || !strings.Contains(got, how) {
				t.Errorf("CI=%q: %q, want it to start with %q", ci, got, tc.want)
			}
		}
		r := &recorder{TB: t}
		v := "unset"
		r.run(func(tb testing.TB) { v = OptIn(tb, "TOCSIN_SOAK", "the fault soak", "set it") })
		if v != "unset" || r.failed != "" ||
			r.skipped != "needs TOCSIN_SOAK (the fault soak): set it" {
			t.Errorf("CI=%q: OptIn skipped %q, failed %q", ci, r.skipped, r.failed)
		}
	}
	t.Setenv("TOCSIN_SOAK", "2m")
	if v := OptIn(&recorder{TB: t}, "TOCSIN_SOAK", "the fault soak", "set it"); v != "2m" {
		t.Errorf("OptIn = %q", v)
	}
}
