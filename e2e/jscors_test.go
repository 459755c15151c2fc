package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestJSClientErrorFromAnotherOrigin: the README's snippet on a page of another
// origin, in a real browser against a real server. Without --cors-origins the
// browser refuses the server's answers; the client reports it once as an `error`
// with code "cors" naming the page's origin and the flag, keeps retrying as
// "connecting", and a REST call rejects with the same code. A server that is not
// there is "network". With --cors-origins the same page connects, with no error.
func TestJSClientErrorFromAnotherOrigin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	open := newBrowser(t)
	refusing := startNode(t)
	// A port nobody listens on: the server that is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	tok := userToken(t, "cors")

	// The page: another origin (another port) that imports the client from the server
	// and follows it; it counts the stream-ticket requests per server, to show the
	// client retried while it reported the error once.
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		server := r.URL.Query().Get("server")
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>another origin</title><script type="module">
window.log = []; window.tickets = {};
const realFetch = window.fetch;
window.fetch = (u, init) => {
  if (String(u).endsWith("/api/notifications/stream-ticket")) { const o = new URL(u).origin; window.tickets[o] = (window.tickets[o] || 0) + 1; }
  return realFetch(u, init);
};
const { Tocsin } = await import(%q + "/client.js");
window.clients = {};
for (const url of %s) {
  const t = new Tocsin({ url, key: url, token: %q, minBackoff: 100, maxBackoff: 300 });
  t.on("error", (e) => window.log.push({ url, code: e.code, message: e.message, origin: e.origin || "" }));
  t.on("online", () => window.log.push({ url, code: "online" }));
  t.connect();
  window.clients[url] = t;
}
window.listError = null;
window.clients[%q].list().then(() => { window.listError = { code: "none" }; }, (e) => { window.listError = { code: e.code, message: e.message }; });
</script>`, server, r.URL.Query().Get("follow"), tok, server)
	}))
	t.Cleanup(page.Close)

	type entry struct{ URL, Code, Message, Origin string }
	type view struct {
		Log       []entry
		Tickets   map[string]int
		Status    map[string]string
		ListError *entry
	}
	state := `JSON.stringify({ log: window.log || [], tickets: window.tickets || {}, listError: window.listError,
	  status: Object.fromEntries(Object.entries(window.clients || {}).map(([u, c]) => [u, c.status])) })`

	tab := open(page.URL + "/?server=" + refusing.URL + "&follow=" + `["` + refusing.URL + `","` + down + `"]`)
	var v view
	waitUntil(t, "a cors error, a network error and a refused REST call", func() (bool, string) {
		v, err = evalJSON[view](t, tab, state)
		return err == nil && len(v.Log) >= 2 && v.ListError != nil && v.Tickets[refusing.URL] >= 4 && v.Tickets[down] >= 4, fmt.Sprintf("%+v %v", v, err)
	})
	byURL := map[string][]entry{}
	for _, e := range v.Log {
		byURL[e.URL] = append(byURL[e.URL], e)
	}
	cors := byURL[refusing.URL]
	if len(cors) != 1 || cors[0].Code != "cors" || cors[0].Origin != page.URL ||
		!strings.Contains(cors[0].Message, "--cors-origins "+page.URL) || !strings.Contains(cors[0].Message, refusing.URL) {
		t.Fatalf("refusing server: want one cors error naming %s and --cors-origins, got %+v (after %d attempts)", page.URL, cors, v.Tickets[refusing.URL])
	}
	if d := byURL[down]; len(d) != 1 || d[0].Code != "network" || !strings.Contains(d[0].Message, down) {
		t.Fatalf("server down: want one network error naming %s, got %+v (after %d attempts)", down, d, v.Tickets[down])
	}
	if v.ListError.Code != "cors" || !strings.Contains(v.ListError.Message, "--cors-origins") {
		t.Fatalf("list() from the refused origin: %+v", v.ListError)
	}
	if v.Status[refusing.URL] != "connecting" || v.Status[down] != "connecting" {
		t.Fatalf("statuses %v, want connecting (still retrying)", v.Status)
	}

	// A second tab of the same page follows the first tab's streams (it makes no
	// request of its own): it learns of the outage from the leader.
	follower := open(page.URL + "/?server=" + refusing.URL + "&follow=" + `["` + refusing.URL + `"]`)
	waitUntil(t, "the follower tab to learn of the outage", func() (bool, string) {
		v, err = evalJSON[view](t, follower, state)
		return err == nil && len(v.Log) >= 1, fmt.Sprintf("%+v %v", v, err)
	})
	if e := v.Log[0]; len(v.Log) != 1 || e.Code != "cors" || e.Origin != page.URL || !strings.Contains(e.Message, "--cors-origins") {
		t.Fatalf("follower tab: %+v", v.Log)
	}
	if v.Status[refusing.URL] != "connecting" {
		t.Fatalf("follower tab: status %q during the leader's outage, want connecting", v.Status[refusing.URL])
	}
	if v.Tickets[refusing.URL] != 0 {
		t.Fatalf("the follower tab asked for %d tickets itself; it should follow the leader", v.Tickets[refusing.URL])
	}

	// The same page, with the origin allowed: it connects and reports nothing.
	allowing := startNode(t, "--cors-origins", page.URL)
	tab2 := open(page.URL + "/?server=" + allowing.URL + "&follow=" + `["` + allowing.URL + `"]`)
	waitUntil(t, "the allowed origin's stream to open", func() (bool, string) {
		v, err = evalJSON[view](t, tab2, state)
		return err == nil && v.Status[allowing.URL] == "open" && v.ListError != nil, fmt.Sprintf("%+v %v", v, err)
	})
	if len(v.Log) != 0 || v.ListError.Code != "none" {
		t.Fatalf("allowed origin: errors %+v, list %+v", v.Log, v.ListError)
	}
}
