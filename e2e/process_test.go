package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin/tocsin/sse"
)

// binary is ./cmd/tocsin built with the race detector (buildcache_test.go).
func binary(t *testing.T) string {
	t.Helper()
	return program(t, "../cmd/tocsin", "-race")
}

// proc is a tocsin serve process.
type proc struct {
	cmd    *exec.Cmd
	URL    string
	node   *node         // for the request helpers
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited
}

// wait waits for the process to exit and returns its status.
func (p *proc) wait() error {
	<-p.exited
	return p.err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProc runs the binary on addr and dataDir and waits until it is ready.
func startProc(t *testing.T, addr, dataDir string, extra ...string) *proc {
	t.Helper()
	return startProcArgs(t, addr, dataDir, append([]string{"--api-key", apiKey, "--jwt-secret", jwtSecret}, extra...)...)
}

// startProcArgs is startProc without the test's key and secret (the server generates
// its own unless extra sets them).
func startProcArgs(t *testing.T, addr, dataDir string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn"}, extra...)
	return serveCmd(t, addr, exec.Command(binary(t), args...))
}

// collectStream reads a stream's notification events into a channel until it ends.
type collected struct {
	ID   string // event id
	Name string
	Data string
}

func readStream(ctx context.Context, t *testing.T, url, tok, lastID string, out chan<- collected) (ended chan error) {
	ended = make(chan error, 1)
	resp := openUserStream(ctx, t, url, tok, lastID)
	go func() {
		defer resp.Body.Close()
		dec := sse.NewDecoder(bufio.NewReader(resp.Body))
		for {
			ev, err := dec.Next()
			if err != nil {
				ended <- err
				return
			}
			if ev.Name != "" && !isComment(ev) {
				out <- collected{ID: ev.ID, Name: ev.Name, Data: ev.Data}
			}
		}
	}()
	return ended
}

// openUserStream opens the user's SSE stream with tok, resuming after lastID
// unless it is "", and fails the test unless it is 200.
func openUserStream(ctx context.Context, t *testing.T, url, tok, lastID string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/notifications/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", err, resp)
	}
	return resp
}

// TestKill9LosesNothing publishes a burst, kills the server with SIGKILL right after
// the last 201, restarts it on the same data dir, and checks every acknowledged
// notification is there and the stream resumes exactly.
func TestKill9LosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	addr, dir := freeAddr(t), t.TempDir()
	p := startProc(t, addr, dir) // default --sqlite-sync full: what users run
	tok := userToken(t, "k9")

	events := make(chan collected, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ended := readStream(ctx, t, p.URL, tok, "", events)

	const publishers, each = 10, 30
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for i := 0; i < publishers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				body := fmt.Sprintf(`{"userId":"k9","title":"n%d-%d"}`, i, j)
				req, _ := http.NewRequest("POST", p.URL+"/api/notifications", stringsReader(body))
				req.Header.Set("Authorization", "Bearer "+apiKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				var n notification
				err = json.NewDecoder(resp.Body).Decode(&n)
				resp.Body.Close()
				if resp.StatusCode != 201 || err != nil {
					t.Errorf("publish: %d %v", resp.StatusCode, err)
					return
				}
				mu.Lock()
				acked[n.ID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.wait()
	<-ended
	if len(acked) != publishers*each {
		t.Fatalf("%d acknowledged, want %d", len(acked), publishers*each)
	}

	// What the client saw before the kill: a prefix of the stream.
	close(events)
	seen := map[string]bool{}
	lastID := ""
	for ev := range events {
		switch ev.Name {
		case "init":
			lastID = ev.ID
		case "notification":
			var n notification
			_ = json.Unmarshal([]byte(ev.Data), &n)
			if seen[n.ID] {
				t.Fatalf("notification %s delivered twice before the kill", n.ID)
			}
			seen[n.ID] = true
			lastID = ev.ID
		}
	}
	t.Logf("client saw %d of %d before the kill; resuming from %s", len(seen), len(acked), lastID)

	p2 := startProc(t, addr, dir)
	// Every acknowledged notification survived.
	all := p2.node.listAll(t, "k9")
	if len(all) != len(acked) {
		t.Fatalf("after SIGKILL and restart: %d notifications, %d were acknowledged", len(all), len(acked))
	}
	for _, n := range all {
		if !acked[n.ID] {
			t.Fatalf("unknown notification %s after restart", n.ID)
		}
	}

	// The client resumes exactly: the rest, once each, in order.
	rest := make(chan collected, 4096)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	readStream(ctx2, t, p2.URL, tok, lastID, rest)
	prev := seqOf(t, lastID)
	timeout := time.After(20 * time.Second)
	for len(seen) < len(acked) {
		select {
		case ev := <-rest:
			switch ev.Name {
			case "notification":
				if seq := seqOf(t, ev.ID); seq != prev+1 {
					t.Fatalf("resumed event %s after position %d: gap or repeat", ev.ID, prev)
				}
				prev++
				var n notification
				_ = json.Unmarshal([]byte(ev.Data), &n)
				if seen[n.ID] || !acked[n.ID] {
					t.Fatalf("resumed notification %s repeated or unknown", n.ID)
				}
				seen[n.ID] = true
			case "unread":
			default:
				t.Fatalf("unexpected %s event on resume", ev.Name)
			}
		case <-timeout:
			t.Fatalf("resume delivered %d of %d", len(seen), len(acked))
		}
	}
}

// TestGracefulShutdown: SIGTERM ends open streams with a retry hint, lets in-flight
// publishes finish, and exits 0; everything acknowledged is there after a restart.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	addr, dir := freeAddr(t), t.TempDir()
	p := startProc(t, addr, dir)
	tok := userToken(t, "gs")
	s := p.node.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	s.expect("init")

	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", p.URL+"/api/notifications", stringsReader(`{"userId":"gs"}`))
				req.Header.Set("Authorization", "Bearer "+apiKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the listener is closed: fine
				}
				var n notification
				_ = json.NewDecoder(resp.Body).Decode(&n)
				resp.Body.Close()
				switch resp.StatusCode {
				case 201:
					mu.Lock()
					acked[n.ID] = true
					mu.Unlock()
				case 503:
					return
				default:
					t.Errorf("publish during shutdown: %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The stream ends, after a retry hint.
	var sawRetry bool
	deadline := time.After(10 * time.Second)
loop:
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				break loop
			}
			if ev.Retry > 0 && ev.Retry < 3*time.Second+time.Millisecond && ev.Name == "" {
				sawRetry = true
			}
		case <-deadline:
			t.Fatal("stream not ended by SIGTERM")
		}
	}
	if !sawRetry {
		t.Error("stream ended without a retry hint")
	}
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v", p.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit after SIGTERM")
	}
	close(stop)
	wg.Wait()
	p2 := startProc(t, addr, dir)
	got := map[string]bool{}
	for _, n := range p2.node.listAll(t, "gs") {
		got[n.ID] = true
	}
	for id := range acked {
		if !got[id] {
			t.Fatalf("acknowledged %s missing after graceful shutdown", id)
		}
	}
	if len(acked) == 0 {
		t.Fatal("no publish was acknowledged before the shutdown")
	}
}
