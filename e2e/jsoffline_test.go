package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// switchProxy serves a page at / and passes everything else to a tocsin server, and
// can be switched off: then it ends the streams in flight and drops every new
// connection, as a network outage does, until it is switched on again.
type switchProxy struct {
	mu      sync.Mutex
	down    bool
	cancels map[*http.Request]context.CancelFunc
}

func (p *switchProxy) set(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, cancel := range p.cancels {
			cancel()
		}
	}
}

func (p *switchProxy) handler(t *testing.T, target, page string) http.Handler {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // server-sent events pass at once
	p.cancels = map[*http.Request]context.CancelFunc{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, page)
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close() // no answer at all: the browser's fetch fails
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		ctx, cancel := context.WithCancel(r.Context())
		p.cancels[r] = cancel
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.cancels, r)
			p.mu.Unlock()
			cancel()
		}()
		rp.ServeHTTP(w, r.WithContext(ctx))
	})
}

// TestJSClientOfflineAndBack: two tabs share one stream (through a proxy of the
// page's origin); the network goes away: each tab gets ONE `error` (code
// "network") while the leader retries, and status "connecting"; the network comes
// back: each tab gets `online`, the stream resumes, and a notification published
// during the outage reaches both tabs once. What an offline banner is built on.
func TestJSClientOfflineAndBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	open := newBrowser(t)
	n := startNode(t)
	tok := userToken(t, "offline")
	page := `<!doctype html><title>offline</title><script type="module">
import { Tocsin } from "/client.js";
window.log = []; window.seen = [];
const t = new Tocsin({ token: "` + tok + `", key: "offline", minBackoff: 100, maxBackoff: 400 });
t.on("error", (e) => window.log.push(e.code));
t.on("online", () => window.log.push("online"));
t.on("notification", (n) => window.seen.push(n.title));
t.connect();
window.tocsin = t;
</script>`
	var proxy switchProxy
	ts := httptest.NewServer(proxy.handler(t, n.URL, page))
	t.Cleanup(ts.Close)

	type view struct {
		Log    []string
		Seen   []string
		Status string
		Error  bool
	}
	const state = `JSON.stringify({ log: window.log || [], seen: window.seen || [], status: window.tocsin ? window.tocsin.status : "",
	  error: !!(window.tocsin && window.tocsin.error) })`
	leader := open(ts.URL + "/")
	waitUntil(t, "the first tab to open the stream", func() (bool, string) {
		v, err := evalJSON[view](t, leader, state)
		return err == nil && v.Status == "open", fmt.Sprintf("%+v %v", v, err)
	})
	follower := open(ts.URL + "/")
	n.publish("offline", map[string]any{"title": "before"})
	both := func(what string, ok func(leader, follower view) bool) (view, view) {
		t.Helper()
		var l, f view
		waitUntil(t, what, func() (bool, string) {
			var err1, err2 error
			l, err1 = evalJSON[view](t, leader, state)
			f, err2 = evalJSON[view](t, follower, state)
			return err1 == nil && err2 == nil && ok(l, f), fmt.Sprintf("leader %+v, follower %+v", l, f)
		})
		return l, f
	}
	both("both tabs live", func(l, f view) bool {
		return l.Status == "open" && f.Status == "following" && len(l.Seen) == 1 && len(f.Seen) == 1
	})

	proxy.set(true)
	l, f := both("one network error in each tab", func(l, f view) bool { return len(l.Log) >= 1 && len(f.Log) >= 1 })
	if fmt.Sprint(l.Log) != "[network]" || fmt.Sprint(f.Log) != "[network]" || !l.Error || !f.Error ||
		l.Status != "connecting" || f.Status != "connecting" {
		t.Fatalf("outage: leader %+v, follower %+v; want one network error each, status connecting", l, f)
	}
	n.publish("offline", map[string]any{"title": "during"})

	proxy.set(false)
	l, f = both("online and the missed notification in both tabs", func(l, f view) bool {
		return len(l.Log) >= 2 && len(f.Log) >= 2 && len(l.Seen) >= 2 && len(f.Seen) >= 2
	})
	if fmt.Sprint(l.Log) != "[network online]" || fmt.Sprint(f.Log) != "[network online]" || l.Error || f.Error ||
		l.Status != "open" || f.Status != "following" || fmt.Sprint(l.Seen) != "[before during]" || fmt.Sprint(f.Seen) != "[before during]" {
		t.Fatalf("back: leader %+v, follower %+v", l, f)
	}
}
