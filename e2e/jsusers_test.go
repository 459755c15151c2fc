package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// newBrowser starts headless Chromium with one fresh profile and returns a function
// that opens a tab of it at url. Tabs of one profile share BroadcastChannels and Web
// Locks, which is what the tests below attack.
func newBrowser(t *testing.T) func(url string) context.Context {
	t.Helper()
	browser := launchChromium(t, 1100, 760)
	return func(url string) context.Context {
		t.Helper()
		tab, cancel := chromedp.NewContext(browser) // a tab of the same profile
		t.Cleanup(cancel)
		if _, err := chromedp.Run(tab, chromedp.Navigate(url)); err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		return tab
	}
}

// evalJSON evaluates js (which must return a JSON string) in tab and decodes it.
func evalJSON[T any](t *testing.T, tab context.Context, js string) (T, error) {
	var out T
	s, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
	if err == nil {
		err = json.Unmarshal([]byte(s), &out)
	}
	return out, err
}

// waitUntil polls cond for up to 15 s; on time-out it fails with what last returned.
func waitUntil(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, last)
		}
	}
}

// tabView is what a test page or the dashboard shows of one user's inbox.
type tabView struct {
	User   string   `json:"user"`   // whom the client says it follows
	Inbox  []string `json:"inbox"`  // titles in the list
	Live   []string `json:"live"`   // titles of live notification events (toasts)
	Unread int      `json:"unread"` // the badge
	Status string   `json:"status"`
}

