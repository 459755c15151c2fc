package sqlite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// Many streams opening at once on a fresh store (every read statement still to be
// prepared) must not wedge the read pool: each init snapshot holds a pooled
// connection in its read transaction while it asks for the kept statements.
func TestConcurrentSnapshotsOnAColdStatementCache(t *testing.T) {
	for round := range 5 {
		s, err := Open(context.Background(), t.TempDir()+"/reads.db", Options{Sync: "normal"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Snapshot(ctx, fmt.Sprint("u", i), tocsin.ListQuery{Status: tocsin.StatusUnread, Limit: 50})
				if err == nil {
					_, err = s.Events(ctx, tocsin.UserStream(fmt.Sprint("u", i)), 0, 10)
				}
				errs <- err
			}()
		}
		wg.Wait()
		cancel()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v (the read pool wedged)", round, err)
			}
		}
		s.Close()
	}
}
