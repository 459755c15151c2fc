package storetest

import (
	"fmt"
	"testing"

	"github.com/tocsin/tocsin"
)

// testHeads: Heads answers, aligned with its input, what Head answers for each
// stream: users and topics, streams without events (0), an id given twice, and more
// ids than one batch reads.
func testHeads(t *testing.T, s tocsin.Store) {
	if heads, err := s.Heads(ctx, nil); err != nil || len(heads) != 0 {
		t.Fatalf("Heads(nil) = %v, %v", heads, err)
	}
	for i := range 3 {
		for range i + 1 {
			publish(t, s, notification(fmt.Sprint("h", i)))
		}
	}
	topic := notification("")
	topic.UserID, topic.Topic = "", "heads-topic"
	if _, err := s.Publish(ctx, &tocsin.PublishRequest{Notifications: []tocsin.Notification{topic}, Topic: "heads-topic"}); err != nil {
		t.Fatal(err)
	}
	// Past one batch: the known streams at both ends and across the boundary, unknown
	// ones between them.
	var streams []tocsin.StreamID
	want := map[int]uint64{}
	for i := range tocsin.HeadsBatch*2 + 3 {
		switch i {
		case 0, tocsin.HeadsBatch - 1:
			streams, want[i] = append(streams, tocsin.UserStream("h2")), 3
		case tocsin.HeadsBatch:
			streams, want[i] = append(streams, tocsin.UserStream("h1")), 2
		case tocsin.HeadsBatch + 1:
			streams, want[i] = append(streams, tocsin.TopicStream("heads-topic")), 1
		case tocsin.HeadsBatch*2 + 2:
			streams, want[i] = append(streams, tocsin.UserStream("h0")), 1
		default:
			streams = append(streams, tocsin.UserStream(fmt.Sprint("nobody", i)))
		}
	}
	heads, err := s.Heads(ctx, streams)
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != len(streams) {
		t.Fatalf("Heads returned %d heads for %d streams", len(heads), len(streams))
	}
	for i, st := range streams {
		head, err := s.Head(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if heads[i] != want[i] || head != want[i] {
			t.Fatalf("stream %d (%s): Heads says %d, Head %d, want %d", i, st, heads[i], head, want[i])
		}
	}
}
