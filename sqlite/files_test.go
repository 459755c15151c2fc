package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tocsin/tocsin"
)

// TestFilesAreOwnerOnly: a new store's files, -wal and -shm included (SQLite gives
// them the database's mode), are 0600, and an old store's 0644 files are narrowed.
func TestFilesAreOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tocsin.db")
	check := func() {
		t.Helper()
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(f)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v %v, want mode 0600", f, fi.Mode(), err)
			}
		}
	}
	s := open(t, path)
	if _, err := s.Publish(context.Background(), &tocsin.PublishRequest{Notifications: []tocsin.Notification{note("u")}}); err != nil {
		t.Fatal(err)
	}
	check()
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s2 := open(t, path) // a second open of the same files, as after an upgrade
	defer s2.Close()
	check()
	s.Close()
}
