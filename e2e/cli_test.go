package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIPublishAndListen: tocsin listen tails a user's stream while tocsin publish
// sends to it, with flags and with JSON on stdin.
func TestCLIPublishAndListen(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	p := startProc(t, freeAddr(t), t.TempDir())
	env := []string{"TOCSIN_URL=" + p.URL, "TOCSIN_API_KEY=" + apiKey, "TOCSIN_JWT_SECRET=" + jwtSecret}
	listen := exec.Command(binary(t), "listen", "--user", "cli", "--json")
	listen.Env = append(listen.Environ(), env...)
	out, err := listen.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = listen.Process.Kill(); _ = listen.Wait() })
	lines := make(chan map[string]json.RawMessage, 16)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			var m map[string]json.RawMessage
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	next := func(event string) map[string]json.RawMessage {
		t.Helper()
		for {
			select {
			case m := <-lines:
				if string(m["event"]) == `"`+event+`"` {
					return m
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("listen printed no %s", event)
			}
		}
	}
	next("init")

	pub := exec.Command(binary(t), "publish", "--user", "cli", "--title", "from flags", "--tags", "a,b", "--priority", "4")
	pub.Env = append(pub.Environ(), env...)
	if b, err := pub.CombinedOutput(); err != nil || !strings.Contains(string(b), `"title":"from flags"`) {
		t.Fatalf("publish: %v %s", err, b)
	}
	if m := next("notification"); !strings.Contains(string(m["data"]), `"priority":4`) || !strings.Contains(string(m["data"]), `"tags":["a","b"]`) {
		t.Fatalf("listen: %s", m["data"])
	}
	stdin := exec.Command(binary(t), "publish", "--json")
	stdin.Env = append(stdin.Environ(), env...)
	stdin.Stdin = strings.NewReader(`{"userId":"cli","title":"from stdin"}`)
	if b, err := stdin.CombinedOutput(); err != nil {
		t.Fatalf("publish --json: %v %s", err, b)
	}
	if m := next("notification"); !strings.Contains(string(m["data"]), `"title":"from stdin"`) {
		t.Fatalf("listen: %s", m["data"])
	}
	bad := exec.Command(binary(t), "publish", "--user", "cli", "--priority", "9")
	bad.Env = append(bad.Environ(), env...)
	if b, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(b), "priority") {
		t.Fatalf("a bad publish succeeded or said nothing useful: %s", b)
	}
}

