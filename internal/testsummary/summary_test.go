package main

import (
	"bytes"
	"strings"
	"testing"
)

// events is go test -json output of two packages: one with a passing, a skipped
// (needs), a skipped (other) and a failing test with a subtest, one that does not
// build, plus a line that is not JSON.
const events = `{"Action":"start","Package":"p/a"}
{"Action":"run","Package":"p/a","Test":"TestOK"}
{"Action":"output","Package":"p/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"p/a","Test":"TestOK","Output":"    a_test.go:5: a passing test's log\n"}
{"Action":"output","Package":"p/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"p/a","Test":"TestOK","Elapsed":0}
{"Action":"run","Package":"p/a","Test":"TestPG"}
{"Action":"output","Package":"p/a","Test":"TestPG","Output":"=== RUN   TestPG\n"}
{"Action":"output","Package":"p/a","Test":"TestPG","Output":"    testenv.go:40: needs TOCSIN_TEST_POSTGRES_URL (PostgreSQL): set TOCSIN_TEST_POSTGRES_URL=postgres://x\n"}
{"Action":"output","Package":"p/a","Test":"TestPG","Output":"--- SKIP: TestPG (0.00s)\n"}
{"Action":"skip","Package":"p/a","Test":"TestPG","Elapsed":0}
{"Action":"output","Package":"p/a","Test":"TestPG2","Output":"    testenv.go:40: needs TOCSIN_TEST_POSTGRES_URL (PostgreSQL): set it\n"}
{"Action":"skip","Package":"p/a","Test":"TestPG2","Elapsed":0}
{"Action":"output","Package":"p/a","Test":"TestShort","Output":"=== RUN   TestShort\n"}
{"Action":"output","Package":"p/a","Test":"TestShort","Output":"--- SKIP: TestShort (0.00s)\n"}
{"Action":"output","Package":"p/a","Test":"TestShort","Output":"    e2e_test.go:12: builds and runs the binary\n"}
{"Action":"skip","Package":"p/a","Test":"TestShort","Elapsed":0}
{"Action":"output","Package":"p/a","Test":"TestBad/sub","Output":"=== RUN   TestBad/sub\n"}
{"Action":"output","Package":"p/a","Test":"TestBad/sub","Output":"    a_test.go:9: got 1, want 2\n"}
{"Action":"output","Package":"p/a","Test":"TestBad/sub","Output":"    --- FAIL: TestBad/sub (0.00s)\n"}
{"Action":"fail","Package":"p/a","Test":"TestBad/sub","Elapsed":0}
{"Action":"output","Package":"p/a","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"p/a","Test":"TestBad","Elapsed":0}
{"Action":"output","Package":"p/a","Output":"FAIL\n"}
{"Action":"output","Package":"p/a","Output":"FAIL\tp/a\t0.01s\n"}
{"Action":"fail","Package":"p/a","Elapsed":0.01}
{"ImportPath":"p/b [p/b.test]","Action":"build-output","Output":"# p/b\n"}
{"ImportPath":"p/b [p/b.test]","Action":"build-output","Output":"b.go:3:1: syntax error\n"}
{"ImportPath":"p/b [p/b.test]","Action":"build-fail"}
{"Action":"start","Package":"p/b"}
{"Action":"output","Package":"p/b","Output":"FAIL\tp/b [build failed]\n"}
{"Action":"fail","Package":"p/b","Elapsed":0}
not json at all
{"Action":"start","Package":"p/c"}
{"Action":"output","Package":"p/c","Output":"PASS\n"}
{"Action":"output","Package":"p/c","Output":"ok  \tp/c\t0.02s\n"}
{"Action":"pass","Package":"p/c","Elapsed":0.02}
{"Action":"output","Package":"p/d","Output":"?   \tp/d\t[no test files]\n"}
{"Action":"skip","Package":"p/d","Elapsed":0}
`

