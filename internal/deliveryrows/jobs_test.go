package deliveryrows

import (
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// codeOf is err's code, "" for none.
func codeOf(err error) tocsin.ErrorCode {
	if err == nil {
		return ""
	}
	return tocsin.ErrorCodeOf(err)
}

func TestQuery(t *testing.T) {
	for _, tt := range []struct {
		name      string
		in        tocsin.JobQuery
		wantLimit int
		wantCode  tocsin.ErrorCode
	}{
		{"no kind", tocsin.JobQuery{Limit: 5}, 0, tocsin.EInvalid},
		{"unknown state", tocsin.JobQuery{Kind: tocsin.JobWebhook, State: "running"}, 0, tocsin.EInvalid},
		{"default limit", tocsin.JobQuery{Kind: tocsin.JobWebhook}, DefaultLimit, ""},
		{"negative limit", tocsin.JobQuery{Kind: tocsin.JobWebhook, Limit: -3}, DefaultLimit, ""},
		{"limit kept", tocsin.JobQuery{Kind: tocsin.JobWebhook, Limit: 7, State: tocsin.JobFailed}, 7, ""},
		{"limit bounded", tocsin.JobQuery{Kind: tocsin.JobWebhook, Limit: 10_000}, MaxLimit, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Query(tt.in)
			if code := codeOf(err); code != tt.wantCode {
				t.Fatalf("error %v, want code %q", err, tt.wantCode)
			}
			if err == nil && q.Limit != tt.wantLimit {
				t.Fatalf("limit %d, want %d", q.Limit, tt.wantLimit)
			}
		})
	}
}

func TestClaim(t *testing.T) {
	for _, tt := range []struct {
		lease     time.Duration
		limit     int
		wantLimit int
		wantCode  tocsin.ErrorCode
	}{
		{0, 10, 0, tocsin.EInvalid},
		{-time.Second, 10, 0, tocsin.EInvalid},
		{time.Minute, 0, 1, ""},
		{time.Minute, 10, 10, ""},
		{time.Minute, MaxClaim + 1, MaxClaim, ""},
	} {
		limit, err := Claim(tt.lease, tt.limit)
		if codeOf(err) != tt.wantCode || (err == nil && limit != tt.wantLimit) {
			t.Errorf("Claim(%s, %d) = %d, %v; want %d, code %q", tt.lease, tt.limit, limit, err, tt.wantLimit, tt.wantCode)
		}
	}
}

func TestPrepare(t *testing.T) {
	var ids tocsin.IDGen
	now := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	jobs := []tocsin.Job{
		{Kind: tocsin.JobDigest, DueAt: now.In(berlin)},
		{ID: "given", Kind: tocsin.JobDigest, DueAt: now, CreatedAt: now.Add(-time.Hour)},
	}
	out, err := Prepare(jobs, now, &ids)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].ID == "" || !out[0].CreatedAt.Equal(now.Truncate(time.Millisecond)) || out[0].DueAt.Location() != time.UTC ||
		out[0].DueAt.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatalf("completed job %+v", out[0])
	}
	if out[1].ID != "given" || !out[1].CreatedAt.Equal(now.Add(-time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("given fields changed: %+v", out[1])
	}
	if jobs[0].ID != "" {
		t.Fatal("Prepare changed its input")
	}
	for _, bad := range []tocsin.Job{{DueAt: now}, {Kind: tocsin.JobDigest}} {
		if _, err := Prepare([]tocsin.Job{bad}, now, &ids); tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
			t.Errorf("Prepare(%+v): %v, want EInvalid", bad, err)
		}
	}
}

func TestPreferencesDocument(t *testing.T) {
	muted := time.Date(2026, 12, 24, 18, 0, 0, 999_999_999, time.FixedZone("X", 7200))
	p := tocsin.Preferences{MutedUntil: &muted, UpdatedAt: muted}
	doc, updated, err := EncodePreferences(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodePreferences(doc, updated)
	if err != nil {
		t.Fatal(err)
	}
	want := muted.UTC().Truncate(time.Millisecond)
	if !got.MutedUntil.Equal(want) || got.MutedUntil.Location() != time.UTC || !got.UpdatedAt.Equal(want) || got.Channels == nil {
		t.Fatalf("decoded %+v", got)
	}
	if _, err := DecodePreferences([]byte("{"), 0); err == nil {
		t.Fatal("a broken document decoded")
	}
}
