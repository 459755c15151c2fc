package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Inbox changes a device makes, in the proportions changeInbox picks them.
const (
	changeRead    = "read"
	changeArchive = "archive"
	changeDelete  = "delete"
	changeReadAll = "read-all"
	// devicePace is the pause between one device's changes: a person reading
	// their inbox, not a load test.
	devicePace = 150 * time.Millisecond
)

// deviceLog is what one device of a user changed; only its goroutine writes it.
type deviceLog struct {
	user    string
	done    map[string]int // change kind → acknowledged
	gaveUp  int            // changes still failing when giveUp came
	deleted []string       // every notification id a delete was tried on, acknowledged or not
	stats   httpStats
}

// changeInbox runs one device of user: until stopNew is done, read the user's
// unread inbox on a random node and change it (read one, archive one, delete one,
// or read all) with the user's JWT on a random node, retrying the same change on
// another node after an error or an unexpected status until it is answered, or
// until giveUp is done. Every change is idempotent, so a retry of one that was
// applied but not answered is harmless; 404 (another device deleted it first) is
// an answer.
func (c *cluster) changeInbox(stopNew, giveUp context.Context, user, token string, rng *rand.Rand) *deviceLog {
	log := &deviceLog{user: user, done: map[string]int{}, stats: newHTTPStats()}
	client := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	defer client.CloseIdleConnections()
	for stopNew.Err() == nil {
		sleep(stopNew, devicePace)
		ids, ok := c.unreadIDs(stopNew, client, rng.IntN(len(c.nodes)), token, &log.stats)
		if !ok {
			continue
		}
		kind, method, path, body := changeRead, "PATCH", "", `{"read":true}`
		switch roll := rng.IntN(20); {
		case roll < 2:
			kind, method, path, body = changeReadAll, "POST", "/api/notifications/read-all", ""
		case len(ids) == 0:
			continue
		case roll < 5:
			kind, body = changeArchive, `{"archived":true}`
		case roll < 8:
			kind, method, body = changeDelete, "DELETE", ""
		}
		if path == "" {
			id := ids[rng.IntN(len(ids))]
			path = "/api/notifications/" + id
			if kind == changeDelete {
				log.deleted = append(log.deleted, id)
			}
		}
		node := rng.IntN(len(c.nodes))
		backoff := 20 * time.Millisecond
		for {
			if giveUp.Err() != nil {
				log.gaveUp++
				break
			}
			if c.tryChange(giveUp, client, node, token, method, path, body, &log.stats) {
				log.done[kind]++
				break
			}
			node = (node + 1 + rng.IntN(len(c.nodes)-1)) % len(c.nodes)
			sleep(giveUp, backoff)
			backoff = min(2*backoff, 500*time.Millisecond)
		}
	}
	return log
}

// unreadIDs lists the newest unread notifications of the token's user on node.
func (c *cluster) unreadIDs(ctx context.Context, client *http.Client, node int, token string, stats *httpStats) ([]string, bool) {
	req, _ := http.NewRequestWithContext(ctx, "GET", c.nodes[node].url+"/api/notifications?status=unread&limit=20", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		stats.errors++
		return nil, false
	}
	defer resp.Body.Close()
	stats.record(resp, node, "list")
	var page struct {
		Notifications []struct{ ID string } `json:"notifications"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&page) != nil {
		return nil, false
	}
	ids := make([]string, len(page.Notifications))
	for i, n := range page.Notifications {
		ids[i] = n.ID
	}
	return ids, true
}

// tryChange makes one attempt of an inbox change: true once it is answered 2xx,
// or 404 (the notification is gone: deleted by another device, or by an earlier
// attempt of this one whose answer was lost).
func (c *cluster) tryChange(ctx context.Context, client *http.Client, node int, token, method, path, body string, stats *httpStats) bool {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, _ := http.NewRequestWithContext(ctx, method, c.nodes[node].url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		stats.errors++
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	stats.record(resp, node, strings.ToLower(method)+" "+strings.TrimPrefix(path, "/api/notifications"))
	return resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotFound && method != "POST"
}

// formatChanges renders the devices' acknowledged changes by kind.
func formatChanges(devices []*deviceLog) string {
	done, gaveUp := map[string]int{}, 0
	for _, d := range devices {
		for k, n := range d.done {
			done[k] += n
		}
		gaveUp += d.gaveUp
	}
	return fmt.Sprintf("%d %s, %d %s, %d %s, %d %s acknowledged; %d given up at the end",
		done[changeRead], changeRead, done[changeArchive], changeArchive, done[changeDelete], changeDelete,
		done[changeReadAll], changeReadAll, gaveUp)
}
