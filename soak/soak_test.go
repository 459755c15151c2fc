package soak

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin/auth"
)

const (
	nodeCount      = 3
	userCount      = 20
	publisherCount = 4
	// Who is followed, and how: see subscriberPlan.
	doubleUsers = 4
	singleUsers = 4
	// quiet is how long subscribers keep reading after the last publish, once
	// every node is ready again: a live path that recovers must deliver by then.
	quiet = 10 * time.Second
	// giveUpAfter bounds how long, after the faults stop, a publisher retries its
	// last publish before recording it as unacknowledged.
	giveUpAfter = 60 * time.Second
)

// TestSoak runs the cluster under random faults for TOCSIN_SOAK and checks the
// history. See docs/reliability.md.
func TestSoak(t *testing.T) {
	env := os.Getenv("TOCSIN_SOAK")
	if env == "" {
		t.Skip("the fault soak runs only when asked: TOCSIN_SOAK=2m [TOCSIN_SOAK_SEED=1] [TOCSIN_SOAK_BUS=redis|nats] go test -v -count=1 -timeout 30m ./soak/")
	}
	duration, err := time.ParseDuration(env)
	if err != nil || duration <= 0 {
		t.Fatalf("TOCSIN_SOAK=%q: want a duration such as 2m", env)
	}
	seed := uint64(1)
	if s := os.Getenv("TOCSIN_SOAK_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("TOCSIN_SOAK_SEED=%q: want an unsigned integer", s)
		}
	}
	began := time.Now()
	logDir := os.Getenv("TOCSIN_SOAK_LOGS")
	if logDir == "" {
		logDir = t.TempDir()
	} else if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := buildTocsin(t, t.TempDir())
	t.Logf("built ./cmd/tocsin in %v", time.Since(began).Round(time.Millisecond))
	layout, why := setupNetns(t, nodeCount)
	var hostIPs []string
	if layout != nil {
		hostIPs = layout.hostIPs()
		t.Logf("each node in a network namespace of its own (TOCSIN_SOAK_NETNS=0: all on loopback); netem: %v", layout.netem)
	} else {
		t.Logf("all nodes on loopback, no network faults: %s", why)
	}
	pg, pgURL := startPostgres(t, logDir, hostIPs)
	busKind := cmp.Or(os.Getenv("TOCSIN_SOAK_BUS"), "redis")
	bus, busURL := startBus(t, busKind, logDir, hostIPs)
	nodes := startNodes(t, bin, pgURL, busURL, logDir, nodeCount, layout)
	t.Logf("cluster up in %v: logs in %s", time.Since(began).Round(time.Millisecond), logDir)

	procs := []*proc{pg, bus}
	for _, n := range nodes {
		procs = append(procs, n.proc)
	}
	superviseCtx, stopSupervising := context.WithCancel(context.Background())
	var exits []selfExit
	supervised := make(chan struct{})
	go func() { exits = supervise(superviseCtx, t, procs); close(supervised) }()
	defer func() { stopSupervising(); <-supervised }()

	c := &cluster{nodes: nodes}
	for i := range userCount {
		c.users = append(c.users, fmt.Sprintf("soak-u%02d", i))
	}
	subsCtx, stopSubs := context.WithCancel(context.Background())
	defer stopSubs()
	subs, subsDone := startSubscribers(t, c, subsCtx, seed, duration+giveUpAfter+10*time.Minute)

	stopNew, stopPublishing := context.WithCancel(context.Background())
	defer stopPublishing()
	giveUp, giveUpNow := context.WithCancel(context.Background())
	defer giveUpNow()
	pubs := make([]*publisherLog, publisherCount)
	var pubWG sync.WaitGroup
	for i := range pubs {
		pubWG.Go(func() { pubs[i] = c.publish(stopNew, giveUp, i, rand.New(rand.NewPCG(seed, uint64(1000+i)))) })
	}

	faultCtx, stopFaults := context.WithTimeout(context.Background(), duration)
	defer stopFaults()
	in := &injector{t: t, rng: rand.New(rand.NewPCG(seed, 0)), nodes: nodes, pg: pg, bus: bus,
		pgAddr: hostOf(t, pgURL), busAddr: hostOf(t, busURL), net: layout, kinds: faultKindsFor(layout)}
	in.run(faultCtx) // returns once the last fault has healed
	faultsEnded := time.Now()
	for _, n := range nodes {
		if err := n.waitReady(2 * time.Minute); err != nil {
			t.Errorf("after the faults: %v", err)
		}
	}
	t.Logf("faults ended; every node ready %v later", time.Since(faultsEnded).Round(time.Millisecond))
	stopPublishing()
	giveUpTimer := time.AfterFunc(giveUpAfter, giveUpNow)
	pubWG.Wait()
	giveUpTimer.Stop()
	sleep(context.Background(), quiet)
	stopSubs()
	<-subsDone

	h := &history{attempted: map[string]string{}, subs: subs, faults: in.faults}
	codes, transportErrors := map[int]int{}, 0
	for _, p := range pubs {
		h.acks = append(h.acks, p.acks...)
		for k, u := range p.attempted {
			h.attempted[k] = u
		}
		mergeStats(codes, &transportErrors, &h.bad5xx, &p.stats)
	}
	for _, s := range subs {
		mergeStats(codes, &transportErrors, &h.bad5xx, &s.stats)
	}
	if h.stored, err = readStore(c); err != nil {
		t.Errorf("read the store back: %v", err)
	}
	stopSupervising()
	<-supervised
	anomalies := check(h)
	for _, line := range report(seed, duration, busKind, h, exits, codes, transportErrors, anomalies) {
		t.Log(line)
	}
	t.Logf("run took %v end to end", time.Since(began).Round(time.Second))
	if len(anomalies) > 0 {
		t.Errorf("%d anomalies (seed %d); node logs in %s (set TOCSIN_SOAK_LOGS to keep them)", len(anomalies), seed, logDir)
	}
}

