package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/httpapi"
	"github.com/tocsin/tocsin/sqlite"
)

// rivalNode is a key store shared with another node that, once armed, puts a key of
// its own just before this node's put: after this node counted, as two nodes of a
// cluster creating the last allowed key at once would.
type rivalNode struct {
	tocsin.APIKeyRecords
	armed bool
}

func (r *rivalNode) PutAPIKey(ctx context.Context, k tocsin.APIKeyRecord) error {
	if r.armed {
		r.armed = false
		// Its insert comes first, so its key is older (the same millisecond as this
		// node's would leave the order to the random ids: a flaky test).
		_, rec, err := auth.NewAPIKey("the other node's", time.Now().Add(-time.Second))
		if err != nil {
			return err
		}
		if err := r.APIKeyRecords.PutAPIKey(ctx, rec); err != nil {
			return err
		}
	}
	return r.APIKeyRecords.PutAPIKey(ctx, k)
}

// TestAPIKeysBoundAcrossNodes: the bound of live keys holds when another node takes
// the last place between this node's count and its insert: this node's key is
// revoked again (its secret never shown) and the answer is the 409 of a full store.
func TestAPIKeysBoundAcrossNodes(t *testing.T) {
	rival := &rivalNode{}
	c := newChannelsServerWith(t, func(cfg *httpapi.Config, store *sqlite.Store) {
		rival.APIKeyRecords = store
		a, err := auth.New(auth.Config{JWTSecret: testSecret, APIKeys: []string{channelsKey}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Auth = a
		cfg.Keys = httpapi.KeyAdmin{Store: rival, ConfigIDs: a.ConfigKeyIDs(), Forget: a.ForgetKey}
	})
	for i := range 99 {
		c.createKey(channelsKey, fmt.Sprintf("k%d", i))
	}
	rival.armed = true
	st, b := c.do("POST", "/api/keys", channelsKey, `{"name":"the last place"}`)
	if st != 409 || !strings.Contains(b, "revoke one") || strings.Contains(b, `"key"`) {
		t.Fatalf("the create that lost the race: %d %s", st, b)
	}
	live, lost := 0, 0
	for _, k := range c.keys(channelsKey) {
		if k.Source == "store" && k.RevokedAt == nil {
			live++
		}
		if k.Name == "the last place" && k.RevokedAt != nil {
			lost++
		}
	}
	if live != 100 || lost != 1 {
		t.Fatalf("%d live stored keys (want 100), the losing key revoked: %d", live, lost)
	}
}
