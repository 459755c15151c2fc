package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// inboxPage drives the dashboard's <tocsin-inbox> elements in one tab: #bell (the
// popover) and #feed (the inline feed). The helpers read their shadow roots.
type inboxPage struct {
	t   *testing.T
	tab context.Context
}

// inboxJS are helpers the tests evaluate in the page: sr(id) is an element's
// shadow root; deep() the focused element through shadow roots; nameOf(e) how a test
// names an element (its accessible name or role).
const inboxJS = `window.sr = (id) => document.getElementById(id).shadowRoot;
window.deep = () => { let a = document.activeElement; while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement; return a; };
window.nameOf = (e) => !e ? "none" : e.getAttribute("role") === "tab" ? "tab " + e.firstChild.textContent
  : e.getAttribute("aria-label") || (e.tagName === "A" ? "link " + e.textContent : e.tagName.toLowerCase() + (e.type ? " " + e.type : ""));
window.titles = (id) => [...sr(id).querySelectorAll("article .title .t")].map((e) => e.textContent);
window.badge = () => { const b = sr("bell").querySelector(".badge"); return b.hidden ? "0" : b.textContent; };
window.tabOf = (id, name) => [...sr(id).querySelectorAll("[role=tab]")].find((b) => b.firstChild.textContent === name);
window.itemOf = (id, title) => [...sr(id).querySelectorAll("article")].find((a) => a.querySelector(".title .t").textContent === title);
true`

func (p inboxPage) eval(js string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.tab, chromedp.Evaluate[string](`(() => { const v = (`+js+`); return typeof v === "string" ? v : JSON.stringify(v); })()`))
	if err != nil {
		return "error: " + err.Error()
	}
	return v
}

func (p inboxPage) do(js string) {
	p.t.Helper()
	if v := p.eval(`(() => { ` + js + `; return "ok"; })()`); v != "ok" {
		p.t.Fatalf("%s: %s", js, v)
	}
}

// wait polls js until it evaluates to want.
func (p inboxPage) wait(what, js, want string) {
	p.t.Helper()
	waitUntil(p.t, what, func() (bool, string) {
		v := p.eval(js)
		return v == want, v
	})
}

func (p inboxPage) keys(keys ...string) {
	p.t.Helper()
	for _, k := range keys {
		if _, err := chromedp.Run(p.tab, chromedp.KeyEvent(k)); err != nil {
			p.t.Fatalf("key %q: %v", k, err)
		}
	}
}

func (p inboxPage) shot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.tab, chromedp.CaptureScreenshot())
	if err == nil {
		err = os.WriteFile(filepath.Join(artifactsDir(p.t), name), png, 0o644)
	}
	// TOCSIN_TEST_UPDATE_DOCS=1 refreshes the screenshots docs/inbox.md and the README show.
	if err == nil && os.Getenv("TOCSIN_TEST_UPDATE_DOCS") == "1" {
		err = os.WriteFile(filepath.Join("..", "docs", "img", name), png, 0o644)
	}
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
	}
}

// openInbox opens the dashboard signed in as user and waits for its elements.
func openInbox(t *testing.T, open func(string) context.Context, url string) inboxPage {
	t.Helper()
	p := inboxPage{t: t, tab: open(url)}
	// A script error anywhere in the page fails the test.
	if err := chromedp.Listen(p.tab, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			t.Errorf("page error: %s %s", e.ExceptionDetails.Text, exceptionText(e.ExceptionDetails))
		}
	}); err != nil {
		t.Fatal(err)
	}
	p.do(inboxJS)
	p.wait("the dashboard's inbox elements", `!!(document.getElementById("feed") && document.getElementById("bell") && sr("feed"))`, "true")
	p.wait("the stream to be live", `document.getElementById("status").textContent`, "live")
	return p
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

