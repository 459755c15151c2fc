package config

import (
	"flag"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/webpush"
)

// Channels configures the delivery engine and its channels (PRODUCT.md §8):
// escalation defaults, email over SMTP, outbound webhooks.
type Channels struct {
	// ChannelDefaults is the plan of a notification published without "channels",
	// by priority (tocsin.ParseChannelDefaults).
	ChannelDefaults string
	// SMTPURL is smtp://user:pass@host:port (STARTTLS) or smtps://... (implicit
	// TLS); "" turns email off.
	SMTPURL   string
	EmailFrom string
	// EmailDigest collects a user's email escalations within this window into one
	// email; 0 sends each at once.
	EmailDigest time.Duration
	Templates   string // directory of email template overrides
	PublicURL   string // base of links in emails; "" is http:// + --addr
	// UnsubscribeSecret keys the one-click unsubscribe links; "" generates one
	// into the data dir (set the same value on every node of a cluster).
	UnsubscribeSecret string

	WebhookAllowPrivate bool          // let webhooks reach loopback and private addresses
	WebhookTimeout      time.Duration // one webhook request, connect to last byte

	DeliveryPoll time.Duration // how often due timers are looked for
	// DeliveryLease is how long a node's claim on a due job lasts: after a node is
	// lost, another takes its jobs over once their leases end. The default suits
	// production; tests shorten it to see a takeover in seconds.
	DeliveryLease   time.Duration
	DeliveryWorkers int // concurrent sends of one node

	// VAPIDPrivateKey is the Web Push signing key (webpush.ParseVAPIDPrivateKey: the
	// base64url P-256 scalar); "" generates one into <data-dir>/vapid-private-key.
	// Every node of a cluster needs the same key: subscriptions are bound to it.
	VAPIDPrivateKey string
	// VAPIDSubject is the contact push services see (mailto: or https:); ""
	// derives one (App logs which, with a warning).
	VAPIDSubject string
	// PushAllowInsecure accepts http: and loopback or private push endpoints
	// (tests and development).
	PushAllowInsecure bool
}

func defaultChannels() Channels {
	return Channels{
		ChannelDefaults: tocsin.DefaultChannelDefaults,
		EmailDigest:     10 * time.Minute,
		WebhookTimeout:  10 * time.Second,
		DeliveryPoll:    500 * time.Millisecond,
		DeliveryLease:   time.Minute,
		DeliveryWorkers: 32,
	}
}

// channelFlags are the flags of Channels, in --help's order.
var channelFlags = []string{"channel-defaults", "smtp-url", "email-from", "email-digest", "templates", "public-url", "unsubscribe-secret", "webhook-allow-private", "webhook-timeout", "delivery-poll", "delivery-lease", "delivery-workers", "vapid-private-key", "vapid-subject", "push-allow-insecure"}

func (c *Channels) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ChannelDefaults, "channel-defaults", c.ChannelDefaults, "channels of a notification published without \"channels\", by priority: groups `PRIORITIES:CHANNEL=DELAY,...` separated by ;, PRIORITIES one (4), a range (1-3) or *; DELAY a duration or off")
	fs.StringVar(&c.SMTPURL, "smtp-url", c.SMTPURL, "send email through this server: smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465 (implicit TLS); empty: no email")
	fs.StringVar(&c.EmailFrom, "email-from", c.EmailFrom, "the From of emails, e.g. \"Acme <notify@acme.example>\" (required with --smtp-url)")
	fs.DurationVar(&c.EmailDigest, "email-digest", c.EmailDigest, "collect a user's email escalations within this window into one digest email; 0 sends each at once")
	fs.StringVar(&c.Templates, "templates", c.Templates, "`directory` of email template overrides: <type>.html/.txt, digest.html/.txt, default.html/.txt")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "the server's public base URL, for links in emails (default http:// + --addr)")
	fs.StringVar(&c.UnsubscribeSecret, "unsubscribe-secret", c.UnsubscribeSecret, "key of one-click unsubscribe links (at least 32 bytes); default: derived from an HS256 --jwt-secret (shared by a cluster already), else generated into the data dir")
	fs.BoolVar(&c.WebhookAllowPrivate, "webhook-allow-private", c.WebhookAllowPrivate, "let webhook endpoints be loopback or private addresses (development and tests only)")
	fs.DurationVar(&c.WebhookTimeout, "webhook-timeout", c.WebhookTimeout, "time limit of one webhook request, connect to last byte")
	fs.DurationVar(&c.DeliveryPoll, "delivery-poll", c.DeliveryPoll, "how often a node looks for due timers (schedules, escalations, retries); at most 1s keeps deliverAt within a second")
	fs.DurationVar(&c.DeliveryLease, "delivery-lease", c.DeliveryLease, "how long a node's claim on a due job lasts: a lost node's jobs are taken over by another this long after it claimed them; a send must finish within it")
	fs.IntVar(&c.DeliveryWorkers, "delivery-workers", c.DeliveryWorkers, "concurrent channel sends of one node (a slow endpoint holds one)")
	fs.StringVar(&c.VAPIDPrivateKey, "vapid-private-key", c.VAPIDPrivateKey, "Web Push VAPID private key: the base64url P-256 scalar (`KEY`); default: generated into <data-dir>/vapid-private-key (a cluster must set the same key on every node)")
	fs.StringVar(&c.VAPIDSubject, "vapid-subject", c.VAPIDSubject, "Web Push contact for push services: mailto:ops@example.com or an https: URL; default: --public-url when https, else mailto: of --email-from, else mailto:postmaster@localhost (with a warning)")
	fs.BoolVar(&c.PushAllowInsecure, "push-allow-insecure", c.PushAllowInsecure, "accept http: and loopback or private push endpoints (development and tests only)")
}

