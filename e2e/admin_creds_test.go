package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/chromedp/chromedp"
)

// The admin console's views of what goes out (webhooks, the delivery log) and of
// credentials (API keys, stream and hook tokens), driven from TestAdminConsole.

// sendAndTrace: a webhook endpoint made in the console; a notification sent now with
// the webhook channel shows in the user's recent notifications, its delivery log has
// the webhook row, and the endpoint's history has the delivery.
func (c *adminUI) sendAndTrace() {
	c.t.Helper()
	var got atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
	}))
	c.t.Cleanup(hook.Close)

	c.view("webhooks")
	c.wait("the empty endpoint list", `document.getElementById("wh-state").textContent === "No endpoints yet."`)
	c.set("wh-url", hook.URL+"/tocsin")
	c.submit("wh-form")
	c.wait("the signing secret", `(document.querySelector("#wh-secret input") || {}).value?.startsWith("whsec_")`)
	c.wait("the endpoint row", `!!(`+rowJS("wh-rows", hook.URL+"/tocsin")+`)`)
	if body := c.eval(`return document.getElementById("wh-rows").textContent`); strings.Contains(body, "whsec_") {
		c.t.Fatalf("the endpoint list shows the secret: %s", body)
	}

	c.view("send")
	c.fill("send-to", "adm", "send-title", "Payment failed", "send-at", "",
		"ch-push", "off", "ch-email", "off", "ch-webhook", "delay", "ch-webhook-delay", "0s")
	c.submit("send")
	c.wait("the delivered result", `document.getElementById("send-result").textContent.startsWith("Delivered")`)
	id := c.text("send-result-id")
	// The result sits beside the Send button, never over it.
	if overlap := c.eval(`const a = document.getElementById("send-button").getBoundingClientRect(), b = document.getElementById("send-result").getBoundingClientRect();
		return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom`); overlap != "false" {
		c.t.Errorf("the send result covers the Send button: %s", overlap)
	}
	c.do(`document.querySelector("#send-result a[href='#deliveries']").click()`)
	c.wait("the user's recent notifications", `!!(`+rowJS("del-list-rows", "Payment failed")+`)`)
	c.wait("the delivery log's webhook row", `(() => { const r = `+rowJS("del-rows", "webhook")+`; if (!r || !r.textContent.includes("sent")) { document.getElementById("del-form").requestSubmit(); return false; } return true; })()`)
	if v := c.eval(`return document.getElementById("del-id").value`); v != id {
		c.t.Errorf("the delivery log is of %q, want %q", v, id)
	}
	c.press("del-list-rows", "Payment failed", "Delivery log", 1) // the same log, picked from the list
	c.wait("the log picked from the list", `!!(`+rowJS("del-rows", "webhook")+`)`)

	// A server-side validation error is shown by the form, on the field it names.
	c.view("send")
	c.set("ch-webhook-delay", "soon")
	c.refused("send", "send-error", "channels.webhook", "ch-webhook-delay")
	c.set("ch-webhook-delay", "0s")
	c.view("webhooks")
	c.press("wh-rows", hook.URL, "Deliveries", 1)
	c.wait("the endpoint's delivery history", `(() => { const r = `+rowJS("whd-rows", "notification.deliver")+`; if (!r || !r.textContent.includes("done")) { `+rowJS("wh-rows", hook.URL)+`.querySelector("button").click(); return false; } return true; })()`)
	if got.Load() == 0 {
		c.t.Error("the endpoint received nothing")
	}
}

