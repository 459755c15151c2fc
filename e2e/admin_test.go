package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// adminUI drives the admin console (/admin) of one node in headless Chromium.
type adminUI struct {
	t       *testing.T
	n       *node
	browser context.Context // the browser's first context (its tabs share storage)
	tab     context.Context
}

// adminTZ is the browser's time zone in these tests: a half-hour offset, so a wrong
// conversion of deliverAt cannot pass by luck.
const adminTZ = "Asia/Kolkata"

// TestAdminConsole drives every view of the admin console against a real node, as
// an operator would: sign in once, send, watch, and manage credentials.
func TestAdminConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	c := newAdminUI(t)
	c.signIn()
	c.scheduleAndCancel()
	c.sendAndTrace()
	c.liveStreams()
	c.apiKeys()
	c.streamTokens()
	c.labelled()
	c.screenshots()
	c.signOut()
}

func newAdminUI(t *testing.T) *adminUI {
	n := startNode(t, "--webhook-allow-private", "--delivery-poll", "100ms")
	browser := launchChromium(t, 1200, 860)
	c := &adminUI{t: t, n: n, browser: browser}
	c.tab = c.open(browser)
	return c
}

// open opens /admin in a new tab of ctx's browser context, in adminTZ.
func (c *adminUI) open(parent context.Context, opts ...chromedp.ContextOption) context.Context {
	c.t.Helper()
	tab, cancel := chromedp.NewContext(parent, opts...)
	c.t.Cleanup(cancel)
	tz := protocol(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: adminTZ})
		return err
	})
	if err := chromedp.Do(tab, tz, chromedp.Navigate(c.n.URL+"/admin")); err != nil {
		c.t.Fatalf("open /admin: %v", err)
	}
	return tab
}

// front makes tab the visible one: the console pauses its live figures in a hidden tab.
func (c *adminUI) front(tab context.Context) {
	c.t.Helper()
	if err := chromedp.Do(tab, protocol(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.BringToFront, cdp.Empty{})
		return err
	})); err != nil {
		c.t.Fatal(err)
	}
}

// protocol is an action of DevTools protocol calls.
func protocol(f func(ctx context.Context, tg *chromedp.Target) error) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		return chromedp.Void{}, f(ctx, tg)
	}
}

// colorScheme emulates prefers-color-scheme in tab ("light" or "dark").
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return protocol(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

// evalIn runs js in tab and returns its value as a string ("error: ..." on failure).
func (c *adminUI) evalIn(tab context.Context, js string) string {
	v, err := chromedp.Run(tab, chromedp.Evaluate[string](`String((() => { `+js+` })())`))
	if err != nil {
		return "error: " + err.Error()
	}
	return v
}

func (c *adminUI) eval(js string) string { return c.evalIn(c.tab, js) }

// do runs a statement in the page and fails the test if it throws.
func (c *adminUI) do(js string) {
	c.t.Helper()
	if v := c.eval(js + `; return "ok"`); v != "ok" {
		c.t.Fatalf("%s: %s", js, v)
	}
}

// waitIn polls js (an expression) in tab until it is true.
func (c *adminUI) waitIn(tab context.Context, what, js string) {
	c.t.Helper()
	var last string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if last = c.evalIn(tab, `return `+js); last == "true" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s (last: %s)", what, last)
		}
	}
}

func (c *adminUI) wait(what, js string) { c.t.Helper(); c.waitIn(c.tab, what, js) }

// text is the visible text of the element with this id.
func (c *adminUI) text(id string) string {
	return c.eval(`return document.getElementById(` + strconv.Quote(id) + `).textContent`)
}

// set types value into the field with this id (and fires input/change).
func (c *adminUI) set(id, value string) {
	c.t.Helper()
	c.do(`const f = document.getElementById(` + strconv.Quote(id) + `); f.value = ` + strconv.Quote(value) +
		`; f.dispatchEvent(new Event("input", {bubbles: true})); f.dispatchEvent(new Event("change", {bubbles: true}))`)
}

// keys types at the keyboard into the focused element ("\t" Tab, "\r" Enter).
func (c *adminUI) keys(k string) {
	c.t.Helper()
	if err := chromedp.Do(c.tab, chromedp.KeyEvent(k)); err != nil {
		c.t.Fatal(err)
	}
}

// refused submits form and expects errorID to say want and field to be marked invalid.
func (c *adminUI) refused(form, errorID, want, field string) {
	c.t.Helper()
	c.submit(form)
	c.wait(errorID+" to say "+want, `document.getElementById("`+errorID+`").textContent.includes(`+strconv.Quote(want)+`)`)
	if got := c.eval(`return document.getElementById("` + field + `").getAttribute("aria-invalid")`); got != "true" {
		c.t.Errorf("%s after %q: aria-invalid %s", field, want, got)
	}
}

