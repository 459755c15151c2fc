package client_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/tocsin/tocsin/client"
)

// TestPushEndpoints: the client's Web Push methods against the real server.
func TestPushEndpoints(t *testing.T) {
	s := start(t, freeAddr(t), t.TempDir())
	defer s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	anon := client.New(s.URL)
	user := client.New(s.URL, client.WithToken(token(t, "p1")))

	key, err := anon.PushPublicKey(ctx)
	if err != nil || len(key) != 87 || key[0] != 'B' {
		t.Fatalf("PushPublicKey = %q, %v; want a base64url uncompressed P-256 point", key, err)
	}
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	in := client.PushSubscriptionInput{Endpoint: "https://push.example.com/send/p1", DeviceID: "tablet",
		Keys: client.PushSubscriptionKeys{P256dh: base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()),
			Auth: base64.RawURLEncoding.EncodeToString(auth)}}
	insecure := in
	insecure.Endpoint = "http://push.example.com/send/p1"
	var ce *client.Error
	if _, err := user.SubscribePush(ctx, insecure); !errors.As(err, &ce) || ce.Status != 400 {
		t.Fatalf("http endpoint without --push-allow-insecure: %v, want 400", err)
	}
	id, err := user.SubscribePush(ctx, in)
	if err != nil || id == "" {
		t.Fatalf("SubscribePush = %q, %v", id, err)
	}
	subs, err := user.PushSubscriptions(ctx)
	if err != nil || len(subs) != 1 || subs[0].ID != id || subs[0].DeviceID != "tablet" || subs[0].Endpoint != in.Endpoint || subs[0].CreatedAt.IsZero() {
		t.Fatalf("PushSubscriptions = %+v, %v", subs, err)
	}
	if err := user.UnsubscribePush(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := user.UnsubscribePush(ctx, id); !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("UnsubscribePush again: %v, want 404", err)
	}
}