// apiKeys: a key made in the console is shown once, listed without its secret, works,
// and once revoked there is refused; the configured key cannot be revoked.
func (c *adminUI) apiKeys() {
	c.t.Helper()
	c.view("keys")
	c.wait("the configured key", `(`+rowJS("keys-rows", "from config")+`)?.textContent.includes("this session")`)
	if n := c.eval(`return document.querySelectorAll("#keys-rows button").length`); n != "0" {
		c.t.Errorf("revoke buttons on the configured key: %s", n)
	}
	c.set("keys-name", "billing service")
	c.submit("keys-form")
	c.wait("the new key's secret", `(document.querySelector("#keys-secret input") || {}).value?.startsWith("tk_")`)
	secret := c.eval(`return document.querySelector("#keys-secret input").value`)
	c.wait("the new key's row", `!!(`+rowJS("keys-rows", "billing service")+`)`)
	if body := c.eval(`return document.getElementById("view-keys").querySelector("table").textContent`); strings.Contains(body, secret) {
		c.t.Fatal("the key list shows the secret")
	}
	if r := c.n.do("GET", "/api/stats", secret, nil); r.Status != http.StatusOK {
		c.t.Fatalf("the new key: %d %s", r.Status, r.Body)
	}
	c.press("keys-rows", "billing service", "Revoke", 2)
	c.wait("the key revoked", `(`+rowJS("keys-rows", "billing service")+`)?.textContent.includes("revoked")`)
	if r := c.n.do("GET", "/api/stats", secret, nil); r.Status != http.StatusUnauthorized {
		c.t.Fatalf("the revoked key: %d %s", r.Status, r.Body)
	}
}

// streamTokens: a stream token minted in the console shows its URL once, the URL
// streams, and once revoked there the URL is refused.
func (c *adminUI) streamTokens() {
	c.t.Helper()
	c.view("tokens")
	c.wait("the empty token list", `document.getElementById("tok-state").textContent === "No tokens yet."`)
	c.set("tok-kind", "topic")
	c.set("tok-name", "deploys")
	c.set("tok-scope", "subscribe")
	c.submit("tok-form")
	c.wait("the stream URL", `(document.querySelector("#tok-secret input") || {}).value?.includes("/api/stream/tks_")`)
	url := c.eval(`return document.querySelector("#tok-secret input").value`)
	c.do(`[...document.querySelectorAll("#tok-secret button")].find((b) => b.textContent === "Copy").click()`)
	c.wait("the copy button to confirm", `[...document.querySelectorAll("#tok-secret button")].some((b) => b.textContent === "Copied")`)
	path := strings.TrimPrefix(url, c.n.URL)
	c.wait("the token's row", `!!(`+rowJS("tok-rows", "topic:deploys")+`)`)
	if body := c.eval(`return document.getElementById("tok-rows").textContent`); strings.Contains(body, "tks_") {
		c.t.Fatalf("the token list shows the token: %s", body)
	}
	// The console's send to the topic arrives on the capability URL.
	s := c.n.openStream(path)
	c.view("send")
	c.do(`document.querySelector('input[name="kind"][value="topic"]').click()`)
	c.fill("send-to", "deploys", "send-title", "v1.2 is out", "send-at", "")
	c.submit("send")
	c.wait("the topic send's result", `document.getElementById("send-result").textContent.includes("to topic deploys")`)
	if ev := s.nextEvent(); !strings.Contains(ev.Data, "v1.2 is out") {
		c.t.Fatalf("the capability stream got %+v", ev)
	}
	s.close()
	// And to a list of users: one result for all.
	c.do(`document.querySelector('input[name="kind"][value="users"]').click()`)
	c.fill("send-to", "u1, u2 u3", "send-title", "Welcome")
	c.submit("send")
	c.wait("the users send's result", `document.getElementById("send-result").textContent.startsWith("Delivered 3 notifications to u1, u2, u3")`)
	c.view("tokens")
	c.press("tok-rows", "topic:deploys", "Revoke", 2)
	c.wait("the token revoked", `(`+rowJS("tok-rows", "topic:deploys")+`)?.textContent.includes("revoked")`)
	if s, status, body := c.n.tryStream(path); s != nil || status != http.StatusUnauthorized {
		c.t.Fatalf("the revoked token's URL: %d %s", status, body)
	}

	// A hook token: its URL publishes to the topic.
	c.fill("tok-kind", "topic", "tok-name", "deploys", "tok-scope", "publish")
	c.submit("tok-form")
	c.wait("the hook URL", `(document.querySelector("#tok-secret input") || {}).value?.includes("/api/hooks/tkp_")`)
	hookURL := c.eval(`return document.querySelector("#tok-secret input").value`)
	if r := c.n.do("POST", strings.TrimPrefix(hookURL, c.n.URL), "", `{"title":"deploy finished"}`); r.Status != http.StatusCreated {
		c.t.Fatalf("POST the hook URL: %d %s", r.Status, r.Body)
	}
	c.wait("the hook token's row", `!!(`+rowJS("tok-rows", "publish (hook)")+`)`)
}

