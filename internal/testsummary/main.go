// Command testsummary is the README's test command: it runs
//
//	go test -race -json ARGS   (ARGS default ./...)
//
// prints what go test prints without -json (each package's ok/FAIL line, the output
// of failing tests in full, build errors), and ends with one line saying what
// skipped and why:
//
//	skipped 42 tests: 18 need TOCSIN_TEST_POSTGRES_URL (PostgreSQL), … — see README "Running every suite"
//
// In package-list mode go test hides everything a passing package prints, so a
// summary printed by the tests themselves would never be seen. Skips are grouped by
// their "needs KEY (LABEL)" prefix (internal/testenv.Need writes it); any other skip
// by its message. The exit status is go test's.
//
// Usage: go run ./internal/testsummary [go test flags] [packages]
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], "", os.Stdout, os.Stderr))
}

// run runs go test with args in dir ("" the current one), writes the readable
// output and the summary to stdout, and returns go test's exit status.
func run(args []string, dir string, stdout, stderr io.Writer) int {
	if !hasPackage(args) {
		args = append(args, "./...")
	}
	cmd := exec.Command("go", append([]string{"test", "-race", "-json"}, args...)...)
	cmd.Dir, cmd.Stderr = dir, stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 2
	}
	r := newReport(stdout)
	readErr := r.read(out)
	err = cmd.Wait()
	fmt.Fprintln(stdout, r.summary())
	if readErr != nil {
		fmt.Fprintln(stderr, "testsummary: reading go test's output:", readErr)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode()
	case err != nil:
		fmt.Fprintln(stderr, "testsummary:", err)
		return 2
	case readErr != nil:
		return 2
	}
	return 0
}

// hasPackage reports whether args name a package (an argument that is not a flag
// and not a flag's value). go test's flags that take a separate value are the
// ones a package could be mistaken for.
func hasPackage(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return true
		}
		if !strings.Contains(a, "=") && takesValue(strings.TrimLeft(a, "-")) {
			i++
		}
	}
	return false
}

// takesValue: the go test and test binary flags that take a value, given as
// "-flag value".
func takesValue(flag string) bool {
	switch strings.TrimPrefix(flag, "test.") {
	case "run", "skip", "bench", "benchtime", "count", "cpu", "parallel", "timeout", "tags", "p",
		"coverprofile", "covermode", "coverpkg", "cpuprofile", "memprofile", "blockprofile",
		"mutexprofile", "trace", "outputdir", "exec", "fuzz", "fuzztime", "fuzzminimizetime",
		"shuffle", "list", "o", "vet", "ldflags", "gcflags", "asmflags", "mod", "modfile", "C", "pgo":
		return true
	}
	return false
}