// fill sets fields in order: id, value, id, value...
func (c *adminUI) fill(pairs ...string) {
	c.t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		c.set(pairs[i], pairs[i+1])
	}
}

func (c *adminUI) submit(formID string) {
	c.t.Helper()
	c.do(`document.getElementById(` + strconv.Quote(formID) + `).requestSubmit()`)
}

// view follows the nav link to a section and waits until it shows.
func (c *adminUI) view(name string) {
	c.t.Helper()
	c.do(`document.querySelector('nav a[href="#` + name + `"]').click()`)
	c.wait("the "+name+" view", `!document.getElementById("view-`+name+`").hidden && document.querySelector('nav a[aria-current="page"]').getAttribute("href") === "#`+name+`"`)
}

// rowJS finds the row of tbody#rows whose text has want.
func rowJS(rows, want string) string {
	return `[...document.querySelectorAll("#` + rows + ` tr")].find((tr) => tr.textContent.includes(` + strconv.Quote(want) + `))`
}

// press clicks the button labelled label in the row of tbody#rows that has want:
// twice for the buttons that ask to confirm.
func (c *adminUI) press(rows, want, label string, times int) {
	c.t.Helper()
	for range times {
		c.wait(label+" in the row of "+want, `!!(`+rowJS(rows, want)+`) && !document.getElementById("`+rows+`").hasAttribute("aria-busy")`)
		c.do(`[...` + rowJS(rows, want) + `.querySelectorAll("button")].find((b) => b.textContent.toLowerCase().includes(` + strconv.Quote(strings.ToLower(label)) + `)).click()`)
	}
}

func (c *adminUI) shot(tab context.Context, name string) {
	c.t.Helper()
	png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err == nil {
		err = os.WriteFile(filepath.Join(artifactsDir(c.t), name), png, 0o644)
	}
	if err != nil {
		c.t.Errorf("screenshot %s: %v", name, err)
	}
}

// signIn: a wrong key is refused with a message; the right one opens the console,
// survives a reload, lives in sessionStorage only, and a new browser context asks
// for it again.
func (c *adminUI) signIn() {
	c.t.Helper()
	c.wait("the sign-in form", `!document.getElementById("signin-view").hidden && document.getElementById("app").hidden`)
	c.set("apikey", "tk_not_the_key_0123456789")
	c.refused("signin", "signin-error", "not valid", "apikey")
	// The right key typed at the keyboard (focus is back in the field), Enter submits.
	c.set("apikey", "")
	c.keys(apiKey + "\r")
	c.wait("the console", `!document.getElementById("app").hidden && document.getElementById("signin-view").hidden`)
	if got := c.eval(`return JSON.stringify([sessionStorage.getItem("tocsin.admin.key"), localStorage.length, document.cookie])`); got != `["`+apiKey+`",0,""]` {
		c.t.Fatalf("where the key is kept: %s", got)
	}
	if err := chromedp.Do(c.tab, chromedp.Reload()); err != nil {
		c.t.Fatal(err)
	}
	c.wait("the console after a reload, without asking", `!document.getElementById("app").hidden`)

	other := c.open(c.browser, chromedp.WithNewBrowserContext())
	c.waitIn(other, "a new browser context to ask for the key", `!document.getElementById("signin-view").hidden && document.getElementById("app").hidden && document.activeElement.id === "apikey"`)
	c.front(c.tab)
}

