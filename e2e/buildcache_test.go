package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The e2e tests run real binaries, and a cold `go build -race` of the server takes
// longer than most of the tests it serves. So each program is built once per test
// process (sync.Once), into a cache shared by test processes and runs: the user's
// cache directory, tocsin-e2e/<key>/, where the key hashes what the build depends
// on: the module's files but its tests (sources, embedded files, go.mod and go.sum),
// the toolchain and its environment, the flags and the package. A run with nothing
// changed reuses the binary; any change to the server's code makes a new one.
//
// Parallel test processes (go test ./... runs packages at once) may build the same
// key together: each builds to a temporary name and renames it into place, which is
// atomic, so a reader sees a whole binary or none.

// builds is the programs built by this process, by package and flags.
type builds struct {
	mu   sync.Mutex
	once map[string]*built
}

type built struct {
	once sync.Once
	path string
	err  error
}

var programs = builds{once: map[string]*built{}}

// program returns the path of pkg (relative to e2e/) built with flags, from the
// cache or built now.
func program(t *testing.T, pkg string, flags ...string) string {
	t.Helper()
	id := pkg + " " + strings.Join(flags, " ")
	programs.mu.Lock()
	b := programs.once[id]
	if b == nil {
		b = &built{}
		programs.once[id] = b
	}
	programs.mu.Unlock()
	b.once.Do(func() { b.path, b.err = cachedBuild(pkg, flags) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// maxCacheAge is how long an unused binary stays in the cache.
const maxCacheAge = 3 * 24 * time.Hour

func cachedBuild(pkg string, flags []string) (string, error) {
	key, err := buildKey(pkg, flags)
	if err != nil {
		return "", err
	}
	root, err := os.UserCacheDir()
	if err != nil {
		root = os.TempDir()
	}
	root = filepath.Join(root, "tocsin-e2e")
	dir := filepath.Join(root, key)
	bin := filepath.Join(dir, filepath.Base(pkg))
	if _, err := os.Stat(bin); err == nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // in use: keep it (see prune)
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".building-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // a no-op once renamed
	args := append(append([]string{"build"}, flags...), "-o", tmp.Name(), pkg)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	prune(root, dir)
	return bin, nil
}

// prune removes the cached builds not used for maxCacheAge, but keep, so old
// versions do not pile up. A process still running one keeps its file open.
func prune(root, keep string) {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		p := filepath.Join(root, e.Name())
		if info, err := e.Info(); err == nil && p != keep && time.Since(info.ModTime()) > maxCacheAge {
			_ = os.RemoveAll(p)
		}
	}
}

// buildKey hashes what a build of pkg with flags depends on. It reads every file of
// the module but tests, VCS metadata, node_modules and test artifacts: a file that
// the build does not use only costs a needless rebuild when it changes.
func buildKey(pkg string, flags []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "pkg %s\nflags %q\n", pkg, flags)
	env, err := exec.Command("go", "env", "GOVERSION", "GOOS", "GOARCH", "GOAMD64", "GOARM64",
		"CGO_ENABLED", "CC", "GOFLAGS", "GOEXPERIMENT", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	fmt.Fprintf(h, "env %s\n", env)
	err = filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != ".." && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "artifacts" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "file %s\n", filepath.ToSlash(p))
		_, err = io.Copy(h, f)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("hash the module: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}
