package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
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
