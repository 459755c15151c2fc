package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin/tocsin/internal/testenv"
	"github.com/tocsin/tocsin/sse"
)

// The full-disk fault of issue 14 on a single SQLite node: a real `tocsin serve` whose
// data dir is a small tmpfs of its own (a private mount namespace, so nothing outlives
// the process), publishers retrying with an Idempotency-Key, SSE subscribers resuming
// with Last-Event-ID, and a filler file that takes the last free byte and is then
// deleted.

// diskFullRecoveryBound is how soon after space returns a publish must succeed again
// without a restart. Measured: the first retried publish after the filler is deleted
// succeeds (the writer has nothing to heal), so the bound is the retry pause and a
// commit under -race on a loaded machine, with room to spare.
const diskFullRecoveryBound = 5 * time.Second

// diskFullTmpfs is the data dir's size. The WAL grows by about 50 KB per 4 KB
// publish until a checkpoint (every 2,000 rows), so the store takes a few MB before
// the filler takes the rest; deleting the filler then frees far more than the
// publishes after it need.
const diskFullTmpfs = "32m"

// TestFullDiskRefusesAndRecovers: while the disk is full every publish is refused
// with 503 "the disk is full" and Retry-After (never a 500), /readyz answers 503,
// and nothing acknowledged is lost or repeated on the streams; once space returns,
// publishes succeed again on the same process within diskFullRecoveryBound.
func TestFullDiskRefusesAndRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	mount := `mount -t tmpfs -o size=` + diskFullTmpfs + ` tmpfs "$1"`
	if out, err := exec.Command("unshare", "-m", "sh", "-c", mount, "sh", dir).CombinedOutput(); err != nil {
		testenv.Need(t, "root", "a private tmpfs mount", fmt.Sprintf("run as root (or with CAP_SYS_ADMIN and unshare) to run the full-disk test; here: %v %s",
			err, bytes.TrimSpace(out)))
	}
	addr := freeAddr(t)
	p := serveCmd(t, addr, exec.Command("unshare", "-m", "sh", "-c", mount+` && shift && exec "$@"`, "sh", dir,
		binary(t), "serve", "--addr", addr, "--data-dir", dir, "--api-key", apiKey, "--jwt-secret", jwtSecret, "--log-level", "error"))
	// unshare and sh exec: the server is the process started, and its view of the
	// data dir (the tmpfs) is reachable through its root in /proc.
	data := filepath.Join(fmt.Sprintf("/proc/%d/root", p.cmd.Process.Pid), dir)
	var fs syscall.Statfs_t
	if err := syscall.Statfs(data, &fs); err != nil || int64(fs.Blocks)*fs.Bsize > 64<<20 {
		t.Fatalf("the server's data dir %s is not the small tmpfs: %v, %d bytes", data, err, int64(fs.Blocks)*fs.Bsize)
	}

	const user = "disk"
	tok := userToken(t, user)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var subs []*resumer
	for i := range 2 {
		// One subscriber stays connected; the other reconnects every 300 ms with
		// Last-Event-ID, so resumes happen while the disk is full and after.
		s := &resumer{url: p.URL, tok: tok, every: time.Duration(i) * 300 * time.Millisecond}
		subs = append(subs, s)
		go s.run(ctx)
	}
	// The first connect's init holds what came before it: publish after both.
	waitWithin(t, 10*time.Second, "the subscribers' init", func() bool { return subs[0].inited.Load() && subs[1].inited.Load() })

	pub := &diskPublishers{url: p.URL, user: user, stop: make(chan struct{})}
	stop := sync.OnceFunc(func() { close(pub.stop) })
	defer stop() // a failed check must not leave the publishers running
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); pub.run(i) }()
	}
	waitWithin(t, 10*time.Second, "publishes before the fault", func() bool { return pub.acked.Load() >= 30 })

	// Fill the disk: a filler file takes every byte the store has not.
	filler := filepath.Join(data, "filler")
	fill(t, filler)
	full := pub.fullRefusals.Load()
	waitWithin(t, 10*time.Second, "publishes refused for a full disk", func() bool { return pub.fullRefusals.Load() >= full+10 })
	waitWithin(t, 5*time.Second, "/readyz 503 on a full disk", func() bool {
		r := p.node.do("GET", "/readyz", "", nil)
		return r.Status == http.StatusServiceUnavailable && strings.Contains(string(r.Body), "the disk is full")
	})
	// Held full: reads go on, and resumes are answered from the store.
	time.Sleep(time.Second)
	ackedFull := pub.acked.Load()
	time.Sleep(500 * time.Millisecond)
	if n := pub.acked.Load() - ackedFull; n > 0 {
		t.Logf("%d publishes acknowledged while the filler held the disk (room SQLite had freed)", n)
	}

	// Space returns: the same process takes writes again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	before := pub.acked.Load()
	waitWithin(t, diskFullRecoveryBound, "a publish acknowledged after space returned", func() bool { return pub.acked.Load() > before+5 })
	recovered := time.Since(freed)
	waitWithin(t, diskFullRecoveryBound, "/readyz 200 after space returned", func() bool {
		return p.node.do("GET", "/readyz", "", nil).Status == http.StatusOK
	})
	ready := time.Since(freed)
	time.Sleep(500 * time.Millisecond)
	stop()
	wg.Wait()
	select {
	case <-p.exited:
		t.Fatalf("the server exited: %v", p.err)
	default:
	}

	acked := pub.ackedIDs()
	t.Logf("%d acknowledged, %d refused as disk full, %d other 503s; after space returned: a publish in %v, ready in %v",
		len(acked), pub.fullRefusals.Load(), pub.otherRefusals.Load(), recovered.Round(time.Millisecond), ready.Round(time.Millisecond))
	if pub.fullRefusals.Load() == 0 {
		t.Fatal("no publish was refused: the disk never filled")
	}
	for _, e := range pub.errors() {
		t.Error(e)
	}

	// The store holds every acknowledged publish, once.
	stored := map[string]bool{}
	for _, n := range p.node.listAll(t, user) {
		if stored[n.ID] {
			t.Fatalf("notification %s stored twice", n.ID)
		}
		stored[n.ID] = true
	}
	for id := range acked {
		if !stored[id] {
			t.Errorf("acknowledged notification %s is not in the store", id)
		}
	}
	if len(stored) != len(acked) {
		t.Errorf("%d notifications stored, %d acknowledged (every publish was retried until acknowledged)", len(stored), len(acked))
	}

	// Every subscriber got every acknowledged publish, once each, in stream order.
	deadline := time.Now().Add(15 * time.Second)
	for i, s := range subs {
		for s.count(acked) < len(acked) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := s.count(acked); n < len(acked) {
			t.Errorf("subscriber %d (reconnects: %d) received %d of %d acknowledged; missing: %s",
				i, s.reconnects.Load(), n, len(acked), s.missing(acked))
		}
	}
	cancel()
	for i, s := range subs {
		if err := s.check(acked); err != nil {
			t.Errorf("subscriber %d (reconnects: %d): %v", i, s.reconnects.Load(), err)
		}
	}
}

