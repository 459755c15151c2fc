package e2e

import (
	"os"
	"os/exec"
	"testing"

	"github.com/tocsin/tocsin/internal/testenv"
)

// nodeWithEventSource finds node and checks the npm eventsource package is installed
// in e2e/clients/node (.ci/run installs it).
func nodeWithEventSource(t *testing.T) string {
	t.Helper()
	node := testenv.Program(t, "TOCSIN_TEST_NODE", "node")
	if _, err := os.Stat("clients/node/node_modules/eventsource"); err != nil {
		testenv.Need(t, "e2e/clients/node/node_modules", "npm eventsource", "run: npm install --prefix e2e/clients/node")
	}
	return node
}

// runNodeTests runs JavaScript test files (paths from e2e/) with node's test runner,
// with env added to the environment; a test that has not finished in two minutes
// fails (an open stream would keep node alive). It skips where node or the npm eventsource
// package is missing, except in CI.
func runNodeTests(t *testing.T, env []string, files ...string) {
	t.Helper()
	node := nodeWithEventSource(t)
	cmd := exec.Command(node, append([]string{"--test", "--test-reporter=spec", "--test-timeout=120000"}, files...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %v: %v\n%s", files, err, out)
	}
	t.Logf("%s", out)
}

// runNodeAgainstServer starts a server and runs the JavaScript test files against it
// as user (TOCSIN_URL, TOCSIN_USER, TOCSIN_TOKEN, TOCSIN_API_KEY set).
func runNodeAgainstServer(t *testing.T, user string, files ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs node")
	}
	t.Parallel()
	n := startNode(t)
	runNodeTests(t, []string{"TOCSIN_URL=" + n.URL, "TOCSIN_USER=" + user,
		"TOCSIN_TOKEN=" + userToken(t, user), "TOCSIN_API_KEY=" + apiKey}, files...)
}

// TestJSClientInNode runs web/client.test.mjs (node's test runner) against a real
// server: the JavaScript client's inbox store, live events, REST helpers and resume;
// and web/client.unit.test.mjs, the client's logic on synthetic events (the inbox
// store's notifications:read, the user checks, getToken), which needs no server;
// web/sw.unit.test.mjs, the service worker's handlers on a fake worker scope; and
// web/client.push.test.mjs, enablePush/disablePush/pushState on a fake browser;
// web/client.rest.unit.test.mjs, each REST call's request and the store's snooze and
// notifications:updated; web/client.errors.unit.test.mjs, the error event's codes;
// web/client.ticket.unit.test.mjs, tickets the page gives and the names tabs share.
func TestJSClientInNode(t *testing.T) {
	runNodeAgainstServer(t, "js1",
		"../web/client.test.mjs", "../web/client.unit.test.mjs", "../web/sw.unit.test.mjs", "../web/client.push.test.mjs",
		"../web/client.rest.unit.test.mjs", "../web/client.errors.unit.test.mjs", "../web/client.ticket.unit.test.mjs")
}

// TestJSClientReadAllOneEvent: a read-all of 3 and of 150 unread reaches the
// JavaScript client as one notifications:read event each (web/client.readall.test.mjs)
// and leaves its inbox empty with 0 unread.
//
// needs the server half of #13 (notifications:read): it fails until the server sends
// that one event instead of one notification:updated per item.
func TestJSClientReadAllOneEvent(t *testing.T) {
	runNodeAgainstServer(t, "js-readall",
		"../web/client.readall.test.mjs")
}

// TestJSClientInboxCalls runs web/client.inbox.test.mjs against a real server: the
// client's archive, unarchive, markUnread, snooze, updateMany, list({q}) and
// preferences, each checked in the answer and in the live store.
func TestJSClientInboxCalls(t *testing.T) {
	runNodeAgainstServer(t, "js-inbox",
		"../web/client.inbox.test.mjs")
}