func (c *Channels) validate(bad func(flag, format string, args ...any)) {
	if _, err := tocsin.ParseChannelDefaults(c.ChannelDefaults); err != nil {
		bad("channel-defaults", "%v", err)
	}
	if c.SMTPURL != "" {
		u, err := url.Parse(c.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			bad("smtp-url", "want smtp://user:pass@host:port or smtps://user:pass@host:port")
		}
		if c.EmailFrom == "" {
			bad("email-from", "is required with --smtp-url, e.g. \"Acme <notify@acme.example>\"")
		}
	}
	if c.EmailDigest < 0 || c.EmailDigest > 24*time.Hour {
		bad("email-digest", "must be between 0 (each at once) and 24h")
	}
	if p := c.PublicURL; p != "" {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("public-url", "want a base URL such as https://notify.example.com")
		}
	}
	if s := c.UnsubscribeSecret; s != "" && len(s) < 32 {
		bad("unsubscribe-secret", "must be at least 32 bytes")
	}
	if c.WebhookTimeout <= 0 || c.WebhookTimeout > 5*time.Minute {
		bad("webhook-timeout", "must be between 1ms and 5m")
	}
	if c.DeliveryPoll <= 0 || c.DeliveryPoll > time.Minute {
		bad("delivery-poll", "must be between 1ms and 1m")
	}
	if c.DeliveryLease < time.Second || c.DeliveryLease > time.Hour {
		bad("delivery-lease", "must be between 1s and 1h")
	}
	if c.DeliveryWorkers < 1 || c.DeliveryWorkers > 1024 {
		bad("delivery-workers", "must be 1 to 1024")
	}
	if c.VAPIDPrivateKey != "" {
		if _, err := webpush.ParseVAPIDPrivateKey(c.VAPIDPrivateKey); err != nil {
			bad("vapid-private-key", "%v", err)
		}
	}
	if c.VAPIDSubject != "" {
		if err := webpush.CheckSubject(c.VAPIDSubject); err != nil {
			bad("vapid-subject", "%v", err)
		}
	}
}

// PushSubject is --vapid-subject, or else one derived from the other flags and
// whether it was (so the caller can warn that push services may throttle a
// server whose contact is not real): --public-url when it is https (the
// operator's site), the address of --email-from, or mailto:postmaster@localhost.
func (c *Config) PushSubject() (subject string, derived bool) {
	if c.VAPIDSubject != "" {
		return c.VAPIDSubject, false
	}
	if u, err := url.Parse(c.PublicURL); err == nil && u.Scheme == "https" && u.Host != "" {
		return "https://" + u.Host, true
	}
	if a, err := mail.ParseAddress(c.EmailFrom); err == nil && webpush.CheckSubject("mailto:"+a.Address) == nil {
		return "mailto:" + a.Address, true
	}
	return "mailto:postmaster@localhost", true
}

// PublicBase is --public-url, or http:// + --addr, without a trailing slash.
func (c *Config) PublicBase() string {
	if c.PublicURL != "" {
		return strings.TrimSuffix(c.PublicURL, "/") // the proxy's base path is in it
	}
	return "http://" + c.Addr + c.BasePath
}
