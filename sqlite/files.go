package sqlite

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
)

// privateFiles makes the store's files readable by their owner only (0600): they hold
// every notification. SQLite creates a database with 0644 (less the umask) and gives
// its -wal and -shm the database's own mode, so the database is created here first
// with 0600, and the files of a store made by an older version, or copied in, are
// narrowed to their owner's bits. A file that cannot be changed (not ours, a
// read-only file system) is logged; a store that cannot be written is refused later,
// by the write check at Open.
func privateFiles(path string, log *slog.Logger) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case err == nil:
			f.Close()
		case errors.Is(err, fs.ErrExist):
		default:
			return err
		}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
			log.Warn("cannot make a store file readable by its owner only", "file", p, "mode", fi.Mode().Perm().String(), "err", err)
		}
	}
	return nil
}
