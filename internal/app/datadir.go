package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tocsin/tocsin/config"
)

// LockName is the lock file of a data dir.
const LockName = "tocsin.lock"

// errLocked: another process holds the lock.
var errLocked = errors.New("held by another process")

// dataDirUsed reports whether the node keeps anything in the data dir: the SQLite
// store (by default) or a generated secret. A PostgreSQL node with its keys and
// secret configured keeps nothing there.
func dataDirUsed(cfg configView) bool {
	return cfg.sqlitePath != "" || cfg.generatesSecrets
}

// configView is what the data dir rules need of the configuration.
type configView struct {
	dataDir          string
	sqlitePath       string // "" unless the store is SQLite
	generatesSecrets bool
}

func viewOf(cfg config.Config) configView {
	v := configView{dataDir: cfg.DataDir,
		generatesSecrets: len(cfg.APIKeys) == 0 || (cfg.JWTSecret == "" && cfg.JWTPublicKey == "")}
	if p, ok := strings.CutPrefix(cfg.StoreURL(), "sqlite:"); ok {
		v.sqlitePath = p
	}
	return v
}

// lockDataDir makes one data dir one server: it takes an exclusive lock on
// <data dir>/tocsin.lock for the life of the process, so a second tocsin on the same
// dir refuses to start instead of running beside the first on the same database
// (where a publish on one would never reach the other's streams). A SQLite store
// outside the data dir is locked too, by <db>.lock beside it. It returns the files
// holding the locks, or an error that names the lock and says what to do.
func lockDataDir(cfg configView) ([]*os.File, error) {
	if !dataDirUsed(cfg) {
		return nil, nil
	}
	paths := []string{filepath.Join(cfg.dataDir, LockName)}
	if cfg.sqlitePath != "" && !sameDir(filepath.Dir(cfg.sqlitePath), cfg.dataDir) {
		paths = append(paths, cfg.sqlitePath+".lock")
	}
	var held []*os.File
	for _, p := range paths {
		f, err := lockFile(p)
		if err != nil {
			for _, h := range held {
				h.Close()
			}
			return nil, lockError(p, err)
		}
		held = append(held, f)
	}
	return held, nil
}

func lockError(path string, err error) error {
	switch {
	case errors.Is(err, errLocked):
		return fmt.Errorf("another tocsin is running on this data dir: the lock %s is %v; stop that server first, or give this one its own --data-dir (one data dir is one server)", path, err)
	case isReadOnly(err):
		return fmt.Errorf("cannot create the lock file %s: the data dir is not writable (%v); make it writable by the user tocsin runs as, or choose another --data-dir", path, err)
	default:
		return fmt.Errorf("lock %s: %w", path, err)
	}
}

func sameDir(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && filepath.Clean(aa) == filepath.Clean(bb)
}

// isReadOnly reports whether err is a refusal to write: a read-only file system or
// missing permission.
func isReadOnly(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS)
}
