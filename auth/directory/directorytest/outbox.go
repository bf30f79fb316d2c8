package directorytest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// outboxBase is the outbox tests' clock: times are passed in, never read.
var outboxBase = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func enqueueWebhook(t *testing.T, d directory.Directory, id string, due time.Time) {
	t.Helper()
	e := directory.WebhookEvent{ID: id, Type: "logout", Body: []byte(`{"id":"` + id + `"}`), Created: outboxBase, NextAttempt: due}
	if err := d.EnqueueWebhook(t.Context(), e); err != nil {
		t.Fatalf("EnqueueWebhook(%s): %v", id, err)
	}
}

func claimWebhooks(t *testing.T, d directory.Directory, now time.Time, lease time.Duration, limit int) []directory.WebhookEvent {
	t.Helper()
	got, err := d.ClaimWebhooks(t.Context(), now, lease, limit)
	if err != nil {
		t.Fatalf("ClaimWebhooks: %v", err)
	}
	return got
}

func webhookIDs(es []directory.WebhookEvent) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func wantWebhookQueue(t *testing.T, d directory.Directory, pending, failed int64) {
	t.Helper()
	p, f, err := d.WebhookQueue(t.Context())
	if err != nil || p != pending || f != failed {
		t.Fatalf("WebhookQueue: got %d pending, %d failed (%v), want %d, %d", p, f, err, pending, failed)
	}
}

// testOutbox walks one event through the queue's life: due, leased,
// retried, re-leased after a lease ran out, given up, purged.
func testOutbox(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	at := func(s int) time.Time { return outboxBase.Add(time.Duration(s) * time.Second) }
	enqueueWebhook(t, d, "evt_1", at(0))
	wantErr(t, "EnqueueWebhook duplicate id", d.EnqueueWebhook(ctx, directory.WebhookEvent{ID: "evt_1", Type: "logout", Body: []byte("{}")}), directory.ErrConflict)
	wantWebhookQueue(t, d, 1, 0)
	if got := claimWebhooks(t, d, at(-1), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claim before due: got %v, want none", webhookIDs(got))
	}
	got := claimWebhooks(t, d, at(0), time.Minute, 10)
	if len(got) != 1 || got[0].ID != "evt_1" || string(got[0].Body) != `{"id":"evt_1"}` || got[0].Type != "logout" ||
		got[0].Attempts != 0 || got[0].Claim == "" || !got[0].Created.Equal(outboxBase) {
		t.Fatalf("claim: got %+v, want evt_1 as enqueued, under a claim", got)
	}
	wantUTC(t, "claimed Created", got[0].Created)
	first := got[0].Claim
	if again := claimWebhooks(t, d, at(30), time.Minute, 10); len(again) != 0 {
		t.Fatalf("claim while leased: got %v, want none", webhookIDs(again))
	}
	wantErr(t, "RetryWebhook under another claim", d.RetryWebhook(ctx, "evt_1", "not-the-claim", at(31), "x"), directory.ErrNotFound)
	if err := d.RetryWebhook(ctx, "evt_1", first, at(40), "status 500"); err != nil {
		t.Fatalf("RetryWebhook: %v", err)
	}
	if got := claimWebhooks(t, d, at(39), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claim before the retry is due: got %v", webhookIDs(got))
	}
	got = claimWebhooks(t, d, at(40), time.Minute, 10)
	if len(got) != 1 || got[0].Attempts != 1 || got[0].LastError != "status 500" || !got[0].NextAttempt.Equal(at(40)) || got[0].Claim == first {
		t.Fatalf("claim of the retry: got %+v, want attempt 1, the last error, a new claim", got)
	}
	second := got[0].Claim
	// The holder never came back: once its lease ends, another takes it,
	// and the first holder can no longer act on it.
	got = claimWebhooks(t, d, at(100), time.Minute, 10)
	if len(got) != 1 || got[0].Claim == second {
		t.Fatalf("claim after the lease ended: got %+v, want it again under a new claim", got)
	}
	third := got[0].Claim
	wantErr(t, "FailWebhook under an expired claim", d.FailWebhook(ctx, "evt_1", second, at(101), "x"), directory.ErrNotFound)
	if err := d.FailWebhook(ctx, "evt_1", third, at(101), "gave up"); err != nil {
		t.Fatalf("FailWebhook: %v", err)
	}
	wantWebhookQueue(t, d, 0, 1)
	if got := claimWebhooks(t, d, at(10_000), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claim of a failed event: got %v, want none", webhookIDs(got))
	}
	wantErr(t, "RetryWebhook of a failed event", d.RetryWebhook(ctx, "evt_1", third, at(102), "x"), directory.ErrNotFound)
	if n, err := d.PurgeWebhooks(ctx, at(101)); err != nil || n != 0 {
		t.Fatalf("PurgeWebhooks(before it failed): %d, %v; want 0", n, err)
	}
	if n, err := d.PurgeWebhooks(ctx, at(102)); err != nil || n != 1 {
		t.Fatalf("PurgeWebhooks: %d, %v; want 1", n, err)
	}
	wantWebhookQueue(t, d, 0, 0)
	// Completion removes the event whoever holds it, and is idempotent.
	enqueueWebhook(t, d, "evt_2", at(0))
	claimWebhooks(t, d, at(0), time.Minute, 10)
	for range 2 {
		if err := d.CompleteWebhook(ctx, "evt_2"); err != nil {
			t.Fatalf("CompleteWebhook: %v", err)
		}
	}
	wantWebhookQueue(t, d, 0, 0)
}

