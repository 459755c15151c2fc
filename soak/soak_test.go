package soak

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/internal/testenv"
)

const (
	nodeCount      = 3
	userCount      = 20
	publisherCount = 4
	// Who is followed, and how: see subscriberPlan.
	doubleUsers = 4
	singleUsers = 4
	// topicCount topics, each followed by a topic stream (a JWT granting it) and
	// a capability stream (a subscribe token).
	topicCount = 2
	// devicesPerUser devices of each of the first deviceUsers users change its
	// inbox (all followed users, so their streams' views are checked).
	deviceUsers    = 3
	devicesPerUser = 2
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
	env := testenv.OptIn(t, "TOCSIN_SOAK", "the fault soak",
		"it runs only when asked: TOCSIN_SOAK=2m [TOCSIN_SOAK_SEED=1] [TOCSIN_SOAK_BUS=redis|nats] go test -v -count=1 -timeout 30m ./soak/")
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
	var storeIPs, busIPs []string
	if layout != nil {
		storeIPs, busIPs = layout.storeIPs(), layout.busIPs()
		t.Logf("each node in a network namespace of its own (TOCSIN_SOAK_NETNS=0: all on loopback); netem: %v", layout.netem)
	} else {
		t.Logf("all nodes on loopback, no network faults: %s", why)
	}
	pg, pgURL := startPostgres(t, logDir, storeIPs)
	busKind := cmp.Or(os.Getenv("TOCSIN_SOAK_BUS"), "redis")
	bus, busURL := startBus(t, busKind, logDir, busIPs)
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
	for i := range topicCount {
		c.topics = append(c.topics, fmt.Sprintf("soak-t%d", i))
	}
	tokenTTL := duration + giveUpAfter + 10*time.Minute
	subsCtx, stopSubs := context.WithCancel(context.Background())
	defer stopSubs()
	subs, subsDone, primers := startSubscribers(t, c, subsCtx, seed, tokenTTL)

	stopNew, stopPublishing := context.WithCancel(context.Background())
	defer stopPublishing()
	giveUp, giveUpNow := context.WithCancel(context.Background())
	defer giveUpNow()
	pubs := make([]*publisherLog, publisherCount)
	var pubWG sync.WaitGroup
	for i := range pubs {
		pubWG.Go(func() { pubs[i] = c.publish(stopNew, giveUp, i, rand.New(rand.NewPCG(seed, uint64(1000+i)))) })
	}

	devices := make([]*deviceLog, deviceUsers*devicesPerUser)
	for i := range devices {
		user := c.users[i/devicesPerUser]
		token, err := auth.MintJWT([]byte(jwtSecret), user, tokenTTL, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pubWG.Go(func() {
			devices[i] = c.changeInbox(stopNew, giveUp, user, token, rand.New(rand.NewPCG(seed, uint64(3000+i))))
		})
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

	h := &history{attempted: map[string][]string{}, subs: subs, devices: devices, deleted: map[string]bool{}, faults: in.faults}
	codes, transportErrors := map[int]int{}, 0
	for _, p := range append(pubs, primers) {
		h.acks = append(h.acks, p.acks...)
		for k, u := range p.attempted {
			h.attempted[k] = u
		}
		mergeStats(codes, &transportErrors, &h.bad5xx, &p.stats)
	}
	for _, s := range subs {
		mergeStats(codes, &transportErrors, &h.bad5xx, &s.stats)
	}
	for _, d := range devices {
		for _, id := range d.deleted {
			h.deleted[id] = true
		}
		mergeStats(codes, &transportErrors, &h.bad5xx, &d.stats)
	}
	if h.stored, h.unread, err = readStore(c); err != nil {
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

// startSubscribers starts the subscribers and waits until each is positioned,
// so that every later publish of its stream is one it must receive: a user's
// subscriber by its init, a topic's (which has no init) by a first event, for
// which it publishes primers to the topics (returned as their publisher's log)
// until each topic subscriber has one. done is closed once they have all
// returned after ctx ends.
func startSubscribers(t *testing.T, c *cluster, ctx context.Context, seed uint64, tokenTTL time.Duration) (logs []*subscriberLog, done <-chan struct{}, primers *publisherLog) {
	t.Helper()
	plan := subscriberPlan(c.users, c.topics)
	logs = make([]*subscriberLog, len(plan))
	readies := make([]chan struct{}, len(plan))
	var wg sync.WaitGroup
	for i, sub := range plan {
		token := ""
		switch {
		case strings.HasPrefix(sub.path, "/api/stream/"):
			sub.path += mintStreamToken(t, c, sub.user)
		case strings.HasPrefix(sub.path, "/api/topics/"):
			token = mintJWT(t, "soak-topic-reader", tokenTTL, strings.TrimPrefix(sub.user, "topic:"))
		default:
			token = mintJWT(t, sub.user, tokenTTL)
		}
		readies[i] = make(chan struct{})
		wg.Go(func() {
			logs[i] = c.subscribe(ctx, sub, token, rand.New(rand.NewPCG(seed, uint64(2000+i))), readies[i])
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	primers = &publisherLog{attempted: map[string][]string{}, stats: newHTTPStats()}
	client := &http.Client{Timeout: requestTimeout}
	defer client.CloseIdleConnections()
	deadline := time.After(30 * time.Second)
	for i, r := range readies {
		for attempt := 0; ; attempt++ {
			if strings.HasPrefix(plan[i].user, "topic:") {
				primeTopic(t, c, client, primers, plan[i].user, fmt.Sprintf("primer-%d-%d", i, attempt))
			}
			select {
			case <-r:
			case <-time.After(time.Second):
				continue
			case <-deadline:
				t.Fatalf("subscriber %d (%s) not positioned within 30s", i, plan[i].user)
			}
			break
		}
	}
	return logs, finished, primers
}

// primeTopic publishes one notification to the topic stream, acknowledged.
func primeTopic(t *testing.T, c *cluster, client *http.Client, log *publisherLog, stream, key string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"topic": strings.TrimPrefix(stream, "topic:"), "type": "soak",
		"title": key, "data": map[string]string{"key": key}})
	log.attempted[key] = []string{stream}
	a := ack{key: key, kind: publishTopic, first: time.Now(), attempts: 1}
	a.lastTry = a.first
	got, _, ok := c.tryPublish(context.Background(), client, 0, key, body, &log.stats)
	if !ok {
		t.Fatalf("primer publish to %s failed", stream)
	}
	a.at = time.Now()
	for _, r := range got {
		a.user, a.id = r.stream, r.id
		log.acks = append(log.acks, a)
	}
}

func mintJWT(t *testing.T, user string, ttl time.Duration, topics ...string) string {
	t.Helper()
	token, err := auth.MintJWT([]byte(jwtSecret), user, ttl, time.Now(), topics...)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// mintStreamToken mints a subscribe token of stream through node 0's API.
func mintStreamToken(t *testing.T, c *cluster, stream string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"stream": stream, "scope": "subscribe"})
	req, _ := http.NewRequest("POST", c.nodes[0].url+"/api/tokens", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.Token == "" {
		t.Fatalf("mint a subscribe token of %s: status %d: %v", stream, resp.StatusCode, err)
	}
	return out.Token
}

type plannedSubscriber struct{ user, transport, path string }

// subscriberPlan: the first doubleUsers users have two SSE subscribers each and
// the next singleUsers one (12 SSE streams, some users followed on two nodes at
// once); users 0 and 1 (two SSE streams), user doubleUsers (one) and the first
// user no SSE stream follows have a WebSocket subscriber. The other users are
// not followed: their publishes are checked against the store only. Each topic
// has a topic stream and a capability stream.
func subscriberPlan(users, topics []string) []plannedSubscriber {
	const sse, ws = "/api/notifications/stream", "/api/notifications/ws"
	var plan []plannedSubscriber
	for i := range doubleUsers + singleUsers {
		plan = append(plan, plannedSubscriber{users[i], overSSE, sse})
		if i < doubleUsers {
			plan = append(plan, plannedSubscriber{users[i], overSSE, sse})
		}
	}
	for _, i := range []int{0, 1, doubleUsers, doubleUsers + singleUsers} {
		plan = append(plan, plannedSubscriber{users[i], overWS, ws})
	}
	for _, topic := range topics {
		plan = append(plan, plannedSubscriber{topicStream(topic), overSSE, "/api/topics/" + topic + "/stream"},
			plannedSubscriber{topicStream(topic), overSSE, "/api/stream/"})
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

// readStore lists every user's notifications, archived ones included, and its
// unread count through the admin API of the first node, following nextCursor.
func readStore(c *cluster) (map[string][]storedNotification, map[string]int, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	out, unread := map[string][]storedNotification{}, map[string]int{}
	for _, user := range c.users {
		out[user] = []storedNotification{}
		for _, status := range []string{"all", "archived"} {
			cursor := ""
			for {
				q := url.Values{"status": {status}, "limit": {"100"}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				req, _ := http.NewRequest("GET", c.nodes[0].url+"/api/users/"+user+"/notifications?"+q.Encode(), nil)
				req.Header.Set("Authorization", "Bearer "+apiKey)
				resp, err := client.Do(req)
				if err != nil {
					return nil, nil, err
				}
				var page struct {
					Notifications []struct {
						ID         string  `json:"id"`
						ReadAt     *string `json:"readAt"`
						ArchivedAt *string `json:"archivedAt"`
						Data       struct {
							Key string `json:"key"`
						} `json:"data"`
					} `json:"notifications"`
					NextCursor  *string `json:"nextCursor"`
					UnreadCount int     `json:"unreadCount"`
				}
				err = json.NewDecoder(resp.Body).Decode(&page)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					return nil, nil, fmt.Errorf("list %s: status %d: %v", user, resp.StatusCode, err)
				}
				if status == "all" && cursor == "" {
					unread[user] = page.UnreadCount
				}
				for _, n := range page.Notifications {
					out[user] = append(out[user], storedNotification{id: n.ID, key: n.Data.Key,
						read: n.ReadAt != nil, archived: n.ArchivedAt != nil})
				}
				if page.NextCursor == nil || *page.NextCursor == "" {
					break
				}
				cursor = *page.NextCursor
			}
		}
	}
	return out, unread, nil
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
