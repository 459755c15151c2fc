package e2e

import (
	"strings"
	"testing"
)

// TestInboxPrefsPrototypeNames: notification types named like Object.prototype's
// members (__proto__, constructor) get their own preference rows, and switching a
// channel off for them is saved like any other type (an object key "__proto__" set
// by assignment would change the object's prototype instead and vanish from the
// JSON sent).
func TestInboxPrefsPrototypeNames(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	t.Parallel()
	n := startNode(t, "--dev-tokens")
	for _, typ := range []string{"__proto__", "constructor", "deploy"} {
		n.publish("proto", map[string]any{"type": typ, "title": "a " + typ})
	}
	open := newBrowser(t)
	p := openInbox(t, open, n.URL+"/?user=proto")
	p.do(`document.getElementById("bell").open()`)
	p.wait("the popover", `titles("bell").length`, "3")
	p.do(`sr("bell").querySelector("header button[aria-label=Preferences]").click()`)
	p.wait("a row per type", `[...sr("bell").querySelectorAll(".prefs tbody th")].map((e) => e.textContent).join()`, "__proto__,constructor,deploy")
	p.do(`const f = sr("bell").querySelector(".prefs"); f.querySelector("[aria-label='Push: __proto__']").click();
	  f.querySelector("[aria-label='Email: constructor']").click(); f.requestSubmit()`)
	p.wait("saved", `sr("bell").querySelector(".prefs .save [role=status]").textContent`, "Saved")
	r := n.do("GET", "/api/preferences", userToken(t, "proto"), nil)
	if s := string(r.Body); !strings.Contains(s, `"__proto__":{"push":false}`) || !strings.Contains(s, `"constructor":{"email":false}`) {
		t.Errorf("preferences after saving: %s", s)
	}
	if v := p.eval(`[typeof ({}).push, Object.keys(Object.prototype).length]`); v != `["undefined",0]` {
		t.Errorf("Object.prototype changed: %s", v)
	}
}
