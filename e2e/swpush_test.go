package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/tocsin/tocsin/internal/readticket"
)

// shownNotification is what registration.getNotifications() reports of one.
type shownNotification struct {
	Tag                string `json:"tag"`
	Title              string `json:"title"`
	Body               string `json:"body"`
	Image              string `json:"image"`
	RequireInteraction bool   `json:"requireInteraction"`
	Renotify           bool   `json:"renotify"`
	Data               struct {
		ID         string `json:"id"`
		ActionURL  string `json:"actionUrl"`
		ReadTicket string `json:"readTicket"`
	} `json:"data"`
}

// shownJS lists the notifications the page's service worker registration shows.
const shownJS = `navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) => JSON.stringify(ns.map((n) => ({
  tag: n.tag, title: n.title, body: n.body, image: n.image, requireInteraction: n.requireInteraction,
  renotify: n.renotify, data: n.data }))))`

// TestServiceWorkerPush drives /sw.js in headless Chromium: the dashboard's origin
// registers it; a push delivered through the DevTools protocol
// (ServiceWorker.deliverPushMessage, the same event a push service's message
// raises) shows the notification with the options the worker derives from it (tag =
// id, requireInteraction for priority 5, renotify for a grouped update); a dismiss
// push closes it; a click (raised inside the worker: the protocol cannot click a
// notification) closes it and spends its read ticket on POST api/push/read. The
// dashboard shows the push toggle. The click's window opening is tested in node
// (web/sw.unit.test.mjs).
func TestServiceWorkerPush(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	// Under --base-path: the worker's scope is the app's root, not the origin's.
	// A known link key, so the test can mint the read ticket a real push carries.
	const linkKey = "sw-test-link-key-0123456789abcdef0123"
	n := startNode(t, "--dev-tokens", "--base-path", "/notify", "--unsubscribe-secret", linkKey)
	open := newBrowser(t)
	tab := open(n.URL + "/notify/?user=swp")
	origin := n.URL // http://127.0.0.1:port: a secure context, as localhost is

	// The notifications permission, as if the user had allowed it.
	if _, err := chromedp.Run(tab, chromedp.Action[chromedp.Void](func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, chromedp.FromContext(ctx).Browser, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "notifications"},
			Setting:    browser.PermissionSettingGranted, Origin: origin,
		})
		return chromedp.Void{}, err
	})); err != nil {
		t.Fatalf("grant notifications: %v", err)
	}

	// The dashboard's inbox offers the toggle in its preferences (off: nothing
	// subscribed yet), and the client agrees.
	waitUntil(t, "the inbox's push toggle", func() (bool, string) {
		v, err := chromedp.Run(tab, chromedp.Evaluate[string](`(() => { const r = document.getElementById("feed")?.shadowRoot;
		  if (!r) return "no inbox yet";
		  const prefs = r.querySelector("header button[aria-label=Preferences]");
		  if (prefs.hidden) return "no preferences yet";
		  if (!r.querySelector(".prefs")) prefs.click();
		  const box = r.querySelector(".push")?.parentElement;
		  if (!box) return "no push section";
		  return (box.hidden ? "hidden " : "") + box.querySelector(".push").textContent; })()`))
		if err != nil {
			return false, err.Error()
		}
		return v == "Off for this browserTurn on", v
	})
	if st, err := chromedp.Run(tab, chromedp.Evaluate[string](`import("./client.js").then((m) => new m.Tocsin({ url: "/notify", share: false }).pushState())`,
		chromedp.EvalAwaitPromise)); err != nil || st != "off" {
		t.Fatalf("pushState with the permission granted and no subscription: %q %v", st, err)
	}

	// Register the worker and learn its registration id from the protocol's events.
	evCtx, cancelEv := context.WithTimeout(tab, 20*time.Second)
	defer cancelEv()
	versions := chromedp.Events(evCtx, serviceworker.WorkerVersionUpdated)
	if _, err := chromedp.Run(tab, chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, serviceworker.Enable, cdp.Empty{})
		return chromedp.Void{}, err
	})); err != nil {
		t.Fatalf("ServiceWorker.enable: %v", err)
	}
	state, err := chromedp.Run(tab, chromedp.Evaluate[string](`navigator.serviceWorker.onmessage = (e) => window.__handled.push(e.data), window.__handled = [], navigator.serviceWorker.register("sw.js", {type: "module"})
	  .then(() => navigator.serviceWorker.ready).then((r) => r.scope + " " + r.active.state)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("register /sw.js: %v", err)
	}
	if !strings.HasPrefix(state, origin+"/notify/ ") {
		t.Fatalf("registration: %s, want the scope %s/notify/", state, origin)
	}
	var regID serviceworker.RegistrationID
	for ev, err := range versions {
		if err != nil {
			t.Fatalf("waiting for the worker to be activated: %v", err)
		}
		for _, v := range ev.Versions {
			if v.ScriptURL == origin+"/notify/sw.js" && v.Status == serviceworker.VersionStatusActivated {
				regID = v.RegistrationID
			}
		}
		if regID != "" {
			break
		}
	}
	cancelEv()

	push := func(payload any) {
		t.Helper()
		b, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(tab, chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
				Origin: origin, RegistrationID: regID, Data: string(b),
			})
			return chromedp.Void{}, err
		})); err != nil {
			t.Fatalf("deliverPushMessage: %v", err)
		}
	}
	// handled waits until the worker has told the page it handled n pushes: only
	// then is getNotifications asked (Chromium reconciles its database with what is
	// displayed when asked, and can drop a notification being shown at that moment).
	handled := func(n int) {
		t.Helper()
		waitUntil(t, fmt.Sprintf("the worker to handle %d pushes", n), func() (bool, string) {
			v, err := chromedp.Run(tab, chromedp.Evaluate[string](`JSON.stringify(window.__handled)`))
			if err != nil {
				return false, err.Error()
			}
			var got []any
			_ = json.Unmarshal([]byte(v), &got)
			return len(got) >= n, v
		})
	}
	shown := func() (map[string]shownNotification, string) {
		var list []shownNotification
		js, err := chromedp.Run(tab, chromedp.Evaluate[string](shownJS, chromedp.EvalAwaitPromise))
		if err == nil {
			err = json.Unmarshal([]byte(js), &list)
		}
		if err != nil {
			return nil, err.Error()
		}
		out := map[string]shownNotification{}
		for _, s := range list {
			out[s.Tag] = s
		}
		b, _ := json.Marshal(list)
		return out, string(b)
	}

	// Chromium reconciles its notification database with the displayed ones on a
	// registration's first getNotifications(); racing a fresh push, that can drop the
	// push's notification. Have it done before any push.
	if m, s := shown(); len(m) != 0 {
		t.Fatalf("notifications before any push: %s", s)
	}

	const id1, id2 = "n-push-1", "n-push-2"
	push(map[string]any{"type": "notification", "unreadCount": 1, "readTicket": "rt-1",
		"notification": map[string]any{"id": id1, "title": "Deploy failed", "body": "prod-eu is red",
			"priority": 5, "actionUrl": "https://ci.example/run/7", "imageUrl": origin + "/img.png", "count": 1}})
	push(map[string]any{"type": "notification", "unreadCount": 2,
		"notification": map[string]any{"id": id2, "title": "3 new comments", "body": "on your post",
			"priority": 3, "count": 3}})
	handled(2)
	waitUntil(t, "both pushes to show notifications", func() (bool, string) {
		m, s := shown()
		return len(m) == 2, s
	})
	m, s := shown()
	a, b := m[id1], m[id2]
	if a.Title != "Deploy failed" || a.Body != "prod-eu is red" || !a.RequireInteraction || a.Renotify || a.Image != origin+"/img.png" ||
		a.Data.ID != id1 || a.Data.ActionURL != "https://ci.example/run/7" || a.Data.ReadTicket != "rt-1" {
		t.Errorf("the priority-5 notification as shown: %+v (all: %s)", a, s)
	}
	if b.Title != "3 new comments" || b.RequireInteraction || !b.Renotify || b.Data.ReadTicket != "" {
		t.Errorf("the grouped notification as shown: %+v (all: %s)", b, s)
	}

	// A screenshot of what the worker shows, listed in the page (the system's
	// notification pop-ups are not part of a page screenshot).
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const pre = document.createElement("pre");
		pre.id = "sw-shown";
		pre.style.cssText = "position:fixed;top:4rem;left:1rem;right:1rem;padding:1rem;background:#fff;color:#000;border:2px solid #1d4ed8;white-space:pre-wrap;z-index:99";
		pre.textContent = "Shown by /sw.js:\n" + JSON.stringify(%s, null, 2);
		document.body.append(pre);
		return true;
	})()`, s))); err != nil {
		t.Fatal(err)
	}
	if png, err := chromedp.Run(tab, chromedp.CaptureScreenshot()); err == nil {
		if err := os.WriteFile(filepath.Join(artifactsDir(t), "sw-push.png"), png, 0o644); err != nil {
			t.Log(err)
		}
	}

	// Read elsewhere: the dismiss push closes that one and leaves the other.
	push(map[string]any{"type": "dismiss", "ids": []string{id1, "n-not-shown"}, "unreadCount": 1})
	handled(3)
	waitUntil(t, "the dismiss to close "+id1, func() (bool, string) {
		m, s := shown()
		_, still := m[id1]
		_, other := m[id2]
		return !still && other && len(m) == 1, s
	})
	// Garbage is ignored, not shown.
	push("not a tocsin push")
	push(map[string]any{"type": "notification", "notification": map[string]any{"title": "no id"}})
	time.Sleep(300 * time.Millisecond)
	if m, s := shown(); len(m) != 1 {
		t.Errorf("after malformed pushes: %s", s)
	}

	// A click. The protocol cannot click a notification, so the test raises the
	// worker's notificationclick itself, inside the worker, with the notification
	// the worker shows. (A synthetic event cannot waitUntil nor open a window, but
	// the handler's close and read call run as for a real click.) The worker's fetch
	// is observed by wrapping it.
	// A real notification of the page's user, and the ticket its push would carry:
	// the click must mark it read on the server.
	var created notification
	if r := n.do("POST", "/notify/api/notifications", apiKey, map[string]any{"userId": "swp", "title": "Click me"}); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	} else {
		r.json(t, &created)
	}
	id3 := created.ID
	key, err := readticket.Key([]byte(linkKey))
	if err != nil {
		t.Fatal(err)
	}
	ticket := readticket.Mint(key, "swp", id3, time.Now().Add(time.Hour))
	push(map[string]any{"type": "notification", "unreadCount": 2, "readTicket": ticket,
		"notification": map[string]any{"id": id3, "title": "Click me", "actionUrl": "javascript:alert(1)"}})
	handled(4)
	waitUntil(t, id3+" shown", func() (bool, string) {
		m, s := shown()
		_, ok := m[id3]
		return ok, s
	})
	worker := workerContext(t, tab, origin+"/notify/sw.js")
	click, err := chromedp.Run(worker, chromedp.Evaluate[string](`(async () => {
	  const calls = [];
	  const realFetch = self.fetch;
	  self.fetch = async (url, init) => {
	    const r = await realFetch(url, init);
	    calls.push({ url: String(url), method: init.method, body: init.body, credentials: init.credentials, status: r.status });
	    return r;
	  };
	  const [n] = (await self.registration.getNotifications()).filter((n) => n.tag === "`+id3+`");
	  self.dispatchEvent(new NotificationEvent("notificationclick", { notification: n }));
	  for (let i = 0; i < 50 && !calls.length; i++) await new Promise((r) => setTimeout(r, 100));
	  self.fetch = realFetch;
	  return JSON.stringify(calls);
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("click in the worker: %v", err)
	}
	var calls []struct {
		URL, Method, Body, Credentials string
		Status                         int
	}
	if err := json.Unmarshal([]byte(click), &calls); err != nil || len(calls) != 1 ||
		calls[0].URL != origin+"/notify/api/push/read" || calls[0].Method != "POST" || calls[0].Credentials != "omit" ||
		calls[0].Body != `{"id":"`+id3+`","ticket":"`+ticket+`"}` || calls[0].Status != http.StatusNoContent {
		t.Fatalf("the click's read call: %s (%v), want a 204", click, err)
	}
	var after notification
	if r := n.do("GET", "/notify/api/notifications/"+id3, userToken(t, "swp"), nil); r.Status != http.StatusOK {
		t.Fatalf("get %s: %d %s", id3, r.Status, r.Body)
	} else if r.json(t, &after); after.ReadAt == nil {
		t.Fatalf("the click did not mark %s read on the server: %+v", id3, after)
	}
	waitUntil(t, "the click to close "+id3, func() (bool, string) {
		m, s := shown()
		_, still := m[id3]
		return !still && len(m) == 1, s
	})
}

// workerContext attaches to the service worker whose script is scriptURL.
func workerContext(t *testing.T, tab context.Context, scriptURL string) context.Context {
	t.Helper()
	var id target.ID
	waitUntil(t, "the service worker's target", func() (bool, string) {
		res, err := chromedp.Run(tab, chromedp.Action[target.GetTargetsResult](func(ctx context.Context, _ *chromedp.Target) (target.GetTargetsResult, error) {
			return cdp.Call(ctx, chromedp.FromContext(ctx).Browser, target.GetTargets, target.GetTargetsParams{})
		}))
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ti := range res.TargetInfos {
			seen = append(seen, ti.Type+" "+ti.URL)
			if ti.Type == "service_worker" && ti.URL == scriptURL {
				id = ti.TargetID
			}
		}
		return id != "", strings.Join(seen, ", ")
	})
	ctx, cancel := chromedp.NewContext(tab, chromedp.WithTargetID(id))
	t.Cleanup(cancel)
	return ctx
}

// TestServiceWorkerScript: /sw.js is served as JavaScript that browsers revalidate on
// every update check, at the root and under --base-path (where its default scope is
// the prefix: no Service-Worker-Allowed header is needed, and none widens it).
func TestServiceWorkerScript(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		flags []string
		path  string
	}{{nil, "/sw.js"}, {[]string{"--base-path", "/notify"}, "/notify/sw.js"}} {
		n := startNode(t, tc.flags...)
		r := n.do("GET", tc.path, "", nil)
		h := r.Header
		if r.Status != http.StatusOK || h.Get("Content-Type") != "text/javascript; charset=utf-8" ||
			h.Get("Cache-Control") != "no-cache" || h.Get("Service-Worker-Allowed") != "" ||
			!strings.Contains(string(r.Body), `addEventListener("push"`) {
			t.Errorf("GET %s: %d %v", tc.path, r.Status, h)
		}
	}
}
