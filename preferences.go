package tocsin

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	// The timezone database in the binary: quiet hours and profiles name IANA zones,
	// and a static binary on a minimal host may have none in /usr/share/zoneinfo.
	_ "time/tzdata"
)

// The channels that carry a notification beyond the inbox and the live stream
// (PRODUCT.md §8).
const (
	ChannelPush    = "push"
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// ChannelNames lists the channels in the order the delivery log shows them.
var ChannelNames = [...]string{ChannelPush, ChannelEmail, ChannelWebhook}

// ValidChannel reports whether name is one of ChannelNames.
func ValidChannel(name string) bool {
	for _, c := range ChannelNames {
		if c == name {
			return true
		}
	}
	return false
}

// Limits of profiles and preferences: what one user's settings may hold.
const (
	MaxEmailLen       = 254 // RFC 5321's path limit
	MaxLocaleLen      = 35  // BCP 47's recommended maximum
	MaxPreferenceKeys = 200 // entries of "types" and of "topics" each
)

// Profile is what the channels know of a user: where to email, the timezone quiet
// hours and emails are read in, the locale templates may use. PUT /api/users/{id}.
type Profile struct {
	UserID    string    `json:"userId"`
	Email     string    `json:"email"`
	Timezone  string    `json:"timezone"` // IANA, e.g. Europe/Berlin; "" is UTC
	Locale    string    `json:"locale"`   // BCP 47, e.g. de-DE; "" is the server's
	UpdatedAt time.Time `json:"updatedAt"`
}

// Validate checks p's fields (an unknown timezone, a malformed address: EInvalid).
func (p *Profile) Validate() error {
	if p.Email != "" {
		if len(p.Email) > MaxEmailLen {
			return Errorf(EInvalid, "email is longer than %d bytes", MaxEmailLen)
		}
		a, err := mail.ParseAddress(p.Email)
		if err != nil || a.Name != "" || a.Address != p.Email {
			return Errorf(EInvalid, "email must be a plain address such as ana@example.com")
		}
	}
	if _, err := LoadTimezone(p.Timezone); err != nil {
		return err
	}
	if p.Locale != "" && !validLocale(p.Locale) {
		return Errorf(EInvalid, "locale must be a BCP 47 tag such as en or de-DE")
	}
	return nil
}

// Location is the profile's timezone (UTC when unset or unknown).
func (p *Profile) Location() *time.Location {
	loc, err := LoadTimezone(p.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// LoadTimezone resolves an IANA timezone name; "" is UTC. The binary embeds the
// timezone database (time/tzdata), so this does not depend on the host's.
func LoadTimezone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if len(name) > 64 || strings.ContainsAny(name, "\x00\\") || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, Errorf(EInvalid, "timezone %q is not an IANA timezone such as Europe/Berlin", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, Errorf(EInvalid, "timezone %q is not an IANA timezone such as Europe/Berlin", name)
	}
	return loc, nil
}

func validLocale(s string) bool {
	if len(s) > MaxLocaleLen {
		return false
	}
	for _, part := range strings.Split(s, "-") {
		if part == "" || len(part) > 8 {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

// ChannelSwitches turns channels on or off; a channel it does not name is left as
// the wider setting has it.
type ChannelSwitches map[string]bool

// QuietHours is a daily window, in a timezone, during which channels wait (except for
// priority 5): Start "22:00" to End "07:00" wraps midnight.
type QuietHours struct {
	Start    string `json:"start"`              // "HH:MM", 24-hour
	End      string `json:"end"`                // "HH:MM"; not equal to Start
	Timezone string `json:"timezone,omitempty"` // IANA; "" is the profile's timezone
}

// Preferences are a user's rules for the channels (PRODUCT.md §8). The zero value
// (no settings) lets every channel through at any time.
type Preferences struct {
	Channels   ChannelSwitches            `json:"channels"`
	Types      map[string]ChannelSwitches `json:"types"`
	Topics     map[string]ChannelSwitches `json:"topics"`
	MutedUntil *time.Time                 `json:"mutedUntil"`
	QuietHours *QuietHours                `json:"quietHours"`
	UpdatedAt  time.Time                  `json:"updatedAt"`
}

// Normalize makes p's maps non-nil, so that its JSON always has every key.
func (p *Preferences) Normalize() {
	if p.Channels == nil {
		p.Channels = ChannelSwitches{}
	}
	if p.Types == nil {
		p.Types = map[string]ChannelSwitches{}
	}
	if p.Topics == nil {
		p.Topics = map[string]ChannelSwitches{}
	}
	if p.MutedUntil != nil {
		t := p.MutedUntil.UTC().Truncate(time.Millisecond)
		p.MutedUntil = &t
	}
}

// Validate checks p: known channels only, type and topic names as the API allows
// them, at most MaxPreferenceKeys of each, well-formed quiet hours in a known
// timezone. Errors are EInvalid and name the field.
func (p *Preferences) Validate() error {
	if err := validSwitches("channels", p.Channels); err != nil {
		return err
	}
	for field, m := range map[string]map[string]ChannelSwitches{"types": p.Types, "topics": p.Topics} {
		if len(m) > MaxPreferenceKeys {
			return Errorf(EInvalid, "%s holds %d entries; at most %d are allowed", field, len(m), MaxPreferenceKeys)
		}
		for name, sw := range m {
			if !ValidName(name) {
				return Errorf(EInvalid, "%s: %q must match [A-Za-z0-9_.:-]{1,64}", field, name)
			}
			if err := validSwitches(field+"."+name, sw); err != nil {
				return err
			}
		}
	}
	if q := p.QuietHours; q != nil {
		if _, _, err := q.parse(); err != nil {
			return err
		}
		if _, err := LoadTimezone(q.Timezone); err != nil {
			return Errorf(EInvalid, "quietHours.timezone: %s", ErrorMessageOf(err))
		}
	}
	return nil
}

func validSwitches(field string, sw ChannelSwitches) error {
	for c := range sw {
		if !ValidChannel(c) {
			return Errorf(EInvalid, "%s: unknown channel %q (channels are push, email, webhook)", field, c)
		}
	}
	return nil
}

// parse returns the window's start and end as minutes after midnight.
func (q *QuietHours) parse() (start, end int, err error) {
	start, ok1 := parseClock(q.Start)
	end, ok2 := parseClock(q.End)
	if !ok1 || !ok2 {
		return 0, 0, Errorf(EInvalid, "quietHours.start and quietHours.end must be times such as 22:00 and 07:00")
	}
	if start == end {
		return 0, 0, Errorf(EInvalid, "quietHours.start and quietHours.end must differ")
	}
	return start, end, nil
}

func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	d := func(c byte) int { return int(c - '0') }
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h, m := d(s[0])*10+d(s[1]), d(s[3])*10+d(s[4])
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// Until reports whether now falls in the quiet hours and, if so, when they end: the
// next wall-clock End in the window's timezone (fallback when the window names none),
// so a window across a daylight-saving change ends at the local time the user set.
func (q *QuietHours) Until(now time.Time, fallback *time.Location) (end time.Time, quiet bool) {
	start, stop, err := q.parse()
	if err != nil {
		return time.Time{}, false
	}
	loc := fallback
	if q.Timezone != "" {
		if l, err := LoadTimezone(q.Timezone); err == nil {
			loc = l
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	min := local.Hour()*60 + local.Minute()
	if start < stop {
		quiet = min >= start && min < stop
	} else {
		quiet = min >= start || min < stop
	}
	if !quiet {
		return time.Time{}, false
	}
	y, mo, d := local.Date()
	end = time.Date(y, mo, d, stop/60, stop%60, 0, 0, loc)
	if !end.After(now) {
		end = time.Date(y, mo, d+1, stop/60, stop%60, 0, 0, loc)
	}
	return end.UTC(), true
}

// Reasons the delivery log gives for a channel it skipped or deferred.
const (
	ReasonMuted      = "muted"                  // mutedUntil is in the future
	ReasonPreference = "preference"             // the channel is off (globally, for the type or the topic)
	ReasonQuietHours = "quiet hours"            // deferred to the end of the quiet hours
	ReasonSeen       = "seen"                   // seen before the channel's delay ran out
	ReasonRead       = "read"                   // read before the channel's delay ran out
	ReasonArchived   = "archived"               // archived before the channel's delay ran out
	ReasonDeleted    = "deleted"                // deleted (or expired) before the delay ran out
	ReasonNoAddress  = "no email address"       // the user's profile has no email
	ReasonNoEndpoint = "no webhook endpoint"    // no endpoint subscribes to notification.deliver
	ReasonNoChannel  = "channel not configured" // e.g. email without --smtp-url
)

// Allows reports whether channel may carry a notification of type typ (published to
// topic, "" for a user's own) under p at now, and if not, why (ReasonMuted or
// ReasonPreference with what was off). A channel is off when any setting that
// applies turns it off: the channel's own switch, the type's, the topic's. Quiet
// hours are not checked here: they defer, they do not skip (see QuietHours.Until).
func (p *Preferences) Allows(channel, typ, topic string, now time.Time) (ok bool, reason string) {
	if p.MutedUntil != nil && now.Before(*p.MutedUntil) {
		return false, ReasonMuted
	}
	if on, set := p.Channels[channel]; set && !on {
		return false, ReasonPreference + ": " + channel + " off"
	}
	if on, set := p.Types[typ][channel]; set && !on {
		return false, ReasonPreference + ": " + channel + " off for type " + typ
	}
	if topic != "" {
		if on, set := p.Topics[topic][channel]; set && !on {
			return false, ReasonPreference + ": " + channel + " off for topic " + topic
		}
	}
	return true, ""
}

// ChannelDelay is one channel of a plan: off, or sent after Delay unless the
// notification is seen, read, archived or deleted by then.
type ChannelDelay struct {
	Off   bool
	Delay time.Duration
}

// ChannelPlan is how one notification reaches its user beyond the inbox: a delay
// (or off) per channel. A channel the plan does not name is off.
type ChannelPlan map[string]ChannelDelay

// MaxChannelDelay is the longest escalation delay a plan may ask for.
const MaxChannelDelay = 30 * 24 * time.Hour

// ParseChannelPlan reads a publish's "channels": {"push": "0s", "email": "15m",
// "webhook": "off"}. Delays are Go durations from 0s to 30 days.
func ParseChannelPlan(raw map[string]string) (ChannelPlan, error) {
	plan := make(ChannelPlan, len(raw))
	for c, v := range raw {
		if !ValidChannel(c) {
			return nil, Errorf(EInvalid, "channels: unknown channel %q (channels are push, email, webhook)", c)
		}
		d, err := parseChannelDelay(v)
		if err != nil {
			return nil, Errorf(EInvalid, "channels.%s: %s", c, err)
		}
		plan[c] = d
	}
	return plan, nil
}

func parseChannelDelay(v string) (ChannelDelay, error) {
	if v == "off" {
		return ChannelDelay{Off: true}, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > MaxChannelDelay || !utf8.ValidString(v) {
		return ChannelDelay{}, fmt.Errorf("%q must be \"off\" or a delay from 0s to 720h such as 15m", v)
	}
	return ChannelDelay{Delay: d}, nil
}

// String renders the plan as the channels object's values, channels in order.
func (p ChannelPlan) String() string {
	var parts []string
	for _, c := range ChannelNames {
		d, ok := p[c]
		switch {
		case !ok:
			continue
		case d.Off:
			parts = append(parts, c+"=off")
		default:
			parts = append(parts, c+"="+d.Delay.String())
		}
	}
	return strings.Join(parts, ",")
}

// ChannelDefaults are the plans of notifications published without "channels", by
// priority (index 1..5; index 0 unused): --channel-defaults.
type ChannelDefaults [6]ChannelPlan

// DefaultChannelDefaults is --channel-defaults' default: nothing below priority 3;
// push after 5 minutes and email after an hour unseen at 3; push after a minute,
// email after 15 and the webhook after 5 at 4; everything at once at 5.
const DefaultChannelDefaults = "1-2:push=off,email=off,webhook=off;3:push=5m,email=1h,webhook=off;4:push=1m,email=15m,webhook=5m;5:push=0s,email=0s,webhook=0s"

// ParseChannelDefaults reads --channel-defaults: groups separated by ";", each
// "PRIORITIES:CHANNEL=DELAY,..." where PRIORITIES is one priority (4), a range (1-3)
// or "*" (every priority a later group does not set). Priorities no group names
// send nothing beyond the inbox.
func ParseChannelDefaults(s string) (ChannelDefaults, error) {
	var out ChannelDefaults
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	var star ChannelPlan
	set := [6]bool{}
	for _, group := range strings.Split(s, ";") {
		group = strings.TrimSpace(group)
		if group == "" {
			continue
		}
		prios, spec, ok := strings.Cut(group, ":")
		if !ok {
			return out, fmt.Errorf("channel defaults: %q is not PRIORITIES:CHANNEL=DELAY,... (e.g. 4:push=1m,email=15m)", group)
		}
		raw := map[string]string{}
		for _, kv := range strings.Split(spec, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				return out, fmt.Errorf("channel defaults: %q is not CHANNEL=DELAY", kv)
			}
			raw[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		plan, err := ParseChannelPlan(raw)
		if err != nil {
			return out, fmt.Errorf("channel defaults: %s", ErrorMessageOf(err))
		}
		lo, hi, err := parsePriorities(strings.TrimSpace(prios))
		if err != nil {
			return out, err
		}
		if lo == 0 {
			star = plan
			continue
		}
		for p := lo; p <= hi; p++ {
			if set[p] {
				return out, fmt.Errorf("channel defaults: priority %d is set twice", p)
			}
			set[p] = true
			out[p] = plan
		}
	}
	for p := 1; p <= 5; p++ {
		if !set[p] {
			out[p] = star
		}
	}
	return out, nil
}

func parsePriorities(s string) (lo, hi int, err error) {
	if s == "*" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	if len(a) != 1 || len(b) != 1 || a[0] < '1' || a[0] > '5' || b[0] < a[0] || b[0] > '5' {
		return 0, 0, fmt.Errorf("channel defaults: %q is not a priority (1-5), a range such as 1-3, or *", s)
	}
	return int(a[0] - '0'), int(b[0] - '0'), nil
}

// String renders d in ParseChannelDefaults' form.
func (d ChannelDefaults) String() string {
	var parts []string
	for p := 1; p <= 5; p++ {
		if len(d[p]) > 0 {
			parts = append(parts, fmt.Sprintf("%d:%s", p, d[p]))
		}
	}
	return strings.Join(parts, ";")
}
