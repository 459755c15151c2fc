//go:build unix

package sqlite

import (
	"errors"
	"os"
	"syscall"
)

// unwritable tells why the first of paths (that exists) cannot be written, asking
// the kernel (access(2): a read-only mount, an immutable file, the modes), and which
// one; "" when every one can. Unlike the modes alone, this holds for root too.
func unwritable(paths ...string) (why, path string) {
	const wOK = 2
	for _, p := range paths {
		err := syscall.Access(p, wOK)
		switch {
		case err == nil, errors.Is(err, os.ErrNotExist):
			continue
		case errors.Is(err, syscall.EROFS):
			return "its file system is mounted read-only", p
		default:
			return "its files cannot be written (permissions, or an immutable file)", p
		}
	}
	return "", ""
}
