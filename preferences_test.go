package tocsin

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestQuietHoursUntil(t *testing.T) {
	ny, err := LoadTimezone("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		q        QuietHours
		fallback *time.Location
		now      string
		quiet    bool
		end      string
	}{
		{"before the window", QuietHours{Start: "22:00", End: "07:00"}, time.UTC, "2026-12-03T21:59:00Z", false, ""},
		{"at its start", QuietHours{Start: "22:00", End: "07:00"}, time.UTC, "2026-12-03T22:00:00Z", true, "2026-12-04T07:00:00Z"},
		{"after midnight", QuietHours{Start: "22:00", End: "07:00"}, time.UTC, "2026-12-04T03:00:00Z", true, "2026-12-04T07:00:00Z"},
		{"at its end", QuietHours{Start: "22:00", End: "07:00"}, time.UTC, "2026-12-04T07:00:00Z", false, ""},
		{"a daytime window", QuietHours{Start: "12:00", End: "13:30"}, time.UTC, "2026-12-04T12:45:00Z", true, "2026-12-04T13:30:00Z"},
		// 23:30 in New York (UTC-5 in December) is 04:30 UTC the next day; the
		// window ends at 07:00 New York time, 12:00 UTC.
		{"the profile's timezone", QuietHours{Start: "22:00", End: "07:00"}, ny, "2026-12-04T04:30:00Z", true, "2026-12-04T12:00:00Z"},
		{"the same instant read in UTC ends at 07:00 UTC", QuietHours{Start: "22:00", End: "07:00"}, time.UTC, "2026-12-04T04:30:00Z", true, "2026-12-04T07:00:00Z"},
		{"noon in New York", QuietHours{Start: "22:00", End: "07:00"}, ny, "2026-12-04T17:00:00Z", false, ""},
		{"the window's own timezone wins", QuietHours{Start: "22:00", End: "07:00", Timezone: "Europe/Berlin"}, ny, "2026-12-03T22:30:00Z", true, "2026-12-04T06:00:00Z"},
		// Berlin leaves summer time on 2026-10-25 at 03:00 local: the window still
		// ends at 07:00 local, now UTC+1.
		{"across a daylight-saving change", QuietHours{Start: "22:00", End: "07:00", Timezone: "Europe/Berlin"}, nil, "2026-10-24T21:00:00Z", true, "2026-10-25T06:00:00Z"},
		{"malformed never quiet", QuietHours{Start: "25:00", End: "07:00"}, time.UTC, "2026-12-04T03:00:00Z", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end, quiet := tt.q.Until(mustTime(t, tt.now), tt.fallback)
			if quiet != tt.quiet {
				t.Fatalf("quiet = %v, want %v", quiet, tt.quiet)
			}
			if tt.quiet && !end.Equal(mustTime(t, tt.end)) {
				t.Fatalf("end = %s, want %s", end.Format(time.RFC3339), tt.end)
			}
		})
	}
}

func TestPreferencesAllows(t *testing.T) {
	now := mustTime(t, "2026-12-03T12:00:00Z")
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	tests := []struct {
		name              string
		p                 Preferences
		channel, typ, top string
		ok                bool
		reason            string
	}{
		{"nothing set", Preferences{}, "email", "comment", "", true, ""},
		{"muted", Preferences{MutedUntil: &later}, "email", "comment", "", false, ReasonMuted},
		{"mute over", Preferences{MutedUntil: &earlier}, "email", "comment", "", true, ""},
		{"channel off", Preferences{Channels: ChannelSwitches{"email": false}}, "email", "comment", "", false, "preference: email off"},
		{"another channel off", Preferences{Channels: ChannelSwitches{"push": false}}, "email", "comment", "", true, ""},
		{"type off", Preferences{Types: map[string]ChannelSwitches{"comment": {"email": false}}}, "email", "comment", "", false, "preference: email off for type comment"},
		{"type on does not beat channel off", Preferences{Channels: ChannelSwitches{"email": false}, Types: map[string]ChannelSwitches{"comment": {"email": true}}}, "email", "comment", "", false, "preference: email off"},
		{"topic off", Preferences{Topics: map[string]ChannelSwitches{"deploys": {"push": false}}}, "push", "deploy", "deploys", false, "preference: push off for topic deploys"},
		{"topic off, other topic", Preferences{Topics: map[string]ChannelSwitches{"deploys": {"push": false}}}, "push", "deploy", "builds", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := tt.p.Allows(tt.channel, tt.typ, tt.top, now)
			if ok != tt.ok || reason != tt.reason {
				t.Fatalf("Allows = %v %q, want %v %q", ok, reason, tt.ok, tt.reason)
			}
		})
	}
}