// scheduleAndCancel: a publish with deliverAt and channels appears in the scheduled
// list at the instant typed (in the browser's zone) and is cancelled from there.
func (c *adminUI) scheduleAndCancel() {
	c.t.Helper()
	c.view("send")
	c.fill("send-to", "adm", "send-title", "Maintenance tonight", "send-body", "The API is read-only from 22:00.",
		"send-priority", "4", "ch-push", "off", "ch-email", "delay", "ch-email-delay", "15m")
	// One hour ahead, typed as the datetime-local field shows it (local wall time).
	local := c.eval(`const d = new Date(Date.now() + 3600e3); const p = (n) => String(n).padStart(2, "0");
		return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes())`)
	zone, err := time.LoadLocation(adminTZ)
	if err != nil {
		c.t.Fatal(err)
	}
	want, err := time.ParseInLocation("2006-01-02T15:04", local, zone)
	if err != nil {
		c.t.Fatalf("the browser's local time %q: %v", local, err)
	}
	c.set("send-at", local)
	c.submit("send")
	c.wait("the scheduled result", `document.getElementById("send-result").textContent.startsWith("Scheduled")`)
	id := c.text("send-result-id")

	r := c.n.do("GET", "/api/scheduled?userId=adm", apiKey, nil)
	var out struct {
		Scheduled []struct {
			ID        string
			CreatedAt string // a scheduled notification's is its deliverAt
		}
	}
	r.json(c.t, &out)
	if len(out.Scheduled) != 1 || out.Scheduled[0].ID != id {
		c.t.Fatalf("scheduled after the console's send: %s", r.Body)
	}
	at, err := time.Parse(time.RFC3339, out.Scheduled[0].CreatedAt)
	if err != nil || !at.Equal(want) {
		c.t.Errorf("deliverAt %s, want %s (the browser's local time typed: %s)", out.Scheduled[0].CreatedAt, want.UTC(), local)
	}

	c.view("scheduled")
	c.wait("the scheduled row", `!!(`+rowJS("sch-rows", id)+`)`)
	c.press("sch-rows", id, "Cancel", 2)
	c.wait("the cancelled row to go", `!(`+rowJS("sch-rows", id)+`) && document.getElementById("sch-state").textContent === "Nothing is scheduled."`)
	if r := c.n.do("DELETE", "/api/scheduled/"+id, apiKey, nil); r.Status != http.StatusNotFound {
		c.t.Errorf("after the console's cancel, DELETE again: %d %s", r.Status, r.Body)
	}
}

// liveStreams: the open-stream figure follows a stream opened and closed by the test.
func (c *adminUI) liveStreams() {
	c.t.Helper()
	// Keyboard only: from the Send link, Tab reaches Live, Enter opens it and moves the
	// focus to its heading.
	c.do(`document.querySelector('nav a[href="#send"]').focus()`)
	c.keys("\t\r")
	c.wait("the live view, focused by keyboard", `!document.getElementById("view-live").hidden && document.activeElement.id === "live-h"`)
	c.wait("the first figures", `/^\d+$/.test(document.getElementById("live-streams").textContent)`)
	before, _ := strconv.Atoi(c.text("live-streams"))
	s := c.n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(c.t, "watcher"))
	want := strconv.Itoa(before + 1)
	c.wait("the stream count to rise to "+want, `document.getElementById("live-streams").textContent === "`+want+`"`)
	c.wait("a sparkline", `document.querySelectorAll("#spark-streams polyline").length === 1`)

	// The same stream in the user's connections.
	c.view("connections")
	c.set("conn-user", "watcher")
	c.submit("conn-form")
	c.wait("the watcher's stream", `(`+rowJS("conn-rows", "sse")+`) !== undefined`)
	s.close()
	// The server notices the closed stream a moment later: ask again until it has.
	waitUntil(c.t, "no streams left", func() (bool, string) {
		c.submit("conn-form")
		time.Sleep(250 * time.Millisecond)
		v := c.eval(`return document.getElementById("conn-state").textContent`)
		return v == "No open streams for watcher on this node.", v
	})
	c.view("live")
	c.wait("the stream count to fall back", `document.getElementById("live-streams").textContent === "`+strconv.Itoa(before)+`"`)

	// Hidden, the tab stops asking; visible again, it asks at once.
	c.do(`window.statsCalls = 0; const f = window.fetch;
		window.fetch = (u, o) => { if (String(u).includes("/api/stats")) window.statsCalls++; return f(u, o); };
		Object.defineProperty(document, "hidden", { value: true, configurable: true });
		document.dispatchEvent(new Event("visibilitychange"))`)
	time.Sleep(4500 * time.Millisecond) // two refresh periods
	if n := c.eval(`return window.statsCalls`); n != "0" {
		c.t.Errorf("a hidden tab asked for the stats %s times", n)
	}
	c.do(`Object.defineProperty(document, "hidden", { value: false, configurable: true });
		document.dispatchEvent(new Event("visibilitychange"))`)
	c.wait("the refresh to resume", `window.statsCalls > 0`)
}

// signOut forgets the key: the form is back and a reload asks again.
func (c *adminUI) signOut() {
	c.t.Helper()
	c.do(`document.getElementById("signout").click()`)
	c.wait("the sign-in form", `!document.getElementById("signin-view").hidden && sessionStorage.length === 0 && !document.querySelector("#keys-secret input, #tok-secret input, #wh-secret input")`)
	if err := chromedp.Do(c.tab, chromedp.Reload()); err != nil {
		c.t.Fatal(err)
	}
	c.wait("the sign-in form after a reload", `!document.getElementById("signin-view").hidden && document.getElementById("app").hidden`)
}

// decodeInto unmarshals a JSON string the page returned.
func decodeInto(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.NewDecoder(strings.NewReader(s)).Decode(v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
}
