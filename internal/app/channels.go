package app

import (
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/delivery"
	"github.com/tocsin/tocsin/email"
	"github.com/tocsin/tocsin/internal/outbound"
	"github.com/tocsin/tocsin/internal/readticket"
	"github.com/tocsin/tocsin/metrics"
	"github.com/tocsin/tocsin/webhook"
	"github.com/tocsin/tocsin/webpush"
)

// newEngine builds the delivery engine and its channels from the configuration:
// email when --smtp-url is set, webhooks through the one guarded outbound client.
// Its hub is set later (the hub's Committed hook and the engine need each other).
func (a *App) newEngine(m *metrics.Metrics, pub delivery.Publisher) (*delivery.Engine, httpUnsubscribe, error) {
	defaults, err := tocsin.ParseChannelDefaults(a.cfg.ChannelDefaults)
	if err != nil {
		return nil, nil, fmt.Errorf("--channel-defaults: %w", err)
	}
	client := outbound.New(outbound.Config{
		AllowPrivate: a.cfg.WebhookAllowPrivate, Timeout: a.cfg.WebhookTimeout,
		UserAgent: "tocsin/" + Version,
	})
	dc := delivery.Config{
		Store: a.store, Hub: pub, Defaults: defaults,
		Webhooks: webhook.NewSender(client, a.log),
		CheckURL: func(raw string) error {
			err := client.CheckURL(raw)
			if errors.Is(err, outbound.ErrForbiddenAddress) {
				return fmt.Errorf("%w (loopback and private addresses are refused; for development or one private network, start the server with --webhook-allow-private)", err)
			}
			return err
		},
		NewSecret: webhook.NewSecret,
		Digest:    a.cfg.EmailDigest, Poll: a.cfg.DeliveryPoll, Lease: a.cfg.DeliveryLease, Workers: a.cfg.DeliveryWorkers,
		Retention: a.cfg.Retention,
		Observer:  m.NewDelivery(), Logger: a.log, Now: a.now,
	}
	push, err := a.newPushSender()
	if err != nil {
		return nil, nil, err
	}
	dc.Push = push
	a.push = push
	// Read tickets of pushed notifications: keyed like the unsubscribe links (the
	// same on every node of a cluster), under a label of their own.
	base, err := a.unsubscribeKey()
	if err != nil {
		return nil, nil, err
	}
	readKey, err := readticket.Key(base)
	if err != nil {
		return nil, nil, err
	}
	dc.ReadTicket = func(userID, id string) string {
		return readticket.Mint(readKey, userID, id, a.now().Add(readticket.TTL))
	}
	a.pushRead = func(ticket, id string) (string, error) { return readticket.Verify(readKey, ticket, id, a.now()) }
	var unsub httpUnsubscribe
	if a.cfg.SMTPURL != "" {
		key, err := a.unsubscribeKey()
		if err != nil {
			return nil, nil, err
		}
		mailer, err := email.New(email.Config{
			URL: a.cfg.SMTPURL, From: a.cfg.EmailFrom, Templates: a.cfg.Templates,
			PublicURL: a.cfg.PublicBase(), UnsubscribeKey: key, Logger: a.log,
		})
		if err != nil {
			return nil, nil, err
		}
		dc.Email = mailer
		unsub = func(token string) (string, string, error) { return email.VerifyUnsubscribe(key, token) }
		a.log.Info("email channel on", "smtp", email.RedactURL(a.cfg.SMTPURL), "digest", a.cfg.EmailDigest)
	}
	return delivery.New(dc), unsub, nil
}

// newPushSender builds the Web Push sender: the VAPID key from --vapid-private-key
// or the data dir (generated on first start, kept: every browser subscription is
// bound to it), the subject, and its own outbound client, whose AllowPrivate is
// --push-allow-insecure (webhooks have their own switch).
func (a *App) newPushSender() (*webpush.Sender, error) {
	var key *ecdsa.PrivateKey
	if s := a.cfg.VAPIDPrivateKey; s != "" {
		k, err := webpush.ParseVAPIDPrivateKey(s)
		if err != nil {
			return nil, fmt.Errorf("--vapid-private-key: %w", err)
		}
		key = k
	} else {
		path := SecretPath(a.cfg.DataDir, "vapid-private-key")
		k, created, err := webpush.LoadOrCreateVAPIDKey(path)
		if err != nil {
			return nil, err
		}
		if created {
			a.log.Info("generated a Web Push VAPID key; a cluster must give every node the same key (--vapid-private-key)", "file", path)
		}
		key = k
	}
	subject, derived := a.cfg.PushSubject()
	if derived {
		a.log.Warn("--vapid-subject is not set: push services are given a derived contact, and may throttle or refuse a server they cannot reach; set --vapid-subject mailto:you@example.com", "subject", subject)
	}
	client := outbound.New(outbound.Config{
		AllowPrivate: a.cfg.PushAllowInsecure, Timeout: a.cfg.WebhookTimeout,
		UserAgent: "tocsin/" + Version,
	})
	if a.cfg.PushAllowInsecure {
		a.log.Warn("--push-allow-insecure: push endpoints may be http: and loopback or private addresses; development and tests only")
	}
	return webpush.NewSender(client, key, subject, a.cfg.PushAllowInsecure)
}

type httpUnsubscribe = func(token string) (userID, typ string, err error)

// unsubscribeKey keys one-click unsubscribe links. It must be the same on every
// node and across restarts, or links in sent emails stop working: --unsubscribe-
// secret when given; else derived from the HS256 JWT secret (which every node of a
// cluster shares already) with HKDF, so a cluster needs nothing more; else a
// secret generated into the data dir (a single node with an RS256/ES256 key).
func (a *App) unsubscribeKey() ([]byte, error) {
	if s := a.cfg.UnsubscribeSecret; s != "" {
		return []byte(s), nil
	}
	if s := a.cfg.JWTSecret; s != "" {
		return hkdf.Key(sha256.New, []byte(s), nil, "tocsin unsubscribe links v1", 32)
	}
	v, _, err := a.secretFile(a.cfg.DataDir, "unsubscribe-key", "")
	return []byte(v), err
}
