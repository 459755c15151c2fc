package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

func pushSub(id, user, endpoint string, at time.Time) tocsin.PushSubscription {
	return tocsin.PushSubscription{ID: id, UserID: user, DeviceID: "dev-" + id, Endpoint: endpoint,
		P256dh: "p256dh-" + id, Auth: "auth-" + id, CreatedAt: at}
}

func putPush(t *testing.T, s tocsin.Store, p tocsin.PushSubscription) tocsin.PushSubscription {
	t.Helper()
	got, err := s.PutPushSubscription(ctx, p)
	if err != nil {
		t.Fatalf("PutPushSubscription(%s): %v", p.ID, err)
	}
	return got
}

func wantPushes(t *testing.T, s tocsin.Store, user string, want ...tocsin.PushSubscription) {
	t.Helper()
	got, err := s.PushSubscriptions(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if want == nil {
		want = []tocsin.PushSubscription{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PushSubscriptions(%s) = %+v\nwant %+v", user, got, want)
	}
}

// testPushRoundTrip: a subscription reads back exactly as stored, oldest first,
// and a bad one is EInvalid.
func testPushRoundTrip(t *testing.T, s tocsin.Store) {
	wantPushes(t, s, "alice")
	wantAnyPush(t, s, false)
	b := pushSub("ps_b", "alice", "https://push.example.com/b", base.Add(time.Second))
	a := pushSub("ps_a", "alice", "https://push.example.com/a", base)
	if got := putPush(t, s, b); !reflect.DeepEqual(got, b) {
		t.Fatalf("Put returned %+v, want %+v", got, b)
	}
	putPush(t, s, a)
	wantPushes(t, s, "alice", a, b)
	wantAnyPush(t, s, true)
	for _, bad := range []tocsin.PushSubscription{
		{UserID: "alice", Endpoint: "https://x", P256dh: "k", Auth: "a"},
		{ID: "ps_x", Endpoint: "https://x", P256dh: "k", Auth: "a"},
		{ID: "ps_x", UserID: "alice", P256dh: "k", Auth: "a"},
		{ID: "ps_x", UserID: "alice", Endpoint: "https://x"},
	} {
		_, err := s.PutPushSubscription(ctx, bad)
		wantCode(t, err, tocsin.EInvalid)
	}
	wantPushes(t, s, "alice", a, b)
}

func wantAnyPush(t *testing.T, s tocsin.Store, want bool) {
	t.Helper()
	if got, err := s.AnyPushSubscriptions(ctx); err != nil || got != want {
		t.Fatalf("AnyPushSubscriptions = %v, %v; want %v", got, err, want)
	}
}

// testPushEndpointMoves: storing an endpoint already stored, for another user,
// moves that row (same id) with the new keys; the first user no longer has it.
func testPushEndpointMoves(t *testing.T, s tocsin.Store) {
	first := putPush(t, s, pushSub("ps_1", "alice", "https://push.example.com/e", base))
	moved := pushSub("ps_2", "bob", "https://push.example.com/e", base.Add(time.Minute))
	got := putPush(t, s, moved)
	if got.ID != first.ID {
		t.Fatalf("moved endpoint got id %q, want the kept %q", got.ID, first.ID)
	}
	moved.ID = first.ID
	if !reflect.DeepEqual(got, moved) {
		t.Fatalf("moved = %+v, want %+v", got, moved)
	}
	wantPushes(t, s, "alice")
	wantPushes(t, s, "bob", moved)
	// The same user storing it again (new keys) keeps the id too.
	again := pushSub("ps_3", "bob", "https://push.example.com/e", base.Add(2*time.Minute))
	if got := putPush(t, s, again); got.ID != first.ID || got.P256dh != again.P256dh {
		t.Fatalf("re-subscribed = %+v, want id %s and the new keys", got, first.ID)
	}
}

// testPushIsolation: a user lists and deletes only their own subscriptions.
func testPushIsolation(t *testing.T, s tocsin.Store) {
	a := putPush(t, s, pushSub("ps_a", "alice", "https://push.example.com/a", base))
	b := putPush(t, s, pushSub("ps_b", "bob", "https://push.example.com/b", base))
	wantPushes(t, s, "alice", a)
	wantPushes(t, s, "bob", b)
	wantCode(t, s.DeletePushSubscription(ctx, "alice", b.ID), tocsin.ENotFound)
	wantPushes(t, s, "bob", b)
	if err := s.DeletePushSubscription(ctx, "alice", a.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeletePushSubscription(ctx, "alice", a.ID), tocsin.ENotFound)
	wantPushes(t, s, "alice")
	wantPushes(t, s, "bob", b)
	if err := s.DeletePushSubscription(ctx, "bob", b.ID); err != nil {
		t.Fatal(err)
	}
	wantAnyPush(t, s, false)
}

// testPushCap: past MaxPushSubscriptions the user's oldest go; other users' stay.
func testPushCap(t *testing.T, s tocsin.Store) {
	other := putPush(t, s, pushSub("ps_other", "bob", "https://push.example.com/bob", base.Add(-time.Hour)))
	var all []tocsin.PushSubscription
	for i := range tocsin.MaxPushSubscriptions + 2 {
		p := pushSub(fmt.Sprintf("ps_%02d", i), "alice", fmt.Sprintf("https://push.example.com/%d", i),
			base.Add(time.Duration(i)*time.Second))
		all = append(all, putPush(t, s, p))
	}
	wantPushes(t, s, "alice", all[2:]...)
	wantPushes(t, s, "bob", other)
}