// TestInboxElement drives <tocsin-inbox> on the dashboard as a user would, against
// a real server: the bell's badge and name, a live notification, the tabs, search,
// snooze (gone from Unread, back after its time), mark one read, archive, bulk
// selection, mark all read, and hostile content rendered inert.
func TestInboxElement(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	n := startNode(t, "--dev-tokens")
	user := "ana"
	n.publish(user, map[string]any{"type": "comment", "title": "Ana commented on Roadmap", "body": "Looks good to me", "priority": 3,
		"groupKey": "roadmap", "actionUrl": "https://example.com/roadmap"})
	payment := n.publish(user, map[string]any{"type": "order", "title": "Payment failed", "body": "Card ending 4242 was declined", "priority": 5})
	n.publish(user, map[string]any{"type": "deploy", "title": "Deployment finished", "body": "api v2.4.1 is live", "priority": 4})
	open := newBrowser(t)
	p := openInbox(t, open, n.URL+"/?user="+user)

	// The bell: its badge and accessible name count the unread.
	p.wait("the badge at 3", `badge()`, "3")
	p.wait("the bell's name", `sr("bell").querySelector(".bell").getAttribute("aria-label")`, "Notifications, 3 unread")
	p.wait("the inline feed's unread items", `titles("feed")`, `["Deployment finished","Payment failed","Ana commented on Roadmap"]`)
	if v := p.eval(`itemOf("feed", "Payment failed").className + " " + itemOf("feed", "Payment failed").querySelector(".tag-urgent").textContent`); v != "item unread p5 Urgent" {
		t.Errorf("the priority-5 item: %s", v)
	}

	// On screen for a second, the items are seen (the channels that wait for an
	// unseen notification then skip it).
	waitUntil(t, "the shown items marked seen", func() (bool, string) {
		r := n.do("GET", "/api/notifications/"+payment.ID, userToken(t, user), nil)
		return strings.Contains(string(r.Body), `"seenAt":"`), string(r.Body)
	})

	// The element's events bubble out of its shadow root to the document.
	p.do(`window.__ev = []; for (const e of ["open", "close", "click", "error"]) document.addEventListener("tocsin-inbox:" + e, (ev) => {
	  window.__ev.push(e + (ev.detail.notification ? " " + ev.detail.notification.title : ""));
	  if (e === "click") ev.preventDefault(); // the app routes it: no navigation, no mark-read
	})`)

	// Open the popover: a dialog named "Notifications", focus on the Unread tab.
	p.do(`sr("bell").querySelector(".bell").click()`)
	p.wait("the popover open", `[document.getElementById("bell").hasAttribute("open"), sr("bell").querySelector(".panel").hidden, sr("bell").querySelector(".panel").getAttribute("role"), nameOf(deep())]`,
		`[true,false,"dialog","tab Unread"]`)
	p.wait("the popover's items", `titles("bell").length`, "3")

	// A click on an action link raises tocsin-inbox:click; cancelled, nothing else happens.
	p.do(`itemOf("bell", "Ana commented on Roadmap").querySelector("a.title").click()`)
	p.wait("the click event", `[window.__ev.join(), location.pathname, badge()]`, `["open,click Ana commented on Roadmap","/","3"]`)
	if v := p.eval(`itemOf("bell", "Ana commented on Roadmap").querySelector("a.title").href`); v != "https://example.com/roadmap" {
		t.Errorf("the action link: %s", v)
	}

	// A live notification appears in both, and the badge counts it.
	n.publish(user, map[string]any{"type": "mention", "title": "Bo mentioned you", "body": "@ana can you look?"})
	p.wait("the live notification on top", `[titles("bell")[0], titles("feed")[0], badge()]`, `["Bo mentioned you","Bo mentioned you","4"]`)

	// Mark one read (the hover action): it leaves Unread, the badge drops.
	p.do(`itemOf("bell", "Bo mentioned you").querySelector("[data-k=markRead]").click()`)
	p.wait("Bo's item read", `[titles("bell").includes("Bo mentioned you"), titles("feed").includes("Bo mentioned you"), badge()]`, `[false,false,"3"]`)

	// Tabs: All shows the read one; Archived is calmly empty.
	p.do(`tabOf("bell", "All").click()`)
	p.wait("the All tab", `[tabOf("bell", "All").getAttribute("aria-selected"), titles("bell").length, itemOf("bell", "Bo mentioned you").classList.contains("unread")]`, `["true",4,false]`)
	p.do(`tabOf("bell", "Archived").click()`)
	p.wait("the empty Archived tab", `sr("bell").querySelector("[part=empty] h3").textContent`, "Nothing archived")

	// Archive from Unread → it is in Archived.
	p.do(`tabOf("feed", "Unread").click()`)
	p.do(`itemOf("feed", "Deployment finished").querySelector("[data-k=archive]").click()`)
	p.wait("the archived item gone from Unread", `titles("feed").includes("Deployment finished")`, "false")
	p.wait("the archived item in the popover's Archived tab", `titles("bell")`, `["Deployment finished"]`)
	p.wait("the badge after archiving", `badge()`, "2")

	// Hostile content: markup in title and body shows as text, a javascript: action
	// URL is no link, nothing runs.
	n.publish(user, map[string]any{"title": `<img src=x onerror="window.__xss=1">`, "body": `<script>window.__xss=2</script><b>bold</b>`,
		"actionUrl": "javascript:window.__xss=3", "imageUrl": "javascript:window.__xss=4"})
	p.wait("the hostile item, as text", `(() => { const a = itemOf("feed", '<img src=x onerror="window.__xss=1">');
	  if (!a) return "missing";
	  a.querySelector(".title").click();
	  return [a.querySelector(".body").textContent, a.querySelectorAll("a, img, script, b").length, typeof window.__xss]; })()`,
		`["<script>window.__xss=2</script><b>bold</b>",0,"undefined"]`)

	// Search: by prefix, and a calm "no results".
	t.Run("search", func(t *testing.T) {
		q := inboxPage{t: t, tab: p.tab}
		q.do(`tabOf("feed", "All").click()`)
		q.do(`const s = sr("feed").querySelector("input[type=search]"); s.value = "Paym"; s.dispatchEvent(new Event("input"))`)
		q.wait("search by prefix", `titles("feed")`, `["Payment failed"]`)
		q.do(`const s = sr("feed").querySelector("input[type=search]"); s.value = "nothingmatchesthis"; s.dispatchEvent(new Event("input"))`)
		q.wait("no results", `sr("feed").querySelector("[part=empty] h3").textContent`, "No results for “nothingmatchesthis”")
		q.do(`const s = sr("feed").querySelector("input[type=search]"); s.value = ""; s.dispatchEvent(new Event("input")); tabOf("feed", "Unread").click()`)
	})

	// Snooze: the menu's "1 hour" hides an
	// item from Unread; a 2 s snooze comes back by itself.
	t.Run("snooze", func(t *testing.T) {
		q := inboxPage{t: t, tab: p.tab}
		q.do(`tabOf("feed", "Unread").click()`)
		q.wait("Unread", `titles("feed").includes("Payment failed")`, "true")
		q.do(`itemOf("feed", "Payment failed").querySelector("[data-k=snooze]").click()`)
		q.do(`[...itemOf("feed", "Payment failed").querySelectorAll("[role=menuitem]")].find((b) => b.textContent === "Snooze: 1 hour").click()`)
		q.wait("the snoozed item gone from Unread", `titles("feed").includes("Payment failed")`, "false")
		id := n.publish(user, map[string]any{"title": "Back in two seconds"}).ID
		q.wait("the new item", `titles("feed").includes("Back in two seconds")`, "true")
		r := n.do("PATCH", "/api/notifications/"+id, userToken(t, user), map[string]any{"snoozedUntil": time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano)})
		if r.Status != http.StatusOK {
			t.Fatalf("snooze: %d %s", r.Status, r.Body)
		}
		q.wait("the 2 s snooze gone from Unread", `titles("feed").includes("Back in two seconds")`, "false")
		q.wait("the 2 s snooze back in Unread", `titles("feed").includes("Back in two seconds")`, "true")
	})

	// Bulk: select two, "Archive selected".
	t.Run("bulk", func(t *testing.T) {
		q := inboxPage{t: t, tab: p.tab}
		n.publish(user, map[string]any{"title": "Bulk one"})
		n.publish(user, map[string]any{"title": "Bulk two"})
		q.wait("the bulk items", `["Bulk one", "Bulk two"].every((t) => titles("feed").includes(t))`, "true")
		q.do(`for (const t of ["Bulk one", "Bulk two"]) itemOf("feed", t).querySelector("input.sel").click()`)
		q.wait("the selection bar", `sr("feed").querySelector(".bulk .n").textContent`, "2 selected")
		q.do(`[...sr("feed").querySelectorAll(".bulk button")].find((b) => b.textContent === "Archive selected").click()`)
		q.wait("both archived", `["Bulk one", "Bulk two"].some((t) => titles("feed").includes(t))`, "false")
	})

	// A listing whose answer was read from the store before a change, and arrives
	// after that change's event, must not bring the old state back (the feed would
	// show a read item in Unread while the badge says 0).
	t.Run("listing racing a change", func(t *testing.T) {
		q := inboxPage{t: t, tab: p.tab}
		q.do(`tabOf("feed", "Unread").click()`)
		id := n.publish(user, map[string]any{"title": "Raced"}).ID
		q.wait("the raced item", `titles("feed").includes("Raced")`, "true")
		q.do(`const c = document.getElementById("feed").client, list = c.list.bind(c);
		  window.__gate = new Promise((r) => (window.__release = r));
		  c.list = async (o) => { const r = await list(o); window.__listed = true; await window.__gate; return r; };
		  window.__restore = () => { c.list = list; };
		  window.__listed = false; document.getElementById("feed").reload()`)
		q.wait("the listing answered, held", `window.__listed`, "true")
		if r := n.do("PATCH", "/api/notifications/"+id, userToken(t, user), map[string]any{"read": true}); r.Status != http.StatusOK {
			t.Fatalf("read: %d %s", r.Status, r.Body)
		}
		q.wait("the read event in the client", `document.getElementById("feed").client.notifications.some((x) => x.id === "`+id+`")`, "false")
		q.do(`window.__release(); window.__restore()`)
		q.wait("the held listing applied", `document.getElementById("feed")._loading`, "false")
		q.wait("the raced item still read", `titles("feed").includes("Raced")`, "false")
	})

	// Mark all as read: the badge is 0, Unread says so calmly.
	p.do(`tabOf("feed", "Unread").click()`)
	p.do(`sr("feed").querySelector("header button[aria-label='Mark all as read']").click()`)
	p.wait("all read", `[badge(), sr("bell").querySelector(".bell").getAttribute("aria-label")]`, `["0","Notifications, 0 unread"]`)
	p.wait("the calm empty state", `sr("feed").querySelector("[part=empty] h3")?.textContent || titles("feed").join()`, "You're all caught up")
	p.do(`document.getElementById("bell").close(); document.getElementById("toasts").replaceChildren()`)
	p.shot("inbox-empty.png")
	if v := p.eval(`window.__ev.filter((e) => e === "open" || e === "close").join()`); v != "open,close" {
		t.Errorf("open/close events: %s", v)
	}
}

