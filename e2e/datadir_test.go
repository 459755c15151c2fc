package e2e

import (
	"context"
	"errors"
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
