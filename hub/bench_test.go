package hub

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/sse"
)

// countSink encodes each event once (through the shared slot), as the SSE writer
// does, and reports each write.
type countSink struct{ wg *sync.WaitGroup }

func (s countSink) Event(d *Delivery) error {
	_ = d.Encoded(EncodingSSE, func(d *Delivery) []byte {
		return sse.AppendEvent(nil, d.ID, d.Event.Name, d.Event.Data)
	})
	s.wg.Done()
	return nil
}
func (countSink) Batch([]*Delivery, int) error         { return nil }
func (countSink) Control(string, string, []byte) error { return nil }
func (countSink) Heartbeat() error                     { return nil }
func (countSink) Flush() error                         { return nil }

// BenchmarkFanout measures delivering one committed event to N open streams of the
// same user on this node: queueing, waking each stream (its goroutine, or a worker
// for a driven stream), and the shared encoding (done once, not N times).
func BenchmarkFanout(b *testing.B) {
	for _, mode := range []string{"goroutine", "driven"} {
		for _, n := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/conns=%d", mode, n), func(b *testing.B) {
				benchFanout(b, n, mode == "driven")
			})
		}
	}
}

func benchFanout(b *testing.B, n int, driven bool) {
	f := newFixture(b, Config{MaxStreamsPerUser: n, QueueSize: 1024})
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	var served sync.WaitGroup
	for range n {
		served.Add(1)
		if driven {
			st, err := f.h.Begin(ctx, SubscribeRequest{UserID: "u1"}, asyncSink{countSink{&wg}})
			if err != nil {
				b.Fatal(err)
			}
			context.AfterFunc(ctx, st.Stop)
			st.Go(func(error) { served.Done() })
			continue
		}
		go func() {
			defer served.Done()
			_ = f.h.Serve(ctx, SubscribeRequest{UserID: "u1"}, countSink{&wg})
		}()
	}
	for f.h.OpenStreams() != n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let every stream finish its init
	data := []byte(`{"id":"01J","title":"hello","body":"world"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		wg.Add(n)
		f.h.deliver(tocsin.Event{Stream: tocsin.UserStream("u1"), Seq: uint64(i + 1),
			Name: tocsin.EventNotification, Type: "comment", Data: data, Unread: tocsin.UnreadUnchanged})
		wg.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
	cancel()
	served.Wait()
}
