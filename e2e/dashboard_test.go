package e2e

import (
	"os"
	"testing"
)

// artifactsDir is where browser tests write screenshots: $TOCSIN_TEST_ARTIFACTS, or
// e2e/artifacts (ignored by git).
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("TOCSIN_TEST_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDashboard drives the web dashboard in headless Chromium: a publish shows a
// toast (dismissible, in a polite live region) and raises the bell's badge; marking
// it read in one tab drops the badge in the other; the admin console is a link to
// /admin, not part of the page.
func TestDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	n := startNode(t, "--dev-tokens")
	open := newBrowser(t)
	tab1 := openInbox(t, open, n.URL+"/?user=dash")
	if v := tab1.eval(`[document.querySelector("a[href=admin]")?.textContent, !!document.getElementById("compose"), document.getElementById("toasts").getAttribute("aria-live")]`); v != `["Admin",false,"polite"]` {
		t.Errorf("the header's admin link, no console, the toasts' live region: %s", v)
	}
	n.publish("dash", map[string]any{"title": "Build #481 passed", "body": "main is green"})
	tab1.wait("a toast and the badge at 1", `[document.querySelector("#toasts .toast strong")?.textContent, badge()]`, `["Build #481 passed","1"]`)
	tab1.shot("dashboard-toast.png")

	tab2 := openInbox(t, open, n.URL+"/?user=dash")
	tab2.wait("the second tab's badge", `badge()`, "1")
	tab1.do(`itemOf("feed", "Build #481 passed").querySelector("[data-k=markRead]").click()`)
	tab2.wait("the other tab's badge to drop", `[badge(), titles("feed").length]`, `["0",0]`)
	tab1.wait("this tab's badge to drop", `badge()`, "0")

	// A toast goes when dismissed.
	n.publish("dash", map[string]any{"title": "Second", "body": "x"})
	tab2.wait("the toast", `document.querySelectorAll("#toasts .toast").length`, "1")
	tab2.do(`document.querySelector("#toasts .toast button[aria-label=Dismiss]").click()`)
	tab2.wait("the toast dismissed", `document.querySelectorAll("#toasts .toast").length`, "0")
}

// TestDashboardURLCredentials: a sign-in link (/?token=<jwt>, /?user=) signs the tab
// in, then leaves the address bar and the tab's history without the credential, so
// it is not copied along with the page's address, bookmarked, or kept in history.
func TestDashboardURLCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	n := startNode(t, "--dev-tokens")
	open := newBrowser(t)
	tok := openInbox(t, open, n.URL+"/?token="+userToken(t, "urlcred")+"#x")
	if v := tok.eval(`[location.search, location.hash, document.getElementById("who").textContent]`); v != `["","#x","Signed in as urlcred"]` {
		t.Errorf("after /?token=: %s", v)
	}
	dev := openInbox(t, open, n.URL+"/?user=urlcred&lang=fr")
	if v := dev.eval(`[location.search, document.getElementById("who").textContent]`); v != `["?lang=fr","Signed in as urlcred"]` {
		t.Errorf("after /?user=: %s", v)
	}
}