// TestCLISchedulesAndManagesWebhooks: tocsin publish --at schedules (the answer says
// so, GET /api/scheduled lists it, and it arrives at its time), --channels reaches
// the delivery log, and tocsin webhooks adds, lists, shows the deliveries of and
// deletes an endpoint.
func TestCLISchedulesAndManagesWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	p := startProc(t, freeAddr(t), t.TempDir(), "--webhook-allow-private")
	env := []string{"TOCSIN_URL=" + p.URL, "TOCSIN_API_KEY=" + apiKey, "TOCSIN_JWT_SECRET=" + jwtSecret}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary(t), args...)
		cmd.Env = append(cmd.Environ(), env...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tocsin %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	out := run("publish", "--user", "cli-s", "--title", "later", "--at", "+2s", "--channels", "email=off,webhook=0s")
	if !strings.Contains(out, "scheduled 1 for ") {
		t.Fatalf("publish --at answered %s", out)
	}
	var sched struct{ ID string }
	if err := json.NewDecoder(strings.NewReader(out[strings.Index(out, "{"):])).Decode(&sched); err != nil {
		t.Fatal(err)
	}
	var list struct{ Scheduled []struct{ ID string } }
	getJSON(t, p.URL+"/api/scheduled?userId=cli-s", apiKey, &list)
	if len(list.Scheduled) != 1 || list.Scheduled[0].ID != sched.ID {
		t.Fatalf("scheduled list %+v, want %s", list, sched.ID)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var inbox struct{ Notifications []struct{ ID string } }
		getJSON(t, p.URL+"/api/users/cli-s/notifications", apiKey, &inbox)
		if len(inbox.Notifications) == 1 && inbox.Notifications[0].ID == sched.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled notification never arrived: %+v", inbox)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ds struct {
		Deliveries []struct{ Channel, Status, Reason string }
	}
	getJSON(t, p.URL+"/api/users/cli-s/notifications/"+sched.ID+"/deliveries", apiKey, &ds)
	// Email off, and no endpoint wants notification.deliver yet: no channel to go on.
	if len(ds.Deliveries) != 0 {
		t.Fatalf("deliveries %+v, want none (email off, no webhook endpoint)", ds)
	}

	secret := run("webhooks", "add", "--endpoint", "http://127.0.0.1:9/none", "--events", "notification.created")
	if !strings.Contains(secret, "whsec_") {
		t.Fatalf("webhooks add printed no secret: %s", secret)
	}
	listOut := run("webhooks", "list", "--json")
	var whs []struct{ ID, URL string }
	if err := json.Unmarshal([]byte(listOut), &whs); err != nil || len(whs) != 1 || whs[0].URL != "http://127.0.0.1:9/none" {
		t.Fatalf("webhooks list: %v %s", err, listOut)
	}
	run("publish", "--user", "cli-s", "--title", "for the hook")
	if out := run("webhooks", "deliveries", whs[0].ID); !strings.Contains(out, "notification.created") {
		t.Fatalf("webhooks deliveries: %s", out)
	}
	run("webhooks", "delete", whs[0].ID)
	if out := run("webhooks", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("after delete: %s", out)
	}
	cmd := exec.Command(binary(t), "webhooks", "add")
	cmd.Env = append(cmd.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "--endpoint") {
		t.Fatalf("webhooks add without --endpoint: %v %s", err, b)
	}
}

