package sqlite_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/sqlite"
)

// immutable sets (on) or clears the immutable attribute of paths (chattr: file modes
// do not stop root, which the tests run as; the attribute does, even for files
// already open). It skips the test where chattr does not work, and clears the
// attribute when the test ends.
func immutable(t *testing.T, on bool, paths ...string) {
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

// TestUnwritableStoreIsRefusedAtOpen: a store whose files cannot be written opened
// (read-only) and read as if all were well, and every publish then failed; Open now
// refuses it, saying what is wrong and what to do.
func TestUnwritableStoreIsRefusedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tocsin.db")
	open(t, path).Close()
	immutable(t, true, path)
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a store it cannot write")
	}
	for _, want := range []string{path, "cannot write its store", "writable by the user tocsin runs as"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Open: %v; want it to say %q", err, want)
		}
	}
}

// TestStoreThatTurnsReadOnly: when the files stop taking writes while the store
// runs, changes fail with a clear EUnavailable (a 503, not a 500 "internal error")
// and Ping reports it, until the files take writes again.
func TestStoreThatTurnsReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tocsin.db")
	s := open(t, path)
	defer s.Close()
	ctx := context.Background()
	publish := func() error {
		_, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("u")}})
		return err
	}
	if err := publish(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	immutable(t, true, path, path+"-wal", dir)
	cannot := func(what string, err error) {
		t.Helper()
		if tocsin.ErrorCodeOf(err) != tocsin.EUnavailable || !strings.Contains(tocsin.ErrorMessageOf(err), "the store cannot write: its files cannot be written") {
			t.Fatalf("%s: %v; want EUnavailable saying the files cannot be written", what, err)
		}
	}
	cannot("publish", publish())
	_, _, err := s.ReadAll(ctx, "u", time.Now())
	cannot("read-all", err)
	cannot("ping", s.Ping(ctx))
	if strings.Contains(tocsin.ErrorMessageOf(s.Ping(ctx)), dir) {
		t.Fatal("the client-facing message shows the store's path")
	}

	immutable(t, false, path, path+"-wal", dir)
	deadline := time.Now().Add(5 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Ping still failing after the files took writes again: %v", s.Ping(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := publish(); err != nil {
		t.Fatalf("publish after recovery: %v", err)
	}
}
