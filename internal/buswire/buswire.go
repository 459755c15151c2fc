// Package buswire is the wire format of events on the network buses (Redis, NATS):
// one compact JSON object per event, encoded once per event however many nodes
// receive it.
package buswire

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tocsin/tocsin"
)

type wire struct {
	Stream string          `json:"s"`
	Seq    uint64          `json:"q"`
	Name   string          `json:"n"`
	Type   string          `json:"t,omitempty"`
	Data   json.RawMessage `json:"d"`
	Unread int             `json:"u"`
	Time   int64           `json:"ms"`
}

// Marshal encodes ev.
func Marshal(ev tocsin.Event) ([]byte, error) {
	data := ev.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return json.Marshal(wire{
		Stream: string(ev.Stream), Seq: ev.Seq, Name: ev.Name, Type: ev.Type,
		Data: data, Unread: ev.Unread, Time: ev.Time.UnixMilli(),
	})
}

// Unmarshal decodes what Marshal made. A message that is not one (another program on
// the same channel) is an error, and the bus drops it.
func Unmarshal(b []byte) (tocsin.Event, error) {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return tocsin.Event{}, fmt.Errorf("buswire: %w", err)
	}
	if w.Stream == "" || w.Seq == 0 || w.Name == "" {
		return tocsin.Event{}, fmt.Errorf("buswire: not a tocsin event")
	}
	ev := tocsin.Event{
		Stream: tocsin.StreamID(w.Stream), Seq: w.Seq, Name: w.Name, Type: w.Type,
		Data: w.Data, Unread: w.Unread, Time: time.UnixMilli(w.Time).UTC(),
	}
	if string(ev.Data) == "null" {
		ev.Data = nil
	}
	return ev, nil
}
