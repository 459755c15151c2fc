package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin/tocsin/config"
)

func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	sqlite := config.Config{DataDir: dir, APIKeys: []string{"k"}, JWTSecret: "s"}
	held, err := lockDataDir(viewOf(sqlite))
	if err != nil || len(held) != 1 {
		t.Fatalf("first lock: %v %v", held, err)
	}
	// A second holder, even in this process (another open file), is refused.
	_, err = lockDataDir(viewOf(sqlite))
	lock := filepath.Join(dir, LockName)
	if err == nil || !strings.Contains(err.Error(), lock) || !strings.Contains(err.Error(), "another tocsin is running") ||
		!strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second lock: %v; want a message naming %s and the holder", err, lock)
	}
	if fi, err := os.Stat(lock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v %v", fi, err)
	}
	for _, f := range held {
		f.Close()
	}
	again, err := lockDataDir(viewOf(sqlite))
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	for _, f := range again {
		f.Close()
	}

	// PostgreSQL with keys and a secret configured keeps nothing in the data dir:
	// nodes may share it. With a generated secret, the dir is used and locked.
	pg := config.Config{DataDir: dir, Store: "postgres://x/y", APIKeys: []string{"k"}, JWTSecret: "s"}
	if held, err := lockDataDir(viewOf(pg)); err != nil || len(held) != 0 {
		t.Fatalf("postgres, nothing generated: %v %v", held, err)
	}
	pg.APIKeys = nil
	if held, err := lockDataDir(viewOf(pg)); err != nil || len(held) != 1 {
		t.Fatalf("postgres with a generated key: %v %v", held, err)
	} else {
		held[0].Close()
	}

	// A SQLite store outside the data dir is locked beside it too.
	other := filepath.Join(t.TempDir(), "x.db")
	elsewhere := config.Config{DataDir: t.TempDir(), Store: "sqlite:" + other, APIKeys: []string{"k"}, JWTSecret: "s"}
	held, err = lockDataDir(viewOf(elsewhere))
	if err != nil || len(held) != 2 {
		t.Fatalf("store elsewhere: %v %v", held, err)
	}
	elsewhere.DataDir = t.TempDir()
	if _, err := lockDataDir(viewOf(elsewhere)); err == nil || !strings.Contains(err.Error(), other+".lock") {
		t.Fatalf("a second server on the same store with another data dir: %v", err)
	}
	for _, f := range held {
		f.Close()
	}
}
