package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestAdminDotUserIDs: the browser resolves a path segment "." or ".." (and their
// percent-encoded forms, which encodeURIComponent leaves or cannot avoid), so
// /api/users/../connections would reach /api/connections, another route. The
// console refuses those ids with a message, sends no such request, and stays signed
// in; an id with "/", "?", "#" or "%" reaches its own user.
func TestAdminDotUserIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	c := newAdminUI(t)
	c.signIn()
	c.n.publish("a/../b?c#d%2F", map[string]any{"title": "odd id"})
	c.view("deliveries")
	c.set("del-user", "a/../b?c#d%2F")
	c.submit("del-user-form")
	c.wait("the odd id's notification", `document.getElementById("del-list-rows").textContent.includes("odd id")`)
	for _, id := range []string{"..", "."} {
		c.set("del-user", id)
		c.submit("del-user-form")
		c.wait("the refusal of "+id, `document.getElementById("del-list-error").textContent.includes("cannot be looked up")`)
		c.view("connections")
		c.set("conn-user", id)
		c.submit("conn-form")
		c.wait("the refusal of "+id+" (connections)", `document.getElementById("conn-error").textContent.includes("cannot be looked up")`)
		c.view("deliveries")
	}
	c.wait("still signed in", `!document.getElementById("app").hidden`)
}

// TestAdminKeyNeverInURL: before admin.js runs (still loading, or failing to load),
// the sign-in form submits the browser's own way, a GET to the page: the key must not
// land in the address (the server's and proxies' access logs, the history).
func TestAdminKeyNeverInURL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	n := startNode(t)
	browser := launchChromium(t, 1000, 700)
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	block := protocol(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetBlockedURLs, network.SetBlockedURLsParams{
			URLPatterns: []*network.BlockPattern{{URLPattern: "*://*:*/admin.js", Block: true}}})
		return err
	})
	if err := chromedp.Do(tab, block, chromedp.Navigate(n.URL+"/admin")); err != nil {
		t.Fatal(err)
	}
	if v, err := chromedp.Run(tab, chromedp.Evaluate[string](`const f = document.getElementById("apikey"); f.value = `+strconv.Quote(apiKey)+
		`; document.getElementById("signin").requestSubmit(); "ok"`)); err != nil || v != "ok" {
		t.Fatalf("submit: %v %s", err, v)
	}
	time.Sleep(500 * time.Millisecond)
	href, err := chromedp.Run(tab, chromedp.Evaluate[string](`location.href`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(href, apiKey) {
		t.Fatalf("the key is in the address: %s", href)
	}
}
