package storetest

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
)

// The delivery engine's store (tocsin.DeliveryStore): jobs here, the delivery log,
// profiles and webhook endpoints in deliverylog.go.

// deliveryStore is s as the delivery engine's store; every store implements it.
func deliveryStore(t *testing.T, s tocsin.Store) tocsin.DeliveryStore {
	t.Helper()
	ds, ok := s.(tocsin.DeliveryStore)
	if !ok {
		t.Fatalf("%T does not implement tocsin.DeliveryStore", s)
	}
	return ds
}

// job is a channel job due at due, with every field set.
func job(id string, due time.Time, mod ...func(*tocsin.Job)) tocsin.Job {
	j := tocsin.Job{
		ID: id, Kind: tocsin.JobChannel, UserID: "u1", Ref: "n-" + id, Channel: tocsin.ChannelEmail,
		Target: "t1", DueAt: due, Payload: []byte(`{"job":"` + id + `"}`), CreatedAt: base,
	}
	for _, m := range mod {
		m(&j)
	}
	return j
}

func addJobs(t *testing.T, s tocsin.DeliveryStore, want int, jobs ...tocsin.Job) {
	t.Helper()
	n, err := s.AddJobs(ctx, jobs)
	if err != nil || n != want {
		t.Fatalf("AddJobs = %d, %v; want %d added", n, err, want)
	}
}

// claim claims at now for a minute and returns the ids claimed, in order.
func claim(t *testing.T, s tocsin.DeliveryStore, now time.Time, limit int) []tocsin.Job {
	t.Helper()
	jobs, err := s.ClaimJobs(ctx, now, time.Minute, limit)
	if err != nil {
		t.Fatalf("ClaimJobs: %v", err)
	}
	return jobs
}

func jobIDs(jobs []tocsin.Job) []string {
	ids := []string{}
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	return ids
}

func wantClaim(t *testing.T, s tocsin.DeliveryStore, now time.Time, want ...string) []tocsin.Job {
	t.Helper()
	jobs := claim(t, s, now, 100)
	if got := jobIDs(jobs); !reflect.DeepEqual(got, append([]string{}, want...)) {
		t.Fatalf("ClaimJobs at %s claimed %v, want %v", now.Sub(base), got, want)
	}
	return jobs
}

func finish(t *testing.T, s tocsin.DeliveryStore, id, state string) {
	t.Helper()
	if err := s.FinishJob(ctx, id, state, "note of "+id, 200, base); err != nil {
		t.Fatalf("FinishJob(%s): %v", id, err)
	}
}

// testJobsAdd: a job whose Key is stored, in any state, is not added again; "" is
// never a duplicate; a key repeated within one call is added once; a job keeps
// every field.
func testJobsAdd(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	addJobs(t, s, 3, job("a", base, func(j *tocsin.Job) { j.Key = "k1" }), job("b", base), job("c", base))
	addJobs(t, s, 1, job("a2", base, func(j *tocsin.Job) { j.Key = "k1" }), job("d", base))
	addJobs(t, s, 1, job("e", base, func(j *tocsin.Job) { j.Key = "k2" }), job("e2", base, func(j *tocsin.Job) { j.Key = "k2" }))
	finish(t, s, "a", tocsin.JobDone)
	addJobs(t, s, 0, job("a3", base, func(j *tocsin.Job) { j.Key = "k1" }))
	if n, err := s.AddJobs(ctx, nil); err != nil || n != 0 {
		t.Fatalf("AddJobs(nil) = %d, %v", n, err)
	}
	_, err := s.AddJobs(ctx, []tocsin.Job{{ID: "x", DueAt: base}})
	wantCode(t, err, tocsin.EInvalid)
	_, err = s.AddJobs(ctx, []tocsin.Job{{ID: "x", Kind: tocsin.JobDigest}})
	wantCode(t, err, tocsin.EInvalid)

	all, _, err := s.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobChannel, Limit: 100})
	if err != nil || len(all) != 5 {
		t.Fatalf("ListJobs = %v, %v; want the 5 added", jobIDs(all), err)
	}
	// Every field comes back as it was added (and a job without an id gets one).
	full := job("f", base.Add(-time.Second), func(j *tocsin.Job) {
		j.Kind, j.Key, j.OrderKey, j.Ord, j.Channel = tocsin.JobWebhook, "kf", "endpoint:u1", 7, ""
	})
	addJobs(t, s, 2, full, tocsin.Job{Kind: tocsin.JobDigest, UserID: "u9", DueAt: base.Add(time.Hour)})
	got := wantClaim(t, s, base, "f", "b", "c", "d", "e")[0]
	want := full
	want.State, want.Attempts = tocsin.JobPending, 1
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("claimed job\n %+v\nwant\n %+v", got, want)
	}
	digest, _, err := s.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobDigest})
	if err != nil || len(digest) != 1 || digest[0].ID == "" || digest[0].CreatedAt.IsZero() || digest[0].UserID != "u9" {
		t.Fatalf("a job added without id or creation time: %+v, %v", digest, err)
	}
}