// labelled checks what a screen reader needs: every form control has a name, every
// button text, every table its headers in <th scope>; errors and results are live.
func (c *adminUI) labelled() {
	c.t.Helper()
	got := c.eval(`const bad = [];
		for (const f of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
			const named = f.labels?.length || f.getAttribute("aria-label") || f.getAttribute("aria-labelledby");
			if (!named) bad.push("control " + (f.id || f.name || f.outerHTML.slice(0, 60)));
		}
		for (const b of document.querySelectorAll("button")) if (!b.textContent.trim() && !b.getAttribute("aria-label")) bad.push("button " + b.outerHTML.slice(0, 60));
		for (const th of document.querySelectorAll("thead th")) if (th.getAttribute("scope") !== "col") bad.push("th " + th.textContent);
		for (const e of document.querySelectorAll(".error")) if (e.getAttribute("role") !== "alert") bad.push("error " + e.id);
		for (const e of document.querySelectorAll(".state, .result")) if (e.getAttribute("role") !== "status") bad.push("state " + e.id);
		return bad.join("; ")`)
	if got != "" {
		c.t.Errorf("accessibility: %s", got)
	}
}

// screenshots saves the console at desktop width and at 360 px (docs/img/admin-*.png
// are copies of these). At 360 px nothing may be wider than the page: tables scroll
// inside their cards.
func (c *adminUI) screenshots() {
	c.t.Helper()
	c.view("deliveries")
	c.wait("the log", `!!(`+rowJS("del-rows", "webhook")+`)`)
	c.shot(c.tab, "admin-desktop.png")
	if err := chromedp.Do(c.tab, chromedp.EmulateViewport(360, 780, chromedp.EmulateScale(2))); err != nil {
		c.t.Fatal(err)
	}
	for _, v := range []string{"deliveries", "keys", "webhooks", "send"} {
		c.view(v)
		if w := c.eval(`return document.documentElement.scrollWidth`); w != "360" {
			c.t.Errorf("at 360 px the %s view is %s px wide", v, w)
		}
	}
	c.do(`scrollTo(0, 0)`)
	c.shot(c.tab, "admin-mobile.png")
	// Dark when the system is: the page's background follows prefers-color-scheme.
	bg := `getComputedStyle(document.body).backgroundColor`
	light := c.eval(`return ` + bg)
	if err := chromedp.Do(c.tab, colorScheme("dark")); err != nil {
		c.t.Fatal(err)
	}
	c.wait("the dark theme", bg+` === "rgb(17, 19, 24)" && `+bg+` !== "`+light+`"`)
	c.shot(c.tab, "admin-dark.png")
	if err := chromedp.Do(c.tab, colorScheme("light")); err != nil {
		c.t.Fatal(err)
	}
	if err := chromedp.Do(c.tab, chromedp.EmulateViewport(1200, 860)); err != nil {
		c.t.Fatal(err)
	}
	if os.Getenv("TOCSIN_UPDATE_DOC_IMAGES") != "" { // refresh the docs' copies
		for _, name := range []string{"admin-desktop.png", "admin-mobile.png"} {
			b, err := os.ReadFile(filepath.Join(artifactsDir(c.t), name))
			if err == nil {
				err = os.WriteFile(filepath.Join("..", "docs", "img", name), b, 0o644)
			}
			if err != nil {
				c.t.Error(err)
			}
		}
	}
}
