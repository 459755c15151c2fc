package storetest

import (
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// The credential records a store keeps: stream tickets, stream and hook tokens,
// API keys.

func testTickets(t *testing.T, s tocsin.Store) {
	now := time.Now()
	if err := s.PutTicket(ctx, tocsin.Ticket{Hash: "h-ok", UserID: "t1", ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTicket(ctx, tocsin.Ticket{Hash: "h-old", UserID: "t1", ExpiresAt: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if u, err := s.RedeemTicket(ctx, "h-ok", now); err != nil || u != "t1" {
		t.Fatalf("RedeemTicket = %q, %v", u, err)
	}
	_, err := s.RedeemTicket(ctx, "h-ok", now)
	wantCode(t, err, tocsin.EUnauthorized) // single use
	_, err = s.RedeemTicket(ctx, "h-old", now.Add(time.Minute))
	wantCode(t, err, tocsin.EUnauthorized) // expired
	_, err = s.RedeemTicket(ctx, "h-never", now)
	wantCode(t, err, tocsin.EUnauthorized)
}

func testTokens(t *testing.T, s tocsin.Store) {
	a := tocsin.StreamToken{ID: "tok_a", Hash: "ha", Stream: "topic:x", Scope: tocsin.ScopeSubscribe, CreatedAt: base}
	b := tocsin.StreamToken{ID: "tok_b", Hash: "hb", Stream: "user:1", Scope: tocsin.ScopePublish, CreatedAt: base.Add(time.Second)}
	for _, tok := range []tocsin.StreamToken{a, b} {
		if err := s.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Token(ctx, "ha")
	if err != nil || got.ID != "tok_a" || got.Stream != "topic:x" || got.Scope != tocsin.ScopeSubscribe || got.RevokedAt != nil {
		t.Fatalf("Token = %+v, %v", got, err)
	}
	_, err = s.Token(ctx, "nope")
	wantCode(t, err, tocsin.ENotFound)
	all, err := s.Tokens(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "tok_b" {
		t.Fatalf("Tokens = %+v, %v; want newest first", all, err)
	}
	r, err := s.RevokeToken(ctx, "tok_a", base.Add(time.Minute))
	if err != nil || r.RevokedAt == nil {
		t.Fatalf("RevokeToken by id: %+v %v", r, err)
	}
	r2, err := s.RevokeToken(ctx, "ha", base.Add(time.Hour))
	if err != nil || !r2.RevokedAt.Equal(*r.RevokedAt) {
		t.Fatalf("revoking twice moved the time: %+v %v", r2, err)
	}
	if got, _ := s.Token(ctx, "ha"); got.RevokedAt == nil {
		t.Fatal("revocation not stored")
	}
	_, err = s.RevokeToken(ctx, "tok_none", base)
	wantCode(t, err, tocsin.ENotFound)
}

func testAPIKeys(t *testing.T, s tocsin.Store) {
	k := tocsin.APIKeyRecord{ID: "key_1", Hash: "hk1", Name: "ci", CreatedAt: base}
	if err := s.PutAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAPIKey(ctx, tocsin.APIKeyRecord{ID: "key_2", Hash: "hk2", CreatedAt: base.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.APIKey(ctx, "hk1")
	if err != nil || got.ID != "key_1" || got.Name != "ci" || got.RevokedAt != nil {
		t.Fatalf("APIKey = %+v, %v", got, err)
	}
	_, err = s.APIKey(ctx, "nope")
	wantCode(t, err, tocsin.ENotFound)
	if all, err := s.APIKeys(ctx); err != nil || len(all) != 2 || all[0].ID != "key_2" {
		t.Fatalf("APIKeys = %+v, %v", all, err)
	}
	if r, err := s.RevokeAPIKey(ctx, "key_1", base.Add(time.Minute)); err != nil || r.RevokedAt == nil {
		t.Fatalf("RevokeAPIKey: %+v %v", r, err)
	}
	if got, _ := s.APIKey(ctx, "hk1"); got.RevokedAt == nil {
		t.Fatal("revocation not stored")
	}
	_, err = s.RevokeAPIKey(ctx, "key_none", base)
	wantCode(t, err, tocsin.ENotFound)
}
