//go:build !linux

package httpapi

import (
	"errors"
	"net"
	"syscall"
)

// rawWriter: not-waiting writes are Linux-only; elsewhere a stream keeps a goroutine
// of its own and writes with a deadline.
func rawWriter(net.Conn) (syscall.RawConn, bool) { return nil, false }

func writeNow(syscall.RawConn, [][]byte) (int, error) {
	return 0, errors.ErrUnsupported
}
