package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tocsin/tocsin/internal/testenv"
)

// TestJSClientSharesOneStreamAcrossTabs: two tabs of one browser use the JavaScript
// client; the server sees one stream; both tabs update; when the leader tab closes
// the other takes over and keeps receiving.
func TestJSClientSharesOneStreamAcrossTabs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	testenv.Chromium(t) // before any server starts: skips, or fails in CI, without a browser
	var tocsinURL, tok string
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><title>tab</title><script type="module">
import { Tocsin } from "`+tocsinURL+`/client.js";
const t = new Tocsin({ url: "`+tocsinURL+`", token: "`+tok+`", key: "tabs", minBackoff: 100, maxBackoff: 500 });
window.seen = [];
t.on("notification", (n) => window.seen.push(n.title));
t.on("change", (s) => { window.unread = s.unreadCount; });
t.connect();
window.tocsin = t;
</script>`)
	}))
	t.Cleanup(page.Close)
	n := startNode(t, "--cors-origins", page.URL)
	tocsinURL, tok = n.URL, userToken(t, "tabs")

	browser := launchChromium(t, 0, 0)
	tab1, cancel1 := chromedp.NewContext(browser) // tabs of the same browser
	t.Cleanup(cancel1)
	if _, err := chromedp.Run(tab1, chromedp.Navigate(page.URL)); err != nil {
		t.Fatalf("tab 1: %v", err)
	}
	tab2, cancel2 := chromedp.NewContext(browser)
	t.Cleanup(cancel2)
	if _, err := chromedp.Run(tab2, chromedp.Navigate(page.URL)); err != nil {
		t.Fatalf("tab 2: %v", err)
	}
	connections := func() int {
		var c struct{ Connections []any }
		n.do("GET", "/api/users/tabs/connections", apiKey, nil).json(t, &c)
		return len(c.Connections)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	seen := func(tab context.Context) string {
		got, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`window.seen || []`))
		if err != nil {
			return "error: " + err.Error()
		}
		return strings.Join(got, ",")
	}
	waitFor("one stream for two tabs", func() bool { return connections() == 1 })

	n.publish("tabs", map[string]any{"title": "one"})
	waitFor("both tabs to get the first", func() bool { return seen(tab1) == "one" && seen(tab2) == "one" })
	time.Sleep(300 * time.Millisecond)
	if c := connections(); c != 1 {
		t.Fatalf("%d streams for two tabs, want 1", c)
	}

	// Close the leader (the first tab); the second takes over.
	cancel1()
	waitFor("the second tab to take over the stream", func() bool { return connections() == 1 && seen(tab2) == "one" })
	n.publish("tabs", map[string]any{"title": "two"})
	waitFor("the remaining tab to get the next one", func() bool { return seen(tab2) == "one,two" })
	if got := seen(tab2); got != "one,two" {
		t.Fatalf("tab 2 saw %s", got)
	}
}
