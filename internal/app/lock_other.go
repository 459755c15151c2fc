//go:build !unix

package app

import "os"

// lockFile creates path but takes no lock: advisory locks are taken on Unix only.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
