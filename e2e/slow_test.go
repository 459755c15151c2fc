package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSlowClientIsCutOffOthersKeepUp: a client that stops reading fills its socket,
// then its queue, and is disconnected as a slow consumer, while publishes go on being
// acknowledged and another stream of the same user gets every event in order. The
// slow stream's pending write is finished in the background, never by a worker that
// other streams wait on.
func TestSlowClientIsCutOffOthersKeepUp(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--queue-size", "8", "--write-timeout", "3s", "--rate-publish", "0", "--rate-user", "0")
	tok := userToken(t, "slowpoke")

	// The slow client: a raw socket with a small receive buffer that reads the
	// response head and then nothing.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	slow, err := d.Dial("tcp", strings.TrimPrefix(n.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "GET /api/notifications/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", tok)
	br := bufio.NewReaderSize(slow, 512)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("slow stream: %q %v", status, err)
	}

	fast := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	fast.expect("init")
	waitFor(t, func() bool { return n.streamsOpen() == 2 })

	big := strings.Repeat("x", 15*1024)
	const total = 600 // ~9 MB: more than the slow socket's buffers on both ends hold
	for i := 1; i <= total; i++ {
		n.publish("slowpoke", map[string]any{"body": big})
		ev := fast.expect("notification")
		if got := seqOf(t, ev.ID); got != uint64(i) {
			t.Fatalf("fast stream got seq %d, want %d", got, i)
		}
		fast.expect("unread")
	}

	// The slow stream was cut: reading now drains what reached it, then EOF (or a
	// reset), long before all 600 could have been written.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.Copy(io.Discard, br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("slow stream still open after %d bytes", got)
	}
	if got >= int64(total*len(big)) {
		t.Fatalf("slow stream got %d bytes: everything, it was never cut", got)
	}
	waitFor(t, func() bool { return n.streamsOpen() == 1 })
	r := n.do("GET", "/metrics", "", nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "tocsin_slow_consumer_disconnects_total 1") {
		t.Fatalf("metrics: want one slow consumer disconnect:\n%s", grepLines(string(r.Body), "slow_consumer"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}

func (n *node) streamsOpen() int { return n.app.Hub().OpenStreams() }
