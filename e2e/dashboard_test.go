package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tocsin/tocsin/internal/testenv"
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
// toast and raises the badge; marking it read in one tab drops the badge in the
// other; the admin console sends a notification that both tabs show.
func TestDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	chromium := testenv.Chromium(t)
	n := startNode(t, "--dev-tokens")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1100, 760), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if _, err := chromedp.Run(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("browser: %v", err)
	}
	open := func() context.Context {
		tab, cancel := chromedp.NewContext(browser)
		t.Cleanup(cancel)
		if _, err := chromedp.Run(tab, chromedp.Navigate(n.URL+"/?user=dash")); err != nil {
			t.Fatalf("open the dashboard: %v", err)
		}
		return tab
	}
	text := func(tab context.Context, js string) string {
		v, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
		if err != nil {
			return "error: " + err.Error()
		}
		return v
	}
	badge := func(tab context.Context) string {
		return text(tab, `document.getElementById("badge").hidden ? "0" : document.getElementById("badge").textContent`)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	shot := func(tab context.Context, name string) {
		png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
		if err == nil {
			err = os.WriteFile(filepath.Join(artifactsDir(t), name), png, 0o644)
		}
		if err != nil {
			t.Logf("screenshot %s: %v", name, err)
		}
	}

	tab1 := open()
	waitFor("the first tab to be live", func() bool { return text(tab1, `document.getElementById("status").textContent`) == "live" })
	n.publish("dash", map[string]any{"title": "Build #481 passed", "body": "main is green"})
	waitFor("a toast and the badge at 1", func() bool {
		return strings.Contains(text(tab1, `document.getElementById("toasts").textContent`), "Build #481 passed") && badge(tab1) == "1"
	})
	shot(tab1, "dashboard-toast.png")

	tab2 := open()
	waitFor("the second tab to show the badge", func() bool { return badge(tab2) == "1" })
	if _, err := chromedp.Run(tab1, chromedp.Evaluate[bool](`(document.querySelector("#list button").click(), true)`)); err != nil { // "Mark read"
		t.Fatal(err)
	}
	waitFor("the other tab's badge to drop", func() bool { return badge(tab2) == "0" && badge(tab1) == "0" })
	shot(tab2, "dashboard-read.png")

	// The admin console sends to the same user. (Typed through the DOM: tab 1 is in
	// the background now, where chromedp's visibility waits would stall.)
	if _, err := chromedp.Run(tab1, chromedp.Evaluate[bool](`(() => {
		const set = (id, v) => { document.getElementById(id).value = v; };
		set("apikey", "`+apiKey+`"); set("to", "dash"); set("title", "From the console"); set("body", "sent by an admin");
		document.getElementById("compose").requestSubmit();
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
	waitFor("both tabs to show the console's notification", func() bool {
		return badge(tab1) == "1" && badge(tab2) == "1" &&
			strings.Contains(text(tab2, `document.getElementById("list").textContent`), "From the console")
	})
	waitFor("the console's live stream count", func() bool { return text(tab1, `document.getElementById("streams").firstChild.textContent`) == "1" })
	shot(tab1, "dashboard-console.png")
}