// testJobsClaim: due jobs only, earliest first, up to the limit; a leased job is not
// claimed again until its lease ends, then it is, its attempts counting both.
func testJobsClaim(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	addJobs(t, s, 4, job("late", base.Add(time.Hour)), job("j2", base), job("j1", base.Add(-time.Minute)),
		job("j3", base.Add(-time.Second)))
	jobs := claim(t, s, base, 2)
	if got := jobIDs(jobs); !reflect.DeepEqual(got, []string{"j1", "j3"}) {
		t.Fatalf("claimed %v, want the two earliest due, earliest first", got)
	}
	for _, j := range jobs {
		if j.Attempts != 1 || j.State != tocsin.JobPending {
			t.Fatalf("claimed %+v: want pending with 1 attempt", j)
		}
	}
	wantClaim(t, s, base, "j2")
	wantClaim(t, s, base.Add(30*time.Second)) // all leased, "late" not due
	jobs = wantClaim(t, s, base.Add(time.Minute), "j1", "j3", "j2")
	if jobs[0].Attempts != 2 {
		t.Fatalf("a job claimed again after its lease ended has %d attempts, want 2", jobs[0].Attempts)
	}
	_, err := s.ClaimJobs(ctx, base, 0, 10)
	wantCode(t, err, tocsin.EInvalid)
}

// testJobsOrderKey: a job waits while an earlier pending job of its order key exists,
// whether that one is due, leased or not yet due; finishing it (done or failed)
// lets the next go. Other order keys and unordered jobs are not held up.
func testJobsOrderKey(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	ordered := func(key string, ord int64) func(*tocsin.Job) {
		return func(j *tocsin.Job) { j.OrderKey, j.Ord = key, ord }
	}
	early := base.Add(-time.Hour)
	addJobs(t, s, 6,
		job("o1", base.Add(time.Minute), ordered("A", 1)), // not due yet: still blocks o2, o3
		job("o3", early, ordered("A", 3)),
		job("o2", early, ordered("A", 2)),
		job("p1b", early, ordered("B", 5)), // same ord as p1a: the id decides
		job("p1a", early.Add(time.Second), ordered("B", 5)),
		job("free", early.Add(2*time.Second)))
	wantClaim(t, s, base, "p1a", "free")
	// p1b waits for p1a, which a claim holds; o2 and o3 wait for o1, not yet due.
	wantClaim(t, s, base.Add(30*time.Second))
	finish(t, s, "free", tocsin.JobDone)
	wantClaim(t, s, base.Add(90*time.Second), "p1a", "o1") // p1a's lease ended
	// A retried job keeps its place: still pending, it still blocks.
	if err := s.RetryJob(ctx, "o1", base.Add(10*time.Minute), "timeout", 0); err != nil {
		t.Fatal(err)
	}
	finish(t, s, "p1a", tocsin.JobDone)
	wantClaim(t, s, base.Add(2*time.Minute), "p1b")
	finish(t, s, "p1b", tocsin.JobDone)
	finish(t, s, "o1", tocsin.JobDone)
	wantClaim(t, s, base.Add(3*time.Minute), "o2")
	finish(t, s, "o2", tocsin.JobFailed)
	wantClaim(t, s, base.Add(3*time.Minute), "o3")
}

// testJobsRetryAndFinish: RetryJob moves the due time and records why; FinishJob
// records the outcome; neither touches a job that is not pending.
func testJobsRetryAndFinish(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	addJobs(t, s, 2, job("r", base), job("f", base))
	wantClaim(t, s, base, "f", "r")
	if err := s.RetryJob(ctx, "r", base.Add(5*time.Minute), "status 503", 503); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishJob(ctx, "f", tocsin.JobFailed, "gone", 410, base.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantClaim(t, s, base.Add(4*time.Minute))
	if at, ok, err := s.NextDue(ctx); err != nil || !ok || !at.Equal(base.Add(5*time.Minute)) {
		t.Fatalf("NextDue = %v, %v, %v; want the retry's due time", at, ok, err)
	}
	r := wantClaim(t, s, base.Add(5*time.Minute), "r")[0]
	if r.Attempts != 2 || r.LastError != "status 503" || r.LastStatus != 503 || !r.DueAt.Equal(base.Add(5*time.Minute)) {
		t.Fatalf("retried job %+v", r)
	}
	failed, _, err := s.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobChannel, State: tocsin.JobFailed})
	if err != nil || len(failed) != 1 {
		t.Fatalf("failed jobs %+v, %v", failed, err)
	}
	if f := failed[0]; f.LastError != "gone" || f.LastStatus != 410 || f.FinishedAt == nil ||
		!f.FinishedAt.Equal(base.Add(time.Second)) || f.Attempts != 1 {
		t.Fatalf("finished job %+v", f)
	}
	wantCode(t, s.FinishJob(ctx, "f", tocsin.JobDone, "", 0, base), tocsin.ENotFound)
	wantCode(t, s.RetryJob(ctx, "f", base, "", 0), tocsin.ENotFound)
	wantCode(t, s.RetryJob(ctx, "none", base, "", 0), tocsin.ENotFound)
	wantCode(t, s.FinishJob(ctx, "r", tocsin.JobPending, "", 0, base), tocsin.EInvalid)
}

