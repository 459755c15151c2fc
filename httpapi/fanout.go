package httpapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
)

// checkFanout refuses (413) a publish that would store more than MaxFanoutBytes:
// its recipients times the encoded size of one of its notifications. A request of a
// 1 MiB body may name 10,000 users with a 30 KiB notification each, which stored,
// encoded for every recipient and answered in full came to half a gigabyte of
// response and 2 GB of memory; this is decided from the input alone, before anything
// is stored or encoded per recipient.
func (s *Server) checkFanout(in *tocsin.PublishInput, bodyLen int) error {
	limit := s.cfg.MaxFanoutBytes
	if limit <= 0 {
		return nil
	}
	recipients := int64(len(in.Recipients()))
	if in.Topic != "" {
		recipients++
	}
	// A notification's JSON is at most six times its body ('<' is written as
	// \u003c) plus the fields the server adds: most publishes are far below the
	// limit without encoding anything.
	if recipients*(6*int64(bodyLen)+1024) <= limit {
		return nil
	}
	n := in.Template()
	n.ID = strings.Repeat("0", 26)
	n.CreatedAt = time.Now().UTC() // any instant: only its encoded length counts
	n.Topic = in.Topic
	for _, u := range in.Recipients() {
		if len(u) > len(n.UserID) {
			n.UserID = u // the longest id: the size is an upper bound
		}
	}
	b, err := tocsin.AppendNotificationJSON(nil, &n)
	if err != nil {
		return err
	}
	if size := recipients * int64(len(b)); size > limit {
		return tocsin.Errorf(tocsin.ETooLarge,
			"this publish would store %d notifications of %d bytes (%s), more than one request may (%s, --max-fanout-bytes); send fewer userIds per request or a smaller notification",
			recipients, len(b), humanBytes(size), humanBytes(limit))
	}
	return nil
}

// humanBytes writes a size for an error message: 64 MiB, 930 KiB, 512 bytes.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return trimZero(float64(n)/(1<<20)) + " MiB"
	case n >= 1<<10:
		return trimZero(float64(n)/(1<<10)) + " KiB"
	default:
		return trimZero(float64(n)) + " bytes"
	}
}

// trimZero writes f with one decimal, none when it is whole.
func trimZero(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0")
}
