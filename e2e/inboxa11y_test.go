package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/chromedp/chromedp/kb"
	"github.com/tocsin/tocsin/internal/testenv"
)

// axeSource is axe-core's browser bundle, installed by .ci/run into the test-only
// folder e2e/clients/node (npm package axe-core).
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("clients", "node", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		testenv.Need(t, "node_modules/axe-core", "the accessibility checker", "run npm install --prefix e2e/clients/node")
	}
	return string(b)
}

// axeCheck runs axe-core on the dashboard's two <tocsin-inbox> elements (axe reads
// their shadow roots) with the WCAG 2.x A and AA rules: roles and their required
// parts, accessible names of buttons, links and fields, focusable content, and text
// contrast of at least 4.5:1. Any violation fails the test, each one printed.
func (p inboxPage) axeCheck(src, what string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.tab, chromedp.Evaluate[bool](`window.axe || (0, eval)(`+jsString(src)+`), true`)); err != nil {
		p.t.Fatalf("load axe-core: %v", err)
	}
	out, err := chromedp.Run(p.tab, chromedp.Evaluate[string](`axe.run({ include: [[document.getElementById("bell")], [document.getElementById("feed")]] },
	  { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] }, resultTypes: ["violations"] })
	  .then((r) => r.violations.map((v) => v.id + " (" + v.impact + "): " + v.help + "\n" +
	    v.nodes.map((n) => "    " + JSON.stringify(n.target) + " " + n.failureSummary.replace(/\n/g, " ")).join("\n")).join("\n"))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("axe.run: %v", err)
	}
	if out != "" {
		p.t.Errorf("accessibility violations (%s):\n%s", what, out)
	}
}

func jsString(s string) string {
	var b strings.Builder
	b.WriteString(`"`)
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == 0x2028 || r == 0x2029:
			b.WriteString(`\u202` + string(rune('8'+r-0x2028)))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString(`"`)
	return b.String()
}

func (p inboxPage) darkMode(on bool) {
	p.t.Helper()
	v := "light"
	if on {
		v = "dark"
	}
	if _, err := chromedp.Run(p.tab, chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}})
		return chromedp.Void{}, err
	})); err != nil {
		p.t.Fatalf("emulate %s: %v", v, err)
	}
}

// seedInbox publishes a varied inbox: grouped, urgent, high, with an action link,
// with a long unbroken word (the 360 px check), read and unread.
func seedInbox(n *node, user string) {
	n.publish(user, map[string]any{"type": "system", "title": "Weekly digest is ready", "body": "12 updates from 4 projects", "priority": 2})
	n.publish(user, map[string]any{"type": "deploy", "title": "Deployment finished", "body": "api v2.4.1 is live in eu-west-1; https://status.example.com/deployments/2024-11-14T09:12:44Z/very-long-unbroken-identifier-0123456789", "priority": 4})
	n.publish(user, map[string]any{"type": "order", "title": "Payment failed", "body": "The card ending 4242 was declined. Update it to keep your subscription.", "priority": 5, "actionUrl": "https://example.com/billing"})
	for _, who := range []string{"Lin", "Sam", "Kai", "Mo", "Ana"} {
		n.publish(user, map[string]any{"type": "comment", "title": who + " commented on Roadmap 2025", "body": "“I think we should ship the inbox first.”",
			"groupKey": "roadmap-comments", "data": map[string]any{"actorName": who, "verb": "commented"}, "actionUrl": "https://example.com/roadmap"})
	}
	n.publish(user, map[string]any{"type": "mention", "title": "Bo mentioned you in #design", "body": "@you can you review the empty states?", "actionUrl": "https://example.com/design"})
}

