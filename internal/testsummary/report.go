package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// event is one line of go test -json (cmd/test2json's TestEvent).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output, build-fail
	Test       string
	Output     string
}

// report turns test2json events back into go test's own output and counts skips.
type report struct {
	w io.Writer
	// tests holds the output of each running test (package, then test name) until
	// it ends: printed if it fails, read for the reason if it skips, else dropped.
	tests map[string]map[string][]string
	pkg   map[string][]string // output of each package outside its tests
	// skips counts skipped tests by reason: "need KEY (LABEL)" or the message.
	skips map[string]int
	total int
}

func newReport(w io.Writer) *report {
	return &report{w: w, tests: map[string]map[string][]string{}, pkg: map[string][]string{}, skips: map[string]int{}}
}

// read handles every line of r: JSON events, and any other line as it is.
func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			fmt.Fprintf(r.w, "%s\n", line)
			continue
		}
		r.handle(ev)
	}
	return sc.Err()
}

func (r *report) handle(ev event) {
	switch {
	case ev.Action == "build-output":
		io.WriteString(r.w, ev.Output)
	case ev.Action == "output" && ev.Test != "":
		if r.tests[ev.Package] == nil {
			r.tests[ev.Package] = map[string][]string{}
		}
		r.tests[ev.Package][ev.Test] = append(r.tests[ev.Package][ev.Test], ev.Output)
	case ev.Action == "output":
		r.pkg[ev.Package] = append(r.pkg[ev.Package], ev.Output)
	case ev.Test != "" && (ev.Action == "pass" || ev.Action == "skip" || ev.Action == "fail"):
		out := r.tests[ev.Package][ev.Test]
		delete(r.tests[ev.Package], ev.Test)
		switch ev.Action {
		case "skip":
			r.skips[skipReason(out)]++
			r.total++
		case "fail":
			r.printLines(out)
		}
	case ev.Test == "" && (ev.Action == "pass" || ev.Action == "skip" || ev.Action == "fail"):
		if ev.Action == "fail" {
			// Tests that never ended (a panic, a timeout) hold the why.
			running := r.tests[ev.Package]
			for _, name := range slices.Sorted(maps.Keys(running)) {
				r.printLines(running[name])
			}
		}
		delete(r.tests, ev.Package)
		r.printLines(r.pkg[ev.Package])
		delete(r.pkg, ev.Package)
	}
}

// printLines prints output as go test without -v would: without the progress
// lines of -v (=== RUN and the like) and the bare PASS of a passing package.
func (r *report) printLines(lines []string) {
	for _, l := range lines {
		if strings.HasPrefix(l, "=== ") || l == "PASS\n" {
			continue
		}
		io.WriteString(r.w, l)
	}
}

var (
	// needPattern is internal/testenv.Need's prefix: needs KEY (LABEL).
	needPattern = regexp.MustCompile(`needs (\S+) \(([^)]*)\)`)
	// sourcePrefix is what t.Skip puts before the message: "    file_test.go:12: ".
	sourcePrefix = regexp.MustCompile(`^\s*\S+\.go:\d+: `)
)

// skipReason is the reason of a skipped test from its output: "need KEY (LABEL)"
// when it says so, else its message (its first line, clipped).
func skipReason(out []string) string {
	for _, l := range out {
		if m := needPattern.FindStringSubmatch(l); m != nil {
			return "need " + m[1] + " (" + m[2] + ")"
		}
	}
	for _, l := range out {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		t = strings.TrimSpace(sourcePrefix.ReplaceAllString(l, ""))
		if len(t) > 60 {
			t = strings.ToValidUTF8(t[:57], "") + "..."
		}
		return fmt.Sprintf("%q", t)
	}
	return `"no reason given"`
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// summary is the one closing line: what skipped, most frequent reason first.
func (r *report) summary() string {
	if r.total == 0 {
		return "no tests skipped"
	}
	type group struct {
		reason string
		n      int
	}
	var gs []group
	for reason, n := range r.skips {
		gs = append(gs, group{reason, n})
	}
	// What a variable turns on first, then other reasons; each by count.
	slices.SortFunc(gs, func(a, b group) int {
		aOther, bOther := !strings.HasPrefix(a.reason, "need "), !strings.HasPrefix(b.reason, "need ")
		return cmp.Or(compareBool(aOther, bOther), cmp.Compare(b.n, a.n), strings.Compare(a.reason, b.reason))
	})
	parts := make([]string, len(gs))
	for i, g := range gs {
		reason := g.reason
		if g.n == 1 && strings.HasPrefix(reason, "need ") {
			reason = "needs " + strings.TrimPrefix(reason, "need ")
		}
		parts[i] = fmt.Sprintf("%d %s", g.n, reason)
	}
	tests := "tests"
	if r.total == 1 {
		tests = "test"
	}
	return fmt.Sprintf(`skipped %d %s: %s — see README "Running every suite"`, r.total, tests, strings.Join(parts, ", "))
}