// startSubscribers starts the SSE subscribers and waits until each has its init,
// so that every later publish of its user is one it must receive. done is closed
// once they have all returned after ctx ends.
func startSubscribers(t *testing.T, c *cluster, ctx context.Context, seed uint64, tokenTTL time.Duration) (logs []*subscriberLog, done <-chan struct{}) {
	t.Helper()
	plan := subscriberPlan(c.users)
	logs = make([]*subscriberLog, len(plan))
	readies := make([]chan struct{}, len(plan))
	var wg sync.WaitGroup
	for i, sub := range plan {
		token, err := auth.MintJWT([]byte(jwtSecret), sub.user, tokenTTL, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		readies[i] = make(chan struct{})
		wg.Go(func() {
			logs[i] = c.subscribe(ctx, sub.user, sub.transport, token, rand.New(rand.NewPCG(seed, uint64(2000+i))), readies[i])
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	for i, r := range readies {
		select {
		case <-r:
		case <-time.After(30 * time.Second):
			t.Fatalf("subscriber %d got no init within 30s", i)
		}
	}
	return logs, finished
}

type plannedSubscriber struct{ user, transport string }

// subscriberPlan: the first doubleUsers users have two SSE subscribers each and
// the next singleUsers one (12 SSE streams, some users followed on two nodes at
// once); users 0 and 1 (two SSE streams), user doubleUsers (one) and the first
// user no SSE stream follows have a WebSocket subscriber. The other users are not followed: their publishes are checked
// against the store only.
func subscriberPlan(users []string) []plannedSubscriber {
	var plan []plannedSubscriber
	for i := range doubleUsers + singleUsers {
		plan = append(plan, plannedSubscriber{users[i], overSSE})
		if i < doubleUsers {
			plan = append(plan, plannedSubscriber{users[i], overSSE})
		}
	}
	for _, i := range []int{0, 1, doubleUsers, doubleUsers + singleUsers} {
		plan = append(plan, plannedSubscriber{users[i], overWS})
	}
	return plan
}

func mergeStats(codes map[int]int, transportErrors *int, bad5xx *[]string, s *httpStats) {
	for k, v := range s.codes {
		codes[k] += v
	}
	*transportErrors += s.errors
	*bad5xx = append(*bad5xx, s.bad5xx...)
}

// readStore lists every user's notifications through the admin API of the
// first node, following nextCursor.
func readStore(c *cluster) (map[string][]storedNotification, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	out := map[string][]storedNotification{}
	for _, user := range c.users {
		cursor := ""
		for {
			q := url.Values{"status": {"all"}, "limit": {"100"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			req, _ := http.NewRequest("GET", c.nodes[0].url+"/api/users/"+user+"/notifications?"+q.Encode(), nil)
			req.Header.Set("Authorization", "Bearer "+apiKey)
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			var page struct {
				Notifications []struct {
					ID   string `json:"id"`
					Data struct {
						Key string `json:"key"`
					} `json:"data"`
				} `json:"notifications"`
				NextCursor *string `json:"nextCursor"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("list %s: status %d: %v", user, resp.StatusCode, err)
			}
			for _, n := range page.Notifications {
				out[user] = append(out[user], storedNotification{id: n.ID, key: n.Data.Key})
			}
			if page.NextCursor == nil || *page.NextCursor == "" {
				break
			}
			cursor = *page.NextCursor
		}
		if out[user] == nil {
			out[user] = []storedNotification{}
		}
	}
	return out, nil
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