// fill writes path until the file system has no byte left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for size := len(buf); size > 0; {
		if _, err := f.Write(buf[:size]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			size /= 2 // the last pages, down to the last byte
		}
	}
}

// waitWithin polls cond every 20 ms until it holds, failing after d.
func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// diskPublishers publish to one user, each publish retried with its Idempotency-Key
// until acknowledged (the honest client of a 503), and record what they were told.
type diskPublishers struct {
	url, user     string
	stop          chan struct{}
	acked         atomic.Int64
	fullRefusals  atomic.Int64 // 503 "the disk is full"
	otherRefusals atomic.Int64 // any other 503

	mu   sync.Mutex
	ids  map[string]string // notification id → idempotency key
	errs []string
}

func (d *diskPublishers) run(worker int) {
	client := &http.Client{Timeout: 10 * time.Second}
	for j := 0; ; j++ {
		key := fmt.Sprintf("disk-%d-%d", worker, j)
		// 4 KB bodies: a full disk refuses them within a few publishes.
		body := fmt.Sprintf(`{"userId":%q,"title":%q,"body":%q}`, d.user, key, strings.Repeat("x", 4000))
		select {
		case <-d.stop:
			// Only between keys: every publish begun is retried until
			// acknowledged, so the store must hold exactly what was.
			return
		default:
		}
		for attempt := 0; ; attempt++ {
			if attempt == 100 {
				d.fail("publish %s: not acknowledged after 100 tries", key)
				return
			}
			id, retry := d.publish(client, key, body)
			if id != "" {
				d.mu.Lock()
				if d.ids == nil {
					d.ids = map[string]string{}
				}
				if k, ok := d.ids[id]; ok && k != key {
					d.errs = append(d.errs, fmt.Sprintf("keys %s and %s got one notification %s", k, key, id))
				}
				d.ids[id] = key
				d.mu.Unlock()
				d.acked.Add(1)
				break
			}
			time.Sleep(retry)
		}
	}
}

// publish sends one publish; it returns the acknowledged id, or how long to wait
// before the retry.
func (d *diskPublishers) publish(client *http.Client, key, body string) (id string, retry time.Duration) {
	req, _ := http.NewRequest("POST", d.url+"/api/notifications", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		d.fail("publish %s: %v", key, err)
		return "", 100 * time.Millisecond
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		var n notification
		if err := json.Unmarshal(data, &n); err != nil || n.ID == "" {
			d.fail("publish %s: 201 %s", key, data)
			return "", 0
		}
		return n.ID, 0
	case http.StatusServiceUnavailable:
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
			d.fail("publish %s: 503 without a JSON error or Retry-After: %v %s", key, resp.Header, data)
		}
		if strings.Contains(e.Error.Message, "the store cannot write: the disk is full") {
			d.fullRefusals.Add(1)
		} else {
			d.otherRefusals.Add(1)
		}
		// Retry-After is whole seconds; the test retries sooner to measure recovery.
		return "", 50 * time.Millisecond
	default:
		d.fail("publish %s: %d %s (want 201, or 503 while the disk is full)", key, resp.StatusCode, data)
		return "", 100 * time.Millisecond
	}
}