// testOutboxOrder: a claim takes at most limit events, the oldest due
// first, and leaves the rest for the next.
func testOutboxOrder(t *testing.T, d directory.Directory) {
	at := func(s int) time.Time { return outboxBase.Add(time.Duration(s) * time.Second) }
	for i, due := range []int{5, 1, 3, 2, 4} {
		enqueueWebhook(t, d, fmt.Sprintf("evt_%d", i), at(due))
	}
	got := claimWebhooks(t, d, at(10), time.Minute, 3)
	if ids := webhookIDs(got); !slices.Equal(ids, []string{"evt_1", "evt_3", "evt_2"}) {
		t.Fatalf("claim of 3: got %v, want the three due first, in due order", ids)
	}
	if ids := webhookIDs(claimWebhooks(t, d, at(10), time.Minute, 3)); !slices.Equal(ids, []string{"evt_4", "evt_0"}) {
		t.Fatalf("next claim: got %v, want the other two", ids)
	}
	if got := claimWebhooks(t, d, at(10), time.Minute, 0); len(got) != 0 {
		t.Fatalf("claim of 0: got %v", webhookIDs(got))
	}
}

// testOutboxConcurrentClaim: claimers racing over one queue (several
// connections on PostgreSQL) never lease the same event twice.
func testOutboxConcurrentClaim(t *testing.T, d directory.Directory) {
	const events, claimers = 40, 8
	for i := range events {
		enqueueWebhook(t, d, fmt.Sprintf("evt_%02d", i), outboxBase)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	errs := runConcurrently(claimers, func(int) error {
		for {
			got, err := d.ClaimWebhooks(t.Context(), outboxBase.Add(time.Second), time.Hour, 3)
			if err != nil {
				return err
			}
			if len(got) == 0 {
				return nil
			}
			mu.Lock()
			for _, e := range got {
				seen[e.ID]++
			}
			mu.Unlock()
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("claimer %d: %v", i, err)
		}
	}
	if len(seen) != events {
		t.Fatalf("claimed %d distinct events, want %d", len(seen), events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s leased %d times while its lease held, want once", id, n)
		}
	}
}

// enqueueBody queues an event with body, made at outboxBase+s seconds.
func enqueueBody(t *testing.T, d directory.Directory, id string, s int, body string) {
	t.Helper()
	at := outboxBase.Add(time.Duration(s) * time.Second)
	if err := d.EnqueueWebhook(t.Context(), directory.WebhookEvent{ID: id, Type: "logout", Body: []byte(body), Created: at}); err != nil {
		t.Fatalf("EnqueueWebhook(%s): %v", id, err)
	}
}

// failWebhook claims every due event and gives up id at at.
func failWebhook(t *testing.T, d directory.Directory, id string, at time.Time) {
	t.Helper()
	for _, e := range claimWebhooks(t, d, at, time.Minute, 100) {
		if e.ID == id {
			if err := d.FailWebhook(t.Context(), id, e.Claim, at, "status 503"); err != nil {
				t.Fatalf("FailWebhook(%s): %v", id, err)
			}
			return
		}
	}
	t.Fatalf("%s was not claimable at %v", id, at)
}

func listWebhooks(t *testing.T, d directory.Directory, q directory.WebhookQuery) []directory.WebhookEvent {
	t.Helper()
	got, err := d.ListWebhooks(t.Context(), q)
	if err != nil {
		t.Fatalf("ListWebhooks(%+v): %v", q, err)
	}
	return got
}

// testOutboxList: the operator's and the export's view of the queue —
// newest first, pending and given-up events with their state, only the
// failed ones, only one user's (exactly, not a user whose id merely
// starts the same, nor another user's event that holds the id elsewhere),
// at most a limit, one by id.
func testOutboxList(t *testing.T, d directory.Directory) {
	enqueueBody(t, d, "evt_1", 0, `{"id":"evt_1","user":{"id":"u-carol","username":"carol"}}`)
	enqueueBody(t, d, "evt_2", 1, `{"id":"evt_2","note":"u-carol","user":{"id":"u-carolina","username":"carolina"}}`)
	enqueueBody(t, d, "evt_3", 2, `{"id":"evt_3","user":{"id":"u-carol","username":"carol"}}`)
	failAt := outboxBase.Add(time.Hour)
	failWebhook(t, d, "evt_1", failAt)

	all := listWebhooks(t, d, directory.WebhookQuery{})
	if ids := webhookIDs(all); !slices.Equal(ids, []string{"evt_3", "evt_2", "evt_1"}) {
		t.Fatalf("ListWebhooks: got %v, want every event, newest first", ids)
	}
	failed, pending := all[2], all[0]
	if !failed.Failed.Equal(failAt) || failed.Attempts != 1 || failed.LastError != "status 503" || failed.Claim != "" ||
		string(failed.Body) != `{"id":"evt_1","user":{"id":"u-carol","username":"carol"}}` || !failed.Created.Equal(outboxBase) {
		t.Errorf("the failed event: %+v", failed)
	}
	wantUTC(t, "listed Failed", failed.Failed)
	if !pending.Failed.IsZero() || !pending.Requeued.IsZero() || pending.Type != "logout" || !pending.Created.Equal(outboxBase.Add(2*time.Second)) {
		t.Errorf("a pending event: %+v", pending)
	}
	if ids := webhookIDs(listWebhooks(t, d, directory.WebhookQuery{Failed: true})); !slices.Equal(ids, []string{"evt_1"}) {
		t.Errorf("failed only: got %v, want evt_1", ids)
	}
	if ids := webhookIDs(listWebhooks(t, d, directory.WebhookQuery{UserID: "u-carol"})); !slices.Equal(ids, []string{"evt_3", "evt_1"}) {
		t.Errorf("u-carol's: got %v, want evt_3 and evt_1 (not u-carolina's evt_2)", ids)
	}
	if ids := webhookIDs(listWebhooks(t, d, directory.WebhookQuery{UserID: "u-carol", Limit: 1})); !slices.Equal(ids, []string{"evt_3"}) {
		t.Errorf("u-carol's, limit 1: got %v, want evt_3", ids)
	}
	if ids := webhookIDs(listWebhooks(t, d, directory.WebhookQuery{Limit: 2})); !slices.Equal(ids, []string{"evt_3", "evt_2"}) {
		t.Errorf("limit 2: got %v, want the newest two", ids)
	}
	if got := listWebhooks(t, d, directory.WebhookQuery{UserID: "u-nobody"}); len(got) != 0 {
		t.Errorf("nobody's: got %v", webhookIDs(got))
	}
	if ids := webhookIDs(listWebhooks(t, d, directory.WebhookQuery{ID: "evt_1", UserID: "u-carol"})); !slices.Equal(ids, []string{"evt_1"}) {
		t.Errorf("by id: got %v, want evt_1", ids)
	}
	if got := listWebhooks(t, d, directory.WebhookQuery{ID: "evt_2", Failed: true}); len(got) != 0 {
		t.Errorf("a pending event by id, failed only: got %v", webhookIDs(got))
	}
}

// testOutboxRequeue: a given-up event goes back in the queue under its
// own id and body, due at once with no attempts counted, knowing when
// it was made and why it failed; a pending or unknown event is refused.
func testOutboxRequeue(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	at := func(s int) time.Time { return outboxBase.Add(time.Duration(s) * time.Second) }
	enqueueBody(t, d, "evt_1", 0, `{"id":"evt_1"}`)
	wantErr(t, "RequeueWebhook of a pending event", d.RequeueWebhook(ctx, "evt_1", at(5)), directory.ErrConflict)
	wantErr(t, "RequeueWebhook of an unknown event", d.RequeueWebhook(ctx, "evt_none", at(5)), directory.ErrNotFound)
	failWebhook(t, d, "evt_1", at(10))
	wantWebhookQueue(t, d, 0, 1)
	if err := d.RequeueWebhook(ctx, "evt_1", at(100)); err != nil {
		t.Fatalf("RequeueWebhook: %v", err)
	}
	wantWebhookQueue(t, d, 1, 0)
	wantErr(t, "RequeueWebhook twice", d.RequeueWebhook(ctx, "evt_1", at(101)), directory.ErrConflict)
	if got := claimWebhooks(t, d, at(99), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claim before the re-queue: got %v", webhookIDs(got))
	}
	got := claimWebhooks(t, d, at(100), time.Minute, 10)
	if len(got) != 1 || got[0].ID != "evt_1" || string(got[0].Body) != `{"id":"evt_1"}` || got[0].Attempts != 0 ||
		got[0].LastError != "status 503" || !got[0].Created.Equal(at(0)) || !got[0].Requeued.Equal(at(100)) || !got[0].Failed.IsZero() {
		t.Fatalf("claim after the re-queue: got %+v, want evt_1 as made, no attempts, Requeued at 100s", got)
	}
	wantUTC(t, "claimed Requeued", got[0].Requeued)
	// Given up again, it is kept as failed again, and the purge counts
	// from the new failure.
	if err := d.FailWebhook(ctx, "evt_1", got[0].Claim, at(200), "status 500"); err != nil {
		t.Fatalf("FailWebhook after the re-queue: %v", err)
	}
	if n, err := d.PurgeWebhooks(ctx, at(150)); err != nil || n != 0 {
		t.Fatalf("PurgeWebhooks(before the second failure): %d, %v; want 0", n, err)
	}
	wantWebhookQueue(t, d, 0, 1)
}