// TestInboxAccessibility: keyboard only (Tab, arrows, Enter, Escape, with the focus
// order checked), axe-core in light and dark, a 360 px viewport without horizontal
// scrolling, dark mode's computed colours, the preferences view; screenshots of each.
func TestInboxAccessibility(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	src := axeSource(t)
	n := startNode(t, "--dev-tokens")
	seedInbox(n, "kim")
	open := newBrowser(t)
	p := openInbox(t, open, n.URL+"/?user=kim")
	p.wait("the feed", `titles("feed").length`, "5")
	p.wait("the grouped item's summary", `itemOf("feed", "Ana commented on Roadmap 2025").querySelector(".summary").textContent`, "Ana and 4 others commented")

	// Keyboard only, from the top of the page.
	p.do(`document.activeElement.blur()`)
	order := []string{"link Admin", "button", "Notifications, 5 unread"}
	for i, want := range order {
		p.keys(kb.Tab)
		if got := p.eval(`nameOf(deep())`); got != want && !(want == "button" && got == "button button") {
			t.Fatalf("Tab %d: focus on %q, want %q", i+1, got, want)
		}
	}
	p.keys(kb.Enter)
	p.wait("Enter opens the popover on the Unread tab", `[document.getElementById("bell").hasAttribute("open"), nameOf(deep())]`, `[true,"tab Unread"]`)
	p.keys(kb.ArrowRight)
	p.wait("ArrowRight selects All", `[nameOf(deep()), tabOf("bell", "All").getAttribute("aria-selected")]`, `["tab All","true"]`)
	p.keys(kb.ArrowLeft)
	p.wait("ArrowLeft back to Unread", `[nameOf(deep()), tabOf("bell", "Unread").getAttribute("aria-selected")]`, `["tab Unread","true"]`)
	p.wait("the Unread listing", `titles("bell").length`, "5")
	p.keys(kb.Tab)
	p.wait("Tab to the search box", `nameOf(deep())`, "Search notifications")
	p.keys(kb.Tab)
	p.wait("Tab to the first item's selection box", `nameOf(deep())`, "Select “Bo mentioned you in #design”")
	p.keys(kb.Tab)
	p.wait("Tab to the first item's link", `nameOf(deep())`, "link Unread, Bo mentioned you in #design")
	p.keys(kb.Tab)
	// With a mouse the item's actions are a bar shown on focus; on touch screens (and
	// in headless Chromium, which reports no hover) a menu behind "More actions".
	if p.eval(`nameOf(deep())`) == "More actions" {
		p.keys(kb.Enter)
		p.wait("the actions menu", `nameOf(deep())`, "button button") // its first item
		p.wait("its first item", `deep().textContent`, "Mark as read")
		p.keys(kb.ArrowDown)
		p.wait("ArrowDown in the menu", `deep().textContent`, "Archive")
		p.keys(kb.Escape)
		p.wait("Escape closes the menu, focus back on its button", `[nameOf(deep()), sr("bell").querySelectorAll("[role=menu]").length]`, `["More actions",0]`)
		p.keys(kb.Enter, kb.Enter)
	} else {
		p.wait("Tab to the first action", `nameOf(deep())`, "Mark as read")
		p.keys(kb.Enter)
	}
	p.wait("Enter marked it read", `[badge(), titles("bell").includes("Bo mentioned you in #design")]`, `["4",false]`)
	p.keys(kb.Escape)
	p.wait("Escape closes the popover, focus back on the bell", `[document.getElementById("bell").hasAttribute("open"), nameOf(deep())]`, `[false,"Notifications, 4 unread"]`)

	// Light: open the popover for the screenshot and the check.
	p.do(`document.getElementById("bell").open()`)
	p.wait("the popover", `titles("bell").length`, "4")
	time.Sleep(200 * time.Millisecond)
	p.shot("inbox-light.png")
	p.axeCheck(src, "light")

	// Dark: the computed colours follow prefers-color-scheme.
	p.darkMode(true)
	p.wait("dark colours", `[getComputedStyle(sr("feed").querySelector(".panel")).backgroundColor, getComputedStyle(sr("bell").querySelector(".panel")).color]`,
		`["rgb(22, 24, 29)","rgb(243, 244, 246)"]`)
	p.shot("inbox-dark.png")
	p.axeCheck(src, "dark")
	p.do(`document.getElementById("bell").setAttribute("theme", "light")`)
	p.wait("theme=light overrides the media query", `getComputedStyle(sr("bell").querySelector(".panel")).backgroundColor`, "rgb(255, 255, 255)")
	p.do(`document.getElementById("bell").removeAttribute("theme")`)
	p.darkMode(false)

	// Preferences: channel switches, the types seen, quiet hours; saved with PATCH.
	p.do(`sr("bell").querySelector("header button[aria-label=Preferences]").click()`)
	p.wait("the preferences view", `[sr("bell").querySelector("h2").textContent, nameOf(deep())]`, `["Notification preferences","button button"]`)
	p.wait("a row per type seen", `[...sr("bell").querySelectorAll(".prefs tbody th")].map((e) => e.textContent).join()`, "comment,deploy,mention,order,system")
	p.shot("inbox-preferences.png")
	p.axeCheck(src, "preferences")
	p.do(`const f = sr("bell").querySelector(".prefs"); f.querySelector("[name=channel-email]").click(); f.querySelector("[name=quiet]").click();
	  f.querySelector("[aria-label='Push: deploy']").click(); f.requestSubmit()`)
	p.wait("saved", `sr("bell").querySelector(".prefs .save [role=status]").textContent`, "Saved")
	r := n.do("GET", "/api/preferences", userToken(t, "kim"), nil)
	if s := string(r.Body); !strings.Contains(s, `"email":false`) || !strings.Contains(s, `"deploy":{"push":false}`) || !strings.Contains(s, `"start":"22:00"`) {
		t.Errorf("preferences after saving: %s", s)
	}
	p.keys(kb.Escape)
	p.wait("Escape leaves the preferences", `sr("bell").querySelector("h2").textContent`, "Notifications")

	// 360 px wide: the popover takes the width, nothing scrolls sideways.
	q := openInbox(t, open, n.URL+"/?user=kim")
	if _, err := chromedp.Run(q.tab, chromedp.EmulateViewport(360, 740)); err != nil {
		t.Fatal(err)
	}
	q.do(`document.getElementById("bell").open()`)
	q.wait("the popover at 360 px", `titles("bell").length`, "4")
	q.wait("no horizontal overflow", `(() => { const d = document.documentElement, panel = sr("bell").querySelector(".panel"), s = sr("bell").querySelector(".scroll");
	  return [d.scrollWidth <= d.clientWidth, panel.getBoundingClientRect().width, s.scrollWidth <= s.clientWidth, sr("feed").querySelector(".scroll").scrollWidth <= sr("feed").querySelector(".scroll").clientWidth]; })()`,
		`[true,360,true,true]`)
	time.Sleep(200 * time.Millisecond)
	q.shot("inbox-360.png")
	q.axeCheck(src, "360 px")

	// On a small screen an item's actions are behind "More actions", by keyboard too.
	q.do(`itemOf("bell", "Payment failed").querySelector("[data-k=kebab]").focus()`)
	q.wait("the kebab shown and focused", `[nameOf(deep()), getComputedStyle(deep()).display]`, `["More actions","flex"]`)
	q.keys(kb.Enter)
	q.wait("its menu", `[...sr("bell").querySelectorAll("[role=menuitem]")].map((b) => b.textContent).join("|")`,
		"Mark as read|Archive|Snooze: 1 hour|Snooze: Tomorrow, 9:00|Snooze: Next week|Delete")
	q.keys(kb.ArrowDown, kb.Enter)
	q.wait("archived from the menu", `titles("bell").includes("Payment failed")`, "false")
}