// TestInboxHelpersInNode runs web/inbox.unit.test.mjs: the inbox's link, grouping,
// time, snooze and tab rules, which need no browser.
func TestInboxHelpersInNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	t.Parallel()
	runNodeTests(t, nil, "../web/inbox.unit.test.mjs")
}

// TestInboxTicketOnly: an element given only a stream ticket, on a page without the
// tocsin_token cookie, shows the stream's unread items (the listing is refused) and
// live ones, with the badge.
func TestInboxTicketOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	n := startNode(t)
	n.publish("tix", map[string]any{"title": "Before the page"})
	var tick struct{ Ticket string }
	n.do("POST", "/api/notifications/stream-ticket", userToken(t, "tix"), nil).json(t, &tick)
	open := newBrowser(t)
	p := inboxPage{t: t, tab: open(n.URL + "/")}
	p.do(inboxJS)
	p.do(`const el = document.createElement("tocsin-inbox"); el.id = "feed"; el.setAttribute("mode", "inline");
	  el.setAttribute("ticket", "` + tick.Ticket + `"); document.body.append(el);
	  const b = document.createElement("tocsin-inbox"); b.id = "bell"; b.client = el.client; document.body.append(b)`)
	p.wait("the stream's unread items", `[titles("feed"), badge()]`, `[["Before the page"],"1"]`)
	n.publish("tix", map[string]any{"title": "Live"})
	p.wait("a live one", `[titles("feed"), badge()]`, `[["Live","Before the page"],"2"]`)

	// Strings: an object merged over the English ones; lang: the relative times'.
	p.do(`const b = document.getElementById("bell"); b.setAttribute("lang", "de");
	  b.strings = { title: "Benachrichtigungen", bell: "Benachrichtigungen, {n} ungelesen", justNow: "gerade eben" }`)
	p.wait("the strings and the language", `[sr("bell").querySelector("h2").textContent, sr("bell").querySelector(".bell").getAttribute("aria-label"),
	  sr("bell").querySelector("[role=tab]").firstChild.textContent, sr("bell").querySelector("time").textContent]`,
		`["Benachrichtigungen","Benachrichtigungen, 2 ungelesen","Unread","gerade eben"]`)

	// A bell at the left edge opens its panel to the right, on screen.
	p.do(`document.getElementById("bell").open()`)
	p.wait("the panel on screen", `(() => { const r = sr("bell").querySelector(".panel").getBoundingClientRect(); return [r.left >= 0, r.right <= innerWidth]; })()`, `[true,true]`)
}