// testJobsCancel: CancelJob removes the pending job of a kind and ref and returns it;
// a finished one, another kind's, or none: ENotFound; one a claim holds: EConflict
// (it is running), and it stays.
func testJobsCancel(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	scheduled := func(j *tocsin.Job) { j.Kind = tocsin.JobScheduled }
	addJobs(t, s, 3, job("s1", base.Add(time.Hour), scheduled), job("s2", base, scheduled), job("c1", base.Add(time.Hour)))
	got, err := s.CancelJob(ctx, tocsin.JobScheduled, "n-s1", base)
	if err != nil || got.ID != "s1" || string(got.Payload) != `{"job":"s1"}` || got.State != tocsin.JobPending {
		t.Fatalf("CancelJob = %+v, %v", got, err)
	}
	_, err = s.CancelJob(ctx, tocsin.JobScheduled, "n-s1", base)
	wantCode(t, err, tocsin.ENotFound)
	_, err = s.CancelJob(ctx, tocsin.JobScheduled, "n-c1", base) // another kind's ref
	wantCode(t, err, tocsin.ENotFound)
	wantClaim(t, s, base, "s2")
	_, err = s.CancelJob(ctx, tocsin.JobScheduled, "n-s2", base) // running
	wantCode(t, err, tocsin.EConflict)
	finish(t, s, "s2", tocsin.JobDone)
	_, err = s.CancelJob(ctx, tocsin.JobScheduled, "n-s2", base)
	wantCode(t, err, tocsin.ENotFound)
	if _, ok, _ := s.NextDue(ctx); !ok {
		t.Fatal("the channel job is still pending")
	}
}

// testJobsList: newest first by id, paged by Before, filtered by user, target and
// state; the limit is bounded; a kind is required.
func testJobsList(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	var jobs []tocsin.Job
	for i := range 25 {
		jobs = append(jobs, job(fmt.Sprintf("j%02d", i), base, func(j *tocsin.Job) {
			j.UserID, j.Target = fmt.Sprint("u", i%2), fmt.Sprint("t", i%3)
		}))
	}
	jobs = append(jobs, job("other", base, func(j *tocsin.Job) { j.Kind = tocsin.JobWebhook }))
	addJobs(t, s, len(jobs), jobs...)
	finish(t, s, "j03", tocsin.JobDone)
	var seen []string
	before := ""
	for page := 0; ; page++ {
		got, next, err := s.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobChannel, Before: before, Limit: 10})
		if err != nil || page > 3 {
			t.Fatalf("ListJobs page %d: %v", page, err)
		}
		seen = append(seen, jobIDs(got)...)
		if next == "" {
			if len(got) != 5 {
				t.Fatalf("last page has %d jobs, want 5", len(got))
			}
			break
		}
		if len(got) != 10 || next != got[9].ID {
			t.Fatalf("page %d: %d jobs, next %q", page, len(got), next)
		}
		before = next
	}
	if len(seen) != 25 || seen[0] != "j24" || seen[24] != "j00" {
		t.Fatalf("pages %v: want j24 … j00", seen)
	}
	// 25 in pages of 5: the fifth page is full and the last; no cursor to an empty one.
	pages, before := 0, ""
	for {
		got, next, err := s.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobChannel, Before: before, Limit: 5})
		if err != nil || len(got) != 5 || pages > 4 {
			t.Fatalf("ListJobs by 5, page %d: %d jobs, %v", pages, len(got), err)
		}
		pages++
		if next == "" {
			break
		}
		before = next
	}
	if pages != 5 {
		t.Fatalf("25 jobs in pages of 5 took %d pages, want 5", pages)
	}
	list := func(q tocsin.JobQuery) []string {
		t.Helper()
		q.Kind = tocsin.JobChannel
		got, _, err := s.ListJobs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return jobIDs(got)
	}
	if got := list(tocsin.JobQuery{UserID: "u1", Target: "t0", Limit: 100}); !reflect.DeepEqual(got, []string{"j21", "j15", "j09", "j03"}) {
		t.Fatalf("user u1, target t0: %v", got)
	}
	if got := list(tocsin.JobQuery{State: tocsin.JobDone}); !reflect.DeepEqual(got, []string{"j03"}) {
		t.Fatalf("done: %v", got)
	}
	if got := list(tocsin.JobQuery{State: tocsin.JobPending, UserID: "u1", Before: "j05"}); !reflect.DeepEqual(got, []string{"j01"}) {
		t.Fatalf("pending of u1 before j05: %v", got)
	}
	if got := list(tocsin.JobQuery{}); len(got) != tocsin.DefaultListLimit {
		t.Fatalf("no limit listed %d, want %d", len(got), tocsin.DefaultListLimit)
	}
	if got := list(tocsin.JobQuery{Limit: 1_000_000}); len(got) != 25 {
		t.Fatalf("a huge limit listed %d", len(got))
	}
	_, _, err := s.ListJobs(ctx, tocsin.JobQuery{})
	wantCode(t, err, tocsin.EInvalid)
	_, _, err = s.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobChannel, State: "running"})
	wantCode(t, err, tocsin.EInvalid)
}

