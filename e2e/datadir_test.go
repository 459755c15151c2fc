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
	return serveCmd(t, addr, exec.Command(binary(t), append([]string{"serve", "--addr", addr, "--log-level", "warn"}, args...)...))
}

// serveCmd starts cmd, a tocsin serve on addr, and waits until it is ready.
func serveCmd(t *testing.T, addr string, cmd *exec.Cmd) *proc {
	t.Helper()
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

// chattrI sets or clears the immutable attribute of paths: file modes do not stop
// root, which the tests run as, and a read-only remount is refused while the store
// holds its files open; the attribute stops every write, even on open files. It
// skips the test where chattr does not work and clears the attribute at the end.
func chattrI(t *testing.T, on bool, paths ...string) {
	t.Helper()
	flag := "-i"
	if on {
		flag = "+i"
		t.Cleanup(func() { _ = exec.Command("chattr", append([]string{"-i"}, paths...)...).Run() })
	}
	if out, err := exec.Command("chattr", append([]string{flag}, paths...)...).CombinedOutput(); err != nil {
		if on {
			t.Skipf("chattr %s: %v %s", flag, err, out)
		}
		t.Fatalf("chattr %s: %v %s", flag, err, out)
	}
}

// TestReadOnlyDataDirIsRefusedAtStart: a server on a data dir it cannot write used to
// start, pass /readyz and answer every publish with 500 "internal error". Now it
// exits non-zero at start, saying what is wrong and what to do: on a read-only mount
// of the data dir (a bind mount in a private mount namespace), and with a store file
// that cannot be written in a writable dir.
func TestReadOnlyDataDirIsRefusedAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	p := startProc(t, freeAddr(t), dir)
	p.node.publish("ro", nil)
	// Killed, so that its -wal and -shm stay: with them, SQLite opens a read-only
	// store, and the server used to start and pass /readyz.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.wait()

	t.Run("read-only mount", func(t *testing.T) {
		if out, err := exec.Command("unshare", "-m", "sh", "-c", `mount --bind -o ro "$1" "$1"`, "sh", dir).CombinedOutput(); err != nil {
			t.Skipf("no private read-only bind mount here: %v %s", err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "unshare", "-m", "sh", "-c", `mount --bind -o ro "$1" "$1" && shift && exec "$@"`, "sh", dir,
			binary(t), "serve", "--addr", freeAddr(t), "--data-dir", dir, "--api-key", apiKey, "--jwt-secret", jwtSecret)
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("tocsin serve on a read-only data dir still running after 20s (it started):\n%s", out)
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("tocsin serve on a read-only data dir: %v, want a non-zero exit\n%s", err, out)
		}
		for _, want := range []string{dir, "not writable", "make it writable by the user tocsin runs as"} {
			if !strings.Contains(string(out), want) {
				t.Fatalf("the message does not say %q:\n%s", want, out)
			}
		}
	})

	t.Run("store file not writable", func(t *testing.T) {
		db := filepath.Join(dir, "tocsin.db")
		chattrI(t, true, db)
		err, out := runServe(t, 20*time.Second, "--addr", freeAddr(t), "--data-dir", dir)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("tocsin serve with a store it cannot write: %v, want a non-zero exit\n%s", err, out)
		}
		for _, want := range []string{"cannot write its store " + db, "writable by the user tocsin runs as"} {
			if !strings.Contains(out, want) {
				t.Fatalf("the message does not say %q:\n%s", want, out)
			}
		}
	})
}

// TestStoreThatTurnsReadOnlyIsNotReady: when the store's files stop taking writes
// while the server runs, /readyz answers 503 (so a load balancer stops sending it
// publishes it cannot store) and a publish answers 503 saying the store cannot write,
// not 500 "internal error"; when the files take writes again, both recover.
func TestStoreThatTurnsReadOnlyIsNotReady(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNode(t, "--data-dir", dir)
	tok := userToken(t, "rw")
	a := n.publish("rw", nil)
	if r := n.do("GET", "/readyz", "", nil); r.Status != 200 {
		t.Fatalf("readyz: %d %s", r.Status, r.Body)
	}
	db := filepath.Join(dir, "tocsin.db")
	chattrI(t, true, db, db+"-wal", dir)

	cannot := func(what string, r response) {
		t.Helper()
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		r.json(t, &e)
		if r.Status != http.StatusServiceUnavailable || e.Error.Code != "unavailable" ||
			!strings.Contains(e.Error.Message, "the store cannot write") || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s while the store cannot write: %d %s; want 503 saying the store cannot write", what, r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), dir) {
			t.Fatalf("%s: the answer shows the data dir: %s", what, r.Body)
		}
	}
	cannot("publish", n.do("POST", "/api/notifications", apiKey, map[string]any{"userId": "rw", "title": "x"}))
	cannot("mark read", n.do("PATCH", "/api/notifications/"+a.ID, tok, map[string]any{"read": true}))
	cannot("readyz", n.do("GET", "/readyz", "", nil))

	chattrI(t, false, db, db+"-wal", dir)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := n.do("GET", "/readyz", "", nil)
		if r.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz after the files took writes again: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.publish("rw", nil)
	if r := n.do("PATCH", "/api/notifications/"+a.ID, tok, map[string]any{"read": true}); r.Status != 200 {
		t.Fatalf("mark read after recovery: %d %s", r.Status, r.Body)
	}
}

// TestFullDiskAnswers503: a publish that the disk has no room for answers 503 saying
// the disk is full (it was a vague 503 before), on a data dir that is a small tmpfs
// of the server's own (a private mount namespace).
func TestFullDiskAnswers503(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	if out, err := exec.Command("unshare", "-m", "sh", "-c", `mount -t tmpfs -o size=600k tmpfs "$1"`, "sh", dir).CombinedOutput(); err != nil {
		t.Skipf("no private tmpfs mount here: %v %s", err, out)
	}
	addr := freeAddr(t)
	p := serveCmd(t, addr, exec.Command("unshare", "-m", "sh", "-c", `mount -t tmpfs -o size=600k tmpfs "$1" && shift && exec "$@"`, "sh", dir,
		binary(t), "serve", "--addr", addr, "--data-dir", dir, "--api-key", apiKey, "--jwt-secret", jwtSecret, "--log-level", "warn"))
	body := map[string]any{"userId": "full", "body": strings.Repeat("x", 16000)}
	for i := 0; ; i++ {
		r := p.node.do("POST", "/api/notifications", apiKey, body)
		if r.Status == http.StatusCreated {
			if i > 200 {
				t.Fatal("600 KiB took more than 200 publishes of 16 KB")
			}
			continue
		}
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), "the store cannot write: the disk is full") {
			t.Fatalf("publish %d on a full disk: %d %s; want 503 saying the disk is full", i, r.Status, r.Body)
		}
		break
	}
}