// TestInboxFromAnotherOrigin: the quick start's two lines on a page of another
// origin. Without --cors-origins the element explains what to configure (naming the
// page's origin) in its error state and the offline banner; with it, the same page
// shows the inbox.
func TestInboxFromAnotherOrigin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	open := newBrowser(t)
	tok := userToken(t, "far")
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		server := r.URL.Query().Get("server")
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>an app</title>
<script type="module" src="%s/inbox.js"></script>
<tocsin-inbox id="feed" mode="inline" url="%s" token="%s"></tocsin-inbox>
<tocsin-inbox id="bell" url="%s" token="%s"></tocsin-inbox>`, server, server, tok, server, tok)
	}))
	t.Cleanup(page.Close)

	refusing := startNode(t)
	p := inboxPage{t: t, tab: open(page.URL + "/?server=" + refusing.URL)}
	p.do(inboxJS)
	want := "This page's origin is not allowed by the server at " + refusing.URL + ". Start tocsin with --cors-origins " + page.URL + "."
	p.wait("the CORS explanation", `sr("feed").querySelector("[part=error] p")?.textContent`, want)
	p.wait("the banner", `sr("feed").querySelector("[part=banner]").textContent`, want+" Reconnecting…")

	allowing := startNode(t, "--cors-origins", page.URL)
	allowing.publish("far", map[string]any{"title": "Across origins"})
	q := inboxPage{t: t, tab: open(page.URL + "/?server=" + allowing.URL)}
	q.do(inboxJS)
	q.wait("the inbox from another origin", `[titles("feed"), badge(), sr("feed").querySelector("[part=banner]").hidden]`, `[["Across origins"],"1",true]`)

	// A new token of another user: the element follows that user at once.
	allowing.publish("near", map[string]any{"title": "For near"})
	q.do(`for (const id of ["feed", "bell"]) document.getElementById(id).setAttribute("token", "` + userToken(t, "near") + `")`)
	q.wait("the other user's inbox", `[titles("feed"), badge()]`, `[["For near"],"1"]`)
}