// foreign returns the titles in v that do not start with prefix.
func (v tabView) foreign(prefix string) []string {
	var out []string
	for _, s := range append(slices.Clone(v.Inbox), v.Live...) {
		if !strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// TestJSClientTabsOfTwoUsers: two tabs of ONE browser profile, signed in as two
// users, must each show only their own inbox, live events and toasts. The client
// shares one stream between tabs over a BroadcastChannel and a Web Lock; both were
// named by the client's key alone, so the second user's tab followed the first
// user's stream and showed the first user's notifications (issue 12, item 1).
func TestJSClientTabsOfTwoUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()

	t.Run("client", func(t *testing.T) {
		t.Parallel()
		var tocsinURL string
		page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			// The same key in both tabs, as one application's pages would use.
			io.WriteString(w, `<!doctype html><title>tab</title><script type="module">
import { Tocsin } from "`+tocsinURL+`/client.js";
const t = new Tocsin({ url: "`+tocsinURL+`", token: new URLSearchParams(location.search).get("token"),
  key: "app", minBackoff: 100, maxBackoff: 500 });
window.live = [];
window.state = { notifications: [], unreadCount: 0 };
t.on("notification", (n) => window.live.push(n.title));
t.on("change", (s) => { window.state = s; });
t.connect();
window.tocsin = t;
window.view = () => JSON.stringify({ user: t.userId || "", inbox: window.state.notifications.map((n) => n.title),
  live: window.live, unread: window.state.unreadCount, status: t.status });
</script>`)
		}))
		t.Cleanup(page.Close)
		n := startNode(t, "--cors-origins", page.URL)
		tocsinURL = n.URL
		open := newBrowser(t)
		view := func(tab context.Context) (tabView, string) {
			v, err := evalJSON[tabView](t, tab, `window.view ? window.view() : "{}"`)
			b, _ := json.Marshal(v)
			if err != nil {
				return v, err.Error()
			}
			return v, string(b)
		}
		connections := func(user string) int {
			var c struct{ Connections []any }
			n.do("GET", "/api/users/"+user+"/connections", apiKey, nil).json(t, &c)
			return len(c.Connections)
		}

		n.publish("alice", map[string]any{"title": "alice: old"})
		n.publish("bob", map[string]any{"title": "bob: old"})
		n.publish("carol", map[string]any{"title": "carol: old"})

		tabA := open(page.URL + "/?token=" + userToken(t, "alice"))
		waitUntil(t, "alice's tab to show her inbox", func() (bool, string) {
			v, s := view(tabA)
			return slices.Equal(v.Inbox, []string{"alice: old"}) && v.Unread == 1, s
		})
		tabB := open(page.URL + "/?token=" + userToken(t, "bob"))
		waitUntil(t, "bob's tab to show his inbox, not alice's", func() (bool, string) {
			v, s := view(tabB)
			return slices.Equal(v.Inbox, []string{"bob: old"}) && v.Unread == 1, s
		})
		waitUntil(t, "one stream for each user", func() (bool, string) {
			a, b := connections("alice"), connections("bob")
			return a == 1 && b == 1, "alice " + itoa(a) + ", bob " + itoa(b)
		})

		n.publish("alice", map[string]any{"title": "alice: live"})
		n.publish("bob", map[string]any{"title": "bob: live"})
		waitUntil(t, "each tab to get its own live event", func() (bool, string) {
			a, sa := view(tabA)
			b, sb := view(tabB)
			return slices.Equal(a.Live, []string{"alice: live"}) && slices.Equal(b.Live, []string{"bob: live"}) &&
				a.Unread == 2 && b.Unread == 2, sa + " | " + sb
		})
		time.Sleep(300 * time.Millisecond) // anything misrouted would have arrived by now
		for name, tab := range map[string]context.Context{"alice": tabA, "bob": tabB} {
			v, s := view(tab)
			if f := v.foreign(name + ":"); len(f) > 0 || v.User != name {
				t.Fatalf("%s's tab shows another user's data %q: %s", name, f, s)
			}
		}

		// A second tab of alice still shares her one stream (and only hers).
		tabA2 := open(page.URL + "/?token=" + userToken(t, "alice"))
		waitUntil(t, "alice's second tab to follow her stream", func() (bool, string) {
			v, s := view(tabA2)
			return v.Status == "following" && slices.Equal(v.Inbox, []string{"alice: live", "alice: old"}) && v.Unread == 2, s
		})
		if a := connections("alice"); a != 1 {
			t.Fatalf("%d streams for alice's two tabs, want 1", a)
		}

		// Bob's tab signs in as carol: bob's inbox and his stream must go, and carol's
		// tab follows nobody else's.
		if _, err := chromedp.Run(tabB, chromedp.Evaluate[bool](`(window.live = [], window.tocsin.setToken("`+userToken(t, "carol")+`"), true)`)); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the switched tab to show carol's inbox only", func() (bool, string) {
			v, s := view(tabB)
			return v.User == "carol" && slices.Equal(v.Inbox, []string{"carol: old"}) && v.Unread == 1, s
		})
		n.publish("bob", map[string]any{"title": "bob: after the switch"})
		n.publish("carol", map[string]any{"title": "carol: live"})
		waitUntil(t, "carol's live event", func() (bool, string) {
			v, s := view(tabB)
			return slices.Equal(v.Live, []string{"carol: live"}), s
		})
		time.Sleep(300 * time.Millisecond)
		if v, s := view(tabB); len(v.foreign("carol:")) > 0 {
			t.Fatalf("the tab switched to carol shows another user's data: %s", s)
		}
		for _, tab := range []context.Context{tabA, tabA2} {
			if v, s := view(tab); len(v.foreign("alice:")) > 0 || v.Unread != 2 {
				t.Fatalf("alice's tab changed: %s", s)
			}
		}
		waitUntil(t, "bob's stream to close", func() (bool, string) {
			c := connections("bob")
			return c == 0, "bob " + itoa(c)
		})
	})

	t.Run("dashboard", func(t *testing.T) {
		t.Parallel()
		n := startNode(t, "--dev-tokens")
		open := newBrowser(t)
		view := func(tab context.Context) (tabView, string) {
			// The dashboard's inline <tocsin-inbox> (#feed) and its bell (#bell).
			v, err := evalJSON[tabView](t, tab, `(() => { const sr = (id) => document.getElementById(id)?.shadowRoot;
			  const badge = sr("bell")?.querySelector(".badge");
			  return JSON.stringify({
				inbox: [...(sr("feed")?.querySelectorAll("article .title .t") || [])].map((e) => e.textContent),
				live: [...document.querySelectorAll("#toasts .toast strong")].map((e) => e.textContent),
				unread: !badge || badge.hidden ? 0 : Number(badge.textContent),
				status: document.getElementById("status").textContent,
				user: document.getElementById("who").textContent.replace("Signed in as ", "") }); })()`)
			b, _ := json.Marshal(v)
			if err != nil {
				return v, err.Error()
			}
			return v, string(b)
		}
		n.publish("alice", map[string]any{"title": "alice: old"})
		n.publish("bob", map[string]any{"title": "bob: old"})

		tabA := open(n.URL + "/?user=alice")
		waitUntil(t, "alice's dashboard", func() (bool, string) {
			v, s := view(tabA)
			return v.Status == "live" && slices.Equal(v.Inbox, []string{"alice: old"}) && v.Unread == 1, s
		})
		tabB := open(n.URL + "/?user=bob")
		waitUntil(t, "bob's dashboard to show his inbox, not alice's", func() (bool, string) {
			v, s := view(tabB)
			return v.Status == "live" && slices.Equal(v.Inbox, []string{"bob: old"}) && v.Unread == 1, s
		})
		n.publish("alice", map[string]any{"title": "alice: live"})
		n.publish("bob", map[string]any{"title": "bob: live"})
		waitUntil(t, "each dashboard's own toast and badge", func() (bool, string) {
			a, sa := view(tabA)
			b, sb := view(tabB)
			return slices.Equal(a.Live, []string{"alice: live"}) && slices.Equal(b.Live, []string{"bob: live"}) &&
				a.Unread == 2 && b.Unread == 2, sa + " | " + sb
		})
		time.Sleep(300 * time.Millisecond)
		for name, tab := range map[string]context.Context{"alice": tabA, "bob": tabB} {
			if v, s := view(tab); len(v.foreign(name+":")) > 0 {
				t.Fatalf("%s's dashboard shows another user's data: %s", name, s)
			}
		}

		// Alice reads all: her list and badge empty (one notifications:read event once
		// the server sends it, one notification:updated per item before); bob's stay.
		if _, err := chromedp.Run(tabA, chromedp.Evaluate[bool](`(document.getElementById("feed").shadowRoot.querySelector("header button[aria-label='Mark all as read']").click(), true)`)); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "alice's dashboard to be all read", func() (bool, string) {
			v, s := view(tabA)
			return len(v.Inbox) == 0 && v.Unread == 0, s
		})
		time.Sleep(300 * time.Millisecond)
		if v, s := view(tabB); v.Unread != 2 || len(v.Inbox) != 2 || len(v.foreign("bob:")) > 0 {
			t.Fatalf("bob's dashboard after alice's read-all: %s", s)
		}
	})
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