func TestPreferencesValidate(t *testing.T) {
	big := map[string]ChannelSwitches{}
	for i := 0; i <= MaxPreferenceKeys; i++ {
		big["t"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+time.Duration(i).String()] = ChannelSwitches{}
	}
	tests := []struct {
		name string
		p    Preferences
		bad  string // "" valid; else part of the message
	}{
		{"empty", Preferences{}, ""},
		{"everything", Preferences{Channels: ChannelSwitches{"push": true, "email": false}, Types: map[string]ChannelSwitches{"comment": {"webhook": false}},
			QuietHours: &QuietHours{Start: "22:00", End: "07:00", Timezone: "Asia/Tokyo"}}, ""},
		{"unknown channel", Preferences{Channels: ChannelSwitches{"sms": true}}, "unknown channel"},
		{"unknown channel in a type", Preferences{Types: map[string]ChannelSwitches{"comment": {"fax": true}}}, "unknown channel"},
		{"bad type name", Preferences{Types: map[string]ChannelSwitches{"a b": {}}}, "must match"},
		{"too many types", Preferences{Types: big}, "at most"},
		{"bad clock", Preferences{QuietHours: &QuietHours{Start: "7:00", End: "22:00"}}, "quietHours"},
		{"equal ends", Preferences{QuietHours: &QuietHours{Start: "07:00", End: "07:00"}}, "differ"},
		{"unknown timezone", Preferences{QuietHours: &QuietHours{Start: "22:00", End: "07:00", Timezone: "Mars/Olympus"}}, "timezone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || ErrorCodeOf(err) != EInvalid || !strings.Contains(err.Error(), tt.bad) {
				t.Fatalf("err = %v, want EInvalid containing %q", err, tt.bad)
			}
		})
	}
}

func TestProfileValidate(t *testing.T) {
	tests := []struct {
		p  Profile
		ok bool
	}{
		{Profile{}, true},
		{Profile{Email: "ana@example.com", Timezone: "Europe/Berlin", Locale: "de-DE"}, true},
		{Profile{Email: "Ana <ana@example.com>"}, false},
		{Profile{Email: "ana@example.com\r\nBcc: x@y"}, false},
		{Profile{Email: "not an address"}, false},
		{Profile{Timezone: "Europe/Nowhere"}, false},
		{Profile{Timezone: "Local"}, false},
		{Profile{Timezone: "../../etc/passwd"}, false},
		{Profile{Locale: "de_DE"}, false},
		{Profile{Locale: "en"}, true},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%+v: err = %v, want ok %v", tt.p, err, tt.ok)
		}
	}
}

func TestParseChannelPlan(t *testing.T) {
	plan, err := ParseChannelPlan(map[string]string{"push": "0s", "email": "15m", "webhook": "off"})
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.String(); got != "push=0s,email=15m0s,webhook=off" {
		t.Fatalf("plan = %s", got)
	}
	for _, bad := range []map[string]string{{"sms": "0s"}, {"push": "-1s"}, {"push": "soon"}, {"email": "721h"}, {"email": ""}} {
		if _, err := ParseChannelPlan(bad); ErrorCodeOf(err) != EInvalid {
			t.Errorf("%v: err = %v, want EInvalid", bad, err)
		}
	}
}

func TestParseChannelDefaults(t *testing.T) {
	d, err := ParseChannelDefaults(DefaultChannelDefaults)
	if err != nil {
		t.Fatal(err)
	}
	if d[5]["push"] != (ChannelDelay{}) || !d[1]["email"].Off || d[4]["email"].Delay != 15*time.Minute {
		t.Fatalf("defaults = %s", d)
	}
	d, err = ParseChannelDefaults("*:email=1h;5:email=0s")
	if err != nil {
		t.Fatal(err)
	}
	if d[3]["email"].Delay != time.Hour || d[5]["email"].Delay != 0 || d[5]["email"].Off {
		t.Fatalf("star = %s", d)
	}
	for _, bad := range []string{"6:push=0s", "4:push=0s;4:email=0s", "push=0s", "1-:push=0s", "3-1:push=0s", "4:push", "4:sms=0s"} {
		if _, err := ParseChannelDefaults(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestPublishInputSchedule(t *testing.T) {
	now := mustTime(t, "2026-12-03T12:00:00Z")
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	tests := []struct {
		name string
		in   PublishInput
		bad  string
	}{
		{"scheduled", PublishInput{UserID: "u", DeliverAt: at(time.Hour)}, ""},
		{"past", PublishInput{UserID: "u", DeliverAt: at(-time.Second)}, "future"},
		{"too far", PublishInput{UserID: "u", DeliverAt: at(367 * 24 * time.Hour)}, "a year"},
		{"expires before", PublishInput{UserID: "u", DeliverAt: at(time.Hour), ExpiresAt: at(time.Minute)}, "after deliverAt"},
		{"channels", PublishInput{UserIDs: []string{"a", "b"}, Channels: map[string]string{"email": "5m"}}, ""},
		{"channels for a topic", PublishInput{Topic: "deploys", Channels: map[string]string{"email": "5m"}}, "not to a topic"},
		{"bad channel", PublishInput{UserID: "u", Channels: map[string]string{"pager": "5m"}}, "unknown channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate(now)
			if tt.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.bad) {
				t.Fatalf("err = %v, want %q", err, tt.bad)
			}
		})
	}
	in := PublishInput{UserID: "u", Priority: 4}
	defaults, _ := ParseChannelDefaults(DefaultChannelDefaults)
	if got := in.Plan(&defaults).String(); got != "push=1m0s,email=15m0s,webhook=5m0s" {
		t.Fatalf("default plan of priority 4 = %s", got)
	}
}
