//go:build linux

package httpapi

import (
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawWriter returns what writes to conn's socket without waiting: a plain TCP
// connection (TLS must go through its encrypting Write), on Linux.
func rawWriter(conn net.Conn) (syscall.RawConn, bool) {
	if _, isTLS := conn.(*tls.Conn); isTLS {
		return nil, false
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	return rc, err == nil
}

// maxIov stays under the kernel's IOV_MAX (1024) per writev.
const maxIov = 1024

// writeNow writes as much of bufs as the socket takes at once (the fd is
// non-blocking, as every socket of Go's runtime is) and returns how many bytes that
// was; a full socket buffer is no error.
func writeNow(rc syscall.RawConn, bufs [][]byte) (int, error) {
	total := 0
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for len(bufs) > 0 {
			chunk := bufs[:min(len(bufs), maxIov)]
			want := 0
			for _, b := range chunk {
				want += len(b)
			}
			n, err := unix.Writev(int(fd), chunk)
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				return true
			}
			if err != nil {
				werr = err
				return true
			}
			total += n
			if n < want {
				return true // the socket took part: the rest would wait
			}
			bufs = bufs[len(chunk):]
		}
		return true // never wait for writability here
	})
	if err == nil {
		err = werr
	}
	return total, err
}