func (d *diskPublishers) fail(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.errs) < 20 {
		d.errs = append(d.errs, fmt.Sprintf(format, args...))
	}
}

func (d *diskPublishers) errors() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.errs...)
}

func (d *diskPublishers) ackedIDs() map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]bool, len(d.ids))
	for id := range d.ids {
		out[id] = true
	}
	return out
}

// resumer is an SSE subscriber that reconnects with Last-Event-ID (every `every`,
// or when its stream ends) and records the notification events it was given.
type resumer struct {
	url, tok   string
	every      time.Duration // 0: stay connected
	reconnects atomic.Int64
	inited     atomic.Bool // the first init came

	mu     sync.Mutex
	got    []delivered
	errs   []string
	lastID string
}

type delivered struct {
	eventID, id string
}

func (r *resumer) run(ctx context.Context) {
	for ctx.Err() == nil {
		r.connect(ctx)
		r.reconnects.Add(1)
	}
}

func (r *resumer) connect(ctx context.Context) {
	cctx := ctx
	if r.every > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, r.every)
		defer cancel()
	}
	req, _ := http.NewRequestWithContext(cctx, "GET", r.url+"/api/notifications/stream", nil)
	req.Header.Set("Authorization", "Bearer "+r.tok)
	r.mu.Lock()
	last := r.lastID
	r.mu.Unlock()
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if cctx.Err() == nil {
			r.fail("connect: %v", err)
			time.Sleep(100 * time.Millisecond)
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		r.fail("connect with Last-Event-ID %q: %d %s", last, resp.StatusCode, body)
		time.Sleep(100 * time.Millisecond)
		return
	}
	dec := sse.NewDecoder(bufio.NewReader(resp.Body))
	for {
		ev, err := dec.Next()
		if err != nil {
			return
		}
		switch ev.Name {
		case "notification":
			var n notification
			if err := json.Unmarshal([]byte(ev.Data), &n); err != nil {
				r.fail("notification event %s: %v", ev.ID, err)
				continue
			}
			r.mu.Lock()
			r.got = append(r.got, delivered{eventID: ev.ID, id: n.ID})
			r.lastID = ev.ID
			r.mu.Unlock()
		case "init":
			r.mu.Lock()
			if r.lastID != "" {
				r.errs = append(r.errs, fmt.Sprintf("init on a resume from %s: the resume was not exact", r.lastID))
			}
			r.lastID = ev.ID
			r.mu.Unlock()
			r.inited.Store(true)
		case "reset":
			r.fail("reset on a resume from %s: %s", last, ev.Data)
		default:
			if ev.ID != "" && !isComment(ev) {
				r.mu.Lock()
				r.lastID = ev.ID
				r.mu.Unlock()
			}
		}
	}
}

func (r *resumer) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < 20 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

// count is how many distinct acknowledged notifications r has received.
func (r *resumer) count(acked map[string]bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, d := range r.got {
		if acked[d.id] {
			seen[d.id] = true
		}
	}
	return len(seen)
}

// missing names (some of) the acknowledged notifications r has not received.
func (r *resumer) missing(acked map[string]bool) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, d := range r.got {
		seen[d.id] = true
	}
	var out []string
	for id := range acked {
		if !seen[id] && len(out) < 10 {
			out = append(out, id)
		}
	}
	return strings.Join(out, " ")
}

// check: no errors, each notification once, event positions strictly increasing,
// and nothing that was never acknowledged.
func (r *resumer) check(acked map[string]bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) > 0 {
		return errors.New(strings.Join(r.errs, "; "))
	}
	seen := map[string]bool{}
	prev := ""
	var prevSeq uint64
	for _, d := range r.got {
		if seen[d.id] {
			return fmt.Errorf("notification %s delivered twice (event %s)", d.id, d.eventID)
		}
		seen[d.id] = true
		if !acked[d.id] {
			return fmt.Errorf("notification %s delivered but never acknowledged", d.id)
		}
		i := strings.LastIndexByte(d.eventID, '-')
		var seq uint64
		if _, err := fmt.Sscan(d.eventID[i+1:], &seq); i < 0 || err != nil {
			return fmt.Errorf("event id %q has no position", d.eventID)
		}
		if prev != "" && seq <= prevSeq {
			return fmt.Errorf("event %s after %s: out of order", d.eventID, prev)
		}
		prev, prevSeq = d.eventID, seq
	}
	return nil
}