func getJSON(t *testing.T, url, bearer string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestCLIAnswersLocally: the mistakes a newcomer makes in the first hour get an
// answer from the CLI itself, without a server: --help exits 0 with the usage on
// stdout, a --url without a scheme, conflicting or malformed publish flags and a
// missing API key are refused with what to do, and a refused connection hints at
// --url / TOCSIN_URL.
func TestCLIAnswersLocally(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	nobody := "http://" + freeAddr(t) // nothing listens there
	empty := t.TempDir()              // a data dir without a generated key
	typo := filepath.Join(t.TempDir(), "typo.yaml")
	if err := os.WriteFile(typo, []byte("heartbeat: 20s\nhaertbeat: 30s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout string // substring of stdout
		stderr string // substring of stderr
	}{
		{"serve help", []string{"serve", "--help"}, nil, 0, "[$TOCSIN_HEARTBEAT]", ""},
		{"serve help lists print-config", []string{"serve", "-h"}, nil, 0, "--print-config", ""},
		{"serve print-config", []string{"serve", "--print-config", "--heartbeat", "21s"}, []string{"TOCSIN_RETRY=4s"}, 0, "retry: 4s  # from env TOCSIN_RETRY", ""},
		{"serve print-config of a bad config", []string{"serve", "--print-config", "--heartbeat", "0s"}, nil, 2, "heartbeat: 0s  # from flag", "--heartbeat: must be a positive duration"},
		{"serve unknown key", []string{"serve", "--config", typo}, nil, 2, "", typo + `:2: unknown setting "haertbeat"`},
		{"serve unknown flag", []string{"serve", "--nope"}, nil, 2, "", "not defined: -nope"},
		{"token help", []string{"token", "--help"}, nil, 0, "--iss", ""},
		{"publish help", []string{"publish", "-h"}, nil, 0, "TOCSIN_API_KEY", ""},
		{"publish help names data dir env", []string{"publish", "--help"}, nil, 0, "TOCSIN_DATA_DIR", ""},
		{"listen help", []string{"listen", "--help"}, nil, 0, "TOCSIN_URL", ""},
		{"keys help", []string{"keys", "--help"}, nil, 0, "Usage: tocsin keys", ""},
		{"keys verb help", []string{"keys", "list", "--help"}, nil, 0, "TOCSIN_STORE", ""},
		{"webhooks help", []string{"webhooks", "--help"}, nil, 0, "Usage: tocsin webhooks", ""},
		{"webhooks verb help", []string{"webhooks", "list", "-h"}, nil, 0, "TOCSIN_API_KEY", ""},
		{"bench help", []string{"bench", "--help"}, nil, 0, "Scenarios:", ""},
		{"bench scenario help", []string{"bench", "publish", "--help"}, nil, 0, "-publishers", ""},
		{"unknown flag", []string{"publish", "--nope"}, nil, 2, "", "not defined: -nope"},
		{"url without scheme", []string{"publish", "--url", "127.0.0.1:8080", "--user", "a", "--api-key", "k"}, nil, 2, "", "needs a scheme, e.g. http://127.0.0.1:8080"},
		{"env url without scheme", []string{"listen", "--user", "a"}, []string{"TOCSIN_URL=localhost:8080"}, 2, "", "needs a scheme"},
		{"webhooks url without scheme", []string{"webhooks", "list", "--url", "localhost:8080"}, nil, 2, "", "needs a scheme"},
		{"user and topic", []string{"publish", "--url", nobody, "--user", "a", "--topic", "t", "--api-key", "k"}, nil, 2, "", "--user and --topic conflict"},
		{"data not json", []string{"publish", "--url", nobody, "--user", "a", "--data", "k=v", "--api-key", "k"}, nil, 2, "", "is not a JSON object"},
		{"data a json array", []string{"publish", "--url", nobody, "--user", "a", "--data", "[1]", "--api-key", "k"}, nil, 2, "", "is not a JSON object"},
		{"no api key", []string{"publish", "--url", nobody, "--user", "a", "--data-dir", empty}, nil, 2, "", "set --api-key or TOCSIN_API_KEY"},
		{"listen without a secret", []string{"listen", "--url", nobody, "--user", "a", "--data-dir", empty}, nil, 2, "", "set --jwt-secret or TOCSIN_JWT_SECRET"},
		{"webhooks without a key", []string{"webhooks", "list", "--url", nobody, "--data-dir", empty}, nil, 2, "", "set --api-key or TOCSIN_API_KEY"},
		{"refused connection", []string{"publish", "--url", nobody, "--user", "a", "--api-key", "k"}, nil, 1, "", "check --url / TOCSIN_URL"},
		{"refused connection, env url", []string{"webhooks", "list"}, []string{"TOCSIN_URL=" + nobody, "TOCSIN_API_KEY=k"}, 1, "", "check --url / TOCSIN_URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(binary(t), tc.args...)
			cmd.Dir = empty // no tocsin-data here to pick a key or secret from
			for _, kv := range cmd.Environ() {
				if !strings.HasPrefix(kv, "TOCSIN_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, tc.env...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("tocsin %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, stdout.String(), stderr.String())
			}
			if tc.code == 0 && stderr.Len() != 0 {
				t.Fatalf("help wrote to stderr: %s", stderr.String())
			}
		})
	}
}

// TestCLITokenIssuerAudience: tocsin token --iss/--aud mints a token a server run
// with --jwt-issuer/--jwt-audience accepts; without them the server refuses it.
func TestCLITokenIssuerAudience(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	p := startProc(t, freeAddr(t), t.TempDir(), "--jwt-issuer", "auth.example", "--jwt-audience", "tocsin")
	mint := func(args ...string) string {
		t.Helper()
		b, err := exec.Command(binary(t), append([]string{"token", "--sub", "u1", "--jwt-secret", jwtSecret}, args...)...).Output()
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		return strings.TrimSpace(string(b))
	}
	status := func(tok string) int {
		req, _ := http.NewRequest("GET", p.URL+"/api/notifications", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(mint("--iss", "auth.example", "--aud", "tocsin")); s != 200 {
		t.Fatalf("token with --iss/--aud: status %d, want 200", s)
	}
	if s := status(mint()); s != 401 {
		t.Fatalf("token without --iss/--aud: status %d, want 401", s)
	}
}