func TestReport(t *testing.T) {
	var out bytes.Buffer
	r := newReport(&out)
	if err := r.read(strings.NewReader(events)); err != nil {
		t.Fatal(err)
	}
	want := "    a_test.go:9: got 1, want 2\n" +
		"    --- FAIL: TestBad/sub (0.00s)\n" +
		"--- FAIL: TestBad (0.00s)\n" +
		"FAIL\n" +
		"FAIL\tp/a\t0.01s\n" +
		"# p/b\n" +
		"b.go:3:1: syntax error\n" +
		"FAIL\tp/b [build failed]\n" +
		"not json at all\n" +
		"ok  \tp/c\t0.02s\n" +
		"?   \tp/d\t[no test files]\n"
	if out.String() != want {
		t.Errorf("output\n%s\nwant\n%s", out.String(), want)
	}
	const sum = `skipped 3 tests: 2 need TOCSIN_TEST_POSTGRES_URL (PostgreSQL), 1 "builds and runs the binary" — see README "Running every suite"`
	if got := r.summary(); got != sum {
		t.Errorf("summary\n%s\nwant\n%s", got, sum)
	}
}

func TestSummaryNothingSkipped(t *testing.T) {
	r := newReport(&bytes.Buffer{})
	if err := r.read(strings.NewReader(`{"Action":"pass","Package":"p","Test":"TestA"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	if got := r.summary(); got != "no tests skipped" {
		t.Errorf("summary %q", got)
	}
}

func TestSkipReason(t *testing.T) {
	for _, tc := range []struct {
		out  []string
		want string
	}{
		{[]string{"    x.go:1: needs root (a private tmpfs mount): run as root\n"}, "need root (a private tmpfs mount)"},
		{[]string{"--- SKIP: TestX (0.00s)\n", "    x_test.go:3: " + strings.Repeat("long ", 20) + "\n"}, `"` + strings.Repeat("long ", 11) + `lo..."`},
		{[]string{"=== RUN   TestX\n", "--- SKIP: TestX (0.00s)\n"}, `"no reason given"`},
	} {
		if got := skipReason(tc.out); got != tc.want {
			t.Errorf("skipReason(%q) = %s, want %s", tc.out, got, tc.want)
		}
	}
}

func TestHasPackage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-count=1"}, false},
		{[]string{"-run", "TestX", "-count", "1"}, false},
		{[]string{"-run", "TestX", "./httpapi"}, true},
		{[]string{"./..."}, true},
		{[]string{"-v", "-short", "."}, true},
	} {
		if got := hasPackage(tc.args); got != tc.want {
			t.Errorf("hasPackage(%q) = %v", tc.args, got)
		}
	}
}

// TestRunFixture runs the real go test on testdata/fixture: its output is go
// test's without -v, its last line the summary, its status go test's.
func TestRunFixture(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	for _, tc := range []struct {
		fail   bool
		status int
	}{{false, 0}, {true, 1}} {
		t.Setenv("FIXTURE_FAIL", map[bool]string{true: "1"}[tc.fail])
		var out, errOut bytes.Buffer
		status := run([]string{"-count=1"}, "testdata/fixture", &out, &errOut)
		if status != tc.status {
			t.Errorf("fail %v: status %d, want %d\n%s%s", tc.fail, status, tc.status, out.String(), errOut.String())
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		const sum = `skipped 4 tests: 2 need TOCSIN_TEST_CHROMIUM (chromium), 1 needs TOCSIN_TEST_POSTGRES_URL (PostgreSQL), 1 "not on this platform" — see README "Running every suite"`
		if last := lines[len(lines)-1]; last != sum {
			t.Errorf("fail %v: last line\n%s\nwant\n%s", tc.fail, last, sum)
		}
		text := out.String()
		if strings.Contains(text, "passing tests' logs") || strings.Contains(text, "=== RUN") {
			t.Errorf("fail %v: output has what go test without -v hides:\n%s", tc.fail, text)
		}
		if tc.fail != strings.Contains(text, "the failure message") || tc.fail != strings.Contains(text, "--- FAIL: TestMaybeFail") ||
			tc.fail != strings.Contains(text, "FAIL\tfixture") || tc.fail == strings.Contains(text, "ok  \tfixture") {
			t.Errorf("fail %v: output\n%s", tc.fail, text)
		}
	}
}