// testJobsNextDue: the earliest time a pending job can be claimed: its due time, or
// the end of its lease while one holds it; none once nothing is pending.
func testJobsNextDue(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	if _, ok, err := s.NextDue(ctx); ok || err != nil {
		t.Fatalf("NextDue of no jobs: ok %v, %v", ok, err)
	}
	addJobs(t, s, 2, job("a", base.Add(time.Minute)), job("b", base.Add(10*time.Minute)))
	wantNext := func(want time.Time) {
		t.Helper()
		at, ok, err := s.NextDue(ctx)
		if err != nil || !ok || !at.Equal(want) {
			t.Fatalf("NextDue = %v, %v, %v; want %s after base", at.Sub(base), ok, err, want.Sub(base))
		}
	}
	wantNext(base.Add(time.Minute))
	wantClaim(t, s, base.Add(2*time.Minute), "a") // leased for a minute
	wantNext(base.Add(3 * time.Minute))
	finish(t, s, "a", tocsin.JobDone)
	wantNext(base.Add(10 * time.Minute))
	finish(t, s, "b", tocsin.JobFailed)
	if _, ok, err := s.NextDue(ctx); ok || err != nil {
		t.Fatalf("NextDue with only finished jobs: ok %v, %v", ok, err)
	}
}

// testJobsPrune: finished jobs older than the cut go; newer ones and pending ones stay.
func testJobsPrune(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	addJobs(t, s, 4, job("old", base), job("oldfail", base), job("new", base), job("pending", base.Add(-48*time.Hour)))
	for id, at := range map[string]time.Time{"old": base.Add(-2 * time.Hour), "oldfail": base.Add(-3 * time.Hour), "new": base} {
		if err := s.FinishJob(ctx, id, map[bool]string{true: tocsin.JobFailed, false: tocsin.JobDone}[id == "oldfail"], "", 0, at); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.PruneJobs(ctx, base.Add(-time.Hour)); err != nil || n != 2 {
		t.Fatalf("PruneJobs = %d, %v; want 2", n, err)
	}
	left, _, err := s.ListJobs(ctx, tocsin.JobQuery{Kind: tocsin.JobChannel})
	if got := jobIDs(left); err != nil || !reflect.DeepEqual(got, []string{"pending", "new"}) {
		t.Fatalf("left %v, %v", got, err)
	}
}

// testJobsConcurrentClaims: claimers racing (on several connections, or nodes) never
// claim one job twice while its lease runs, and between them claim every job.
func testJobsConcurrentClaims(t *testing.T, st tocsin.Store) {
	s := deliveryStore(t, st)
	const n, claimers = 500, 4
	jobs := make([]tocsin.Job, n)
	for i := range jobs {
		jobs[i] = job(fmt.Sprintf("c%03d", i), base.Add(-time.Duration(i%17)*time.Second))
	}
	addJobs(t, s, n, jobs...)
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, claimers)
	for range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.ClaimJobs(ctx, base, time.Hour, 7)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, j := range got {
					claimed[j.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(claimed) != n {
		t.Fatalf("%d jobs claimed, want %d", len(claimed), n)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Fatalf("job %s claimed %d times", id, c)
		}
	}
}
