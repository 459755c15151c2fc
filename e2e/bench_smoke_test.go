package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/tocsin/tocsin/bench"
)

// TestBenchSmoke runs each tocsin bench scenario for a moment with small counts
// against a real server process, so the load generator cannot rot. It checks that
// the tool works and reports what happened, never how fast: speed lives in
// docs/benchmarks.md, not in tests.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	p := startProc(t, freeAddr(t), t.TempDir(), "--rate-connect", "0", "--webhook-allow-private", "--push-allow-insecure")
	pid := strconv.Itoa(p.cmd.Process.Pid)
	common := []string{"--url", p.URL, "--api-key", apiKey, "--jwt-secret", jwtSecret, "--server-pid", pid}
	for _, tc := range []struct {
		scenario string
		args     []string
		check    func(r bench.Result) bool
	}{
		{"publish", []string{"--publishers", "4", "--duration", "500ms"}, func(r bench.Result) bool { return r.Acked > 0 && r.LatencyMs.N > 0 }},
		{"bulk", []string{"--user-ids", "200"}, func(r bench.Result) bool { return r.Acked == 1 }},
		{"idle", []string{"--streams", "50", "--hold", "100ms"}, func(r bench.Result) bool { return r.Streams == 50 && r.ServerRSSKiB > 0 }},
		{"broadcast", []string{"--streams", "20", "--rate", "10", "--duration", "500ms", "--publishers", "2"},
			func(r bench.Result) bool { return r.Expected > 0 && r.Delivered == r.Expected }},
		{"per-user", []string{"--streams", "20", "--rate", "20", "--duration", "500ms", "--publishers", "2"},
			func(r bench.Result) bool { return r.Expected > 0 && r.Delivered == r.Expected }},
		{"reconnect-storm", []string{"--streams", "30", "--rate", "40", "--duration", "500ms", "--publishers", "2"},
			func(r bench.Result) bool { return r.Expected > 0 && r.Delivered == r.Expected && r.AllCaughtUpMs > 0 }},
		// timers: every escalation timer fires exactly once, at the bench's endpoint,
		// and the pending ones hold no goroutine each.
		{"timers", []string{"--timers", "200", "--due-in", "2s"}, func(r bench.Result) bool {
			tr := r.Timers
			return tr != nil && tr.Fired == 200 && tr.Repeats == 0 && r.Delivered == 200 && tr.LatenessMs.N == 200 &&
				tr.GoroutinesBefore > 0 && tr.GoroutinesPending < tr.GoroutinesBefore+20 && tr.RSSPendingKiB > 0
		}},
		// push: every subscription gets its Web Push exactly once, encrypted
		// (aes128gcm) and VAPID-signed, at the bench's own push service.
		{"push", []string{"--pushes", "50"}, func(r bench.Result) bool {
			pr := r.Push
			return pr != nil && pr.Arrived == 50 && pr.Repeats == 0 && pr.BadRequests == 0 && r.Delivered == 50 &&
				r.Expected == 50 && r.LatencyMs.N == 50 && pr.PushesPerSecond > 0 && pr.CPUSecondsPer1k > 0
		}},
		// --publish-url sends the publishes to a second node of a cluster; the same
		// server here, so the flag's path runs without one (scripts/bench-cluster.sh
		// runs it on two nodes).
		{"per-user", []string{"--streams", "20", "--rate", "20", "--duration", "500ms", "--publishers", "2", "--publish-url", p.URL},
			func(r bench.Result) bool { return r.Expected > 0 && r.Delivered == r.Expected }},
		{"broadcast", []string{"--streams", "20", "--rate", "10", "--duration", "500ms", "--publishers", "2", "--publish-url", p.URL},
			func(r bench.Result) bool { return r.Expected > 0 && r.Delivered == r.Expected }},
	} {
		name := tc.scenario
		if slices.Contains(tc.args, "--publish-url") {
			name += "/publish-url"
		}
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "result.json")
			args := append(append([]string{"bench", tc.scenario}, common...), append(tc.args, "--json", out)...)
			if b, err := exec.Command(binary(t), args...).CombinedOutput(); err != nil {
				t.Fatalf("tocsin bench %s: %v\n%s", tc.scenario, err, b)
			}
			var r bench.Result
			b, _ := readFile(out)
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("result: %v\n%s", err, b)
			}
			if r.Scenario != tc.scenario || r.Errors != 0 || !tc.check(r) {
				t.Fatalf("result %+v", r)
			}
		})
	}
	for _, args := range [][]string{
		{"--url", "http://example.com"},
		{"--url", p.URL, "--publish-url", "http://example.com"},
	} {
		if b, err := exec.Command(binary(t), append([]string{"bench", "publish"}, args...)...).CombinedOutput(); err == nil {
			t.Fatalf("bench %v against a non-loopback host ran: %s", args, b)
		}
	}
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }
