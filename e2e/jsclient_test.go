package e2e

import (
	"os"
	"os/exec"
	"testing"
)

// TestJSClientInNode runs web/client.test.mjs (node's test runner) against a real
// server: the JavaScript client's inbox store, live events, REST helpers and resume.
func TestJSClientInNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	t.Parallel()
	node := requireTool(t, "TOCSIN_TEST_NODE", "node")
	if _, err := os.Stat("clients/node/node_modules/eventsource"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("e2e/clients/node/node_modules/eventsource missing: .ci/run must npm install it")
		}
		t.Skip("run: npm install --prefix e2e/clients/node")
	}
	n := startNode(t)
	cmd := exec.Command(node, "--test", "--test-reporter=spec", "../web/client.test.mjs")
	cmd.Env = append(os.Environ(), "TOCSIN_URL="+n.URL, "TOCSIN_USER=js1",
		"TOCSIN_TOKEN="+userToken(t, "js1"), "TOCSIN_API_KEY="+apiKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test web/client.test.mjs: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
