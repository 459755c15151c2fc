package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tocsin/tocsin/internal/testenv"
)

// Real clients that nobody here wrote read a capability stream across a server
// restart: each must receive every event exactly once, in order, with the events
// published while it was disconnected delivered by resume.

// clientFunc starts a client on the capability stream url and returns the ids of the
// notifications it receives, as it receives them.
type clientFunc func(t *testing.T, url string) <-chan string

func runClientScenario(t *testing.T, start clientFunc) {
	t.Helper()
	addr, dir := freeAddr(t), t.TempDir()
	flags := []string{"--retry", "300ms", "--heartbeat", "2s"}
	p := startProc(t, addr, dir, flags...)
	sub := p.node.mintToken("topic:clients", "subscribe")
	hook := p.node.mintToken("topic:clients", "publish")
	got := start(t, p.URL+sub.URL)
	waitOpenStreams(t, p.node, 1) // a fresh capability stream starts at the head

	publish := func(n *node, title string) string {
		t.Helper()
		r := n.do("POST", hook.URL, "", "message "+title, "Content-Type", "text/plain", "Title", title, "Tags", "ci")
		if r.Status != http.StatusCreated {
			t.Fatalf("hook: %d %s", r.Status, r.Body)
		}
		var out notification
		r.json(t, &out)
		return out.ID
	}
	expect := func(ids []string) {
		t.Helper()
		for i, want := range ids {
			select {
			case id := <-got:
				if id != want {
					t.Fatalf("client got %s as event %d, want %s", id, i+1, want)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("client never got event %d (%s)", i+1, want)
			}
		}
	}
	var before []string
	for i := range 3 {
		before = append(before, publish(p.node, fmt.Sprint("before ", i)))
	}
	expect(before)

	// Restart the server on the same address and data dir; publish at once, while the
	// client is still waiting to reconnect, so these arrive by resume.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	p2 := startProc(t, addr, dir, flags...)
	var after []string
	for i := range 3 {
		after = append(after, publish(p2.node, fmt.Sprint("after ", i)))
	}
	expect(after)
	select {
	case id := <-got:
		t.Fatalf("client got %s again or extra: a duplicate", id)
	case <-time.After(500 * time.Millisecond):
	}
}

// waitOpenStreams waits until the node reports n open SSE streams.
func waitOpenStreams(t *testing.T, n *node, want int) {
	t.Helper()
	series := fmt.Sprintf(`tocsin_streams_open{transport="sse"} %d`, want)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r := n.do("GET", "/metrics", "", nil); strings.Contains(string(r.Body), series) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client never connected (%s)", series)
		}
	}
}

// idOf reads the notification id out of a capability event's data.
func idOf(data string) string {
	var v struct{ ID string }
	if json.Unmarshal([]byte(data), &v) != nil {
		return ""
	}
	return v.ID
}

// TestClientCurl: Debian's curl -N prints the stream; after the restart it is run
// again with the last id it printed, as a shell script would.
func TestClientCurl(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	t.Parallel()
	curl := testenv.Program(t, "TOCSIN_TEST_CURL", "curl")
	runClientScenario(t, func(t *testing.T, url string) <-chan string {
		ids := make(chan string, 64)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go func() {
			last := ""
			for ctx.Err() == nil {
				args := []string{"-sN", url}
				if last != "" {
					args = append(args, "-H", "Last-Event-ID: "+last)
				}
				cmd := exec.CommandContext(ctx, curl, args...)
				out, err := cmd.StdoutPipe()
				if err != nil || cmd.Start() != nil {
					return
				}
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					line := sc.Text()
					if strings.HasPrefix(line, "event:") {
						t.Errorf("capability stream has a named event: %q", line)
					}
					if v, ok := strings.CutPrefix(line, "id: "); ok {
						last = v
					}
					if v, ok := strings.CutPrefix(line, "data: "); ok {
						ids <- idOf(v)
					}
				}
				_ = cmd.Wait()
				time.Sleep(200 * time.Millisecond)
			}
		}()
		return ids
	})
}

// linesOf runs cmd and sends each stdout line, parsed by parse, to the channel.
func linesOf(t *testing.T, cmd *exec.Cmd, parse func(string) string) <-chan string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ids := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ids <- parse(sc.Text())
		}
	}()
	return ids
}

// TestClientNodeEventSource: the npm eventsource package in a Node script
// (e2e/clients/node, installed by .ci/run with npm).
func TestClientNodeEventSource(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	t.Parallel()
	node := nodeWithEventSource(t)
	runClientScenario(t, func(t *testing.T, url string) <-chan string {
		return linesOf(t, exec.Command(node, "clients/node/listen.mjs", url), func(line string) string {
			var m struct{ Data struct{ ID string } }
			if json.Unmarshal([]byte(line), &m) != nil {
				return ""
			}
			return m.Data.ID
		})
	})
}

// TestClientPlainGo: a Go program with http.Get and bufio.Scanner (e2e/clients/plaingo).
func TestClientPlainGo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	t.Parallel()
	bin := program(t, "./clients/plaingo")
	runClientScenario(t, func(t *testing.T, url string) <-chan string {
		return linesOf(t, exec.Command(bin, url), idOf)
	})
}

// TestClientChromiumEventSource: headless Chromium's own EventSource with onmessage,
// on a page of another origin, driven by chromedp.
func TestClientChromiumEventSource(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes and a browser")
	}
	t.Parallel()
	testenv.Chromium(t) // before any server starts: skips, or fails in CI, without a browser
	runClientScenario(t, func(t *testing.T, url string) <-chan string {
		page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, `<!doctype html><title>tocsin</title><script>
window.got = [];
const es = new EventSource(`+"`"+url+"`"+`);
es.onmessage = (e) => window.got.push(JSON.parse(e.data).id);
</script>`)
		}))
		t.Cleanup(page.Close)
		ctx := launchChromium(t, 0, 0)
		if _, err := chromedp.Run(ctx, chromedp.Navigate(page.URL)); err != nil {
			t.Fatalf("chromium: %v", err)
		}
		ids := make(chan string, 64)
		go func() {
			seen := 0
			for ctx.Err() == nil {
				got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.got`))
				if err != nil {
					return
				}
				for ; seen < len(got); seen++ {
					ids <- got[seen]
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		return ids
	})
}
