package e2e

import (
	"testing"
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
