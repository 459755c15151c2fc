package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runServe runs `tocsin serve` with args and waits (up to timeout) for it to exit,
// returning its exit error and what it wrote to stderr. A server that is still
// running at the timeout is killed and reported as such.
func runServe(t *testing.T, timeout time.Duration, args ...string) (error, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), append([]string{"serve", "--api-key", apiKey, "--jwt-secret", jwtSecret,
		"--log-level", "warn"}, args...)...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("tocsin serve %v still running after %v (it started):\n%s", args, timeout, out)
	}
	return err, string(out)
}

// TestSecondServerOnOneDataDirRefuses: a second tocsin on a data dir that a running
// one uses exits non-zero with a message naming the lock, instead of serving beside
// it (a publish on one would never reach the other's streams). Once the first is
// killed with SIGKILL, the kernel has released the lock and a new one starts.
func TestSecondServerOnOneDataDirRefuses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	first := startProc(t, freeAddr(t), dir)

	err, out := runServe(t, 20*time.Second, "--addr", freeAddr(t), "--data-dir", dir)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("second server: %v, want a non-zero exit\n%s", err, out)
	}
	lock := filepath.Join(dir, "tocsin.lock")
	if !strings.Contains(out, lock) || !strings.Contains(out, "another tocsin is running") {
		t.Fatalf("second server's message does not name the lock %s and say why:\n%s", lock, out)
	}
	// The first one is untouched.
	first.node.publish("lock", nil)

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.wait()
	again := startProc(t, freeAddr(t), dir)
	again.node.publish("lock", nil)
	if got := again.node.listAll(t, "lock"); len(got) != 2 {
		t.Fatalf("after the restart: %d notifications, want 2", len(got))
	}
}

// serveOwn runs `tocsin serve` on addr with exactly args (no key or secret added, so
// it generates them in its data dir) and waits until it is ready.
func serveOwn(t *testing.T, addr string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve", "--addr", addr, "--log-level", "warn"}, args...)...)
	cmd.Stderr = &testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, URL: "http://" + addr, exited: make(chan struct{})}
	p.node = &node{t: t, URL: p.URL}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("server exited: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server on %s not ready: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// modes returns the permission bits of the named files of dir ("" for the dir).
func modes(t *testing.T, dir string, names ...string) map[string]os.FileMode {
	t.Helper()
	out := map[string]os.FileMode{}
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatalf("stat %s: %v", n, err)
		}
		out[n] = fi.Mode().Perm()
	}
	return out
}

// TestDataFilesAreOwnerOnly: the store's files (tocsin.db, -wal, -shm) and the
// generated secrets are 0600 whether the data dir is new or already existed (0755,
// as a user or a package makes it), and files an older version left 0644 are narrowed
// at start. A data dir the server creates is 0700.
func TestDataFilesAreOwnerOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	files := []string{"tocsin.db", "tocsin.db-wal", "tocsin.db-shm", "api-key", "jwt-secret", "tocsin.lock"}
	check := func(dir string) {
		t.Helper()
		for name, m := range modes(t, dir, files...) {
			if m != 0o600 {
				t.Errorf("%s has mode %v, want 0600", name, m)
			}
		}
	}

	existing := t.TempDir()
	if err := os.Chmod(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := serveOwn(t, addr, "--data-dir", existing)
	key, _ := os.ReadFile(filepath.Join(existing, "api-key"))
	if r := p.node.do("POST", "/api/notifications", strings.TrimSpace(string(key)), map[string]any{"userId": "modes"}); r.Status != 201 {
		t.Fatalf("publish with the generated key: %d %s", r.Status, r.Body)
	}
	check(existing)
	if m := modes(t, existing, "")[""]; m != 0o755 {
		t.Errorf("the existing data dir's mode changed to %v", m)
	}

	// Files left readable by others (an older version, a copy) are narrowed at start.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.wait()
	for _, f := range files {
		if err := os.Chmod(filepath.Join(existing, f), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	serveOwn(t, freeAddr(t), "--data-dir", existing)
	check(existing)

	fresh := filepath.Join(t.TempDir(), "new", "data")
	serveOwn(t, freeAddr(t), "--data-dir", fresh)
	check(fresh)
	if m := modes(t, fresh, "")[""]; m != 0o700 {
		t.Errorf("the data dir the server made has mode %v, want 0700", m)
	}
}
