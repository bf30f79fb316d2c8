package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/session"
)

func testClaim(t *testing.T, e env) {
	put(t, e, record(e, "s1", "u1"))
	if ok, err := e.b.Claim(e.ctx, "s1", "u2"); err != nil || ok {
		t.Fatalf("Claim by another user = %v, %v; want false, nil", ok, err)
	}
	get(t, e, "s1", session.Touch{})
	if ok, err := e.b.Claim(e.ctx, "s1", "u1"); err != nil || !ok {
		t.Fatalf("Claim = %v, %v; want true, nil", ok, err)
	}
	if _, err := e.b.Get(e.ctx, "s1", session.Touch{}); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get after Claim: got %v, want ErrNotFound", err)
	}
	if got := listIDs(t, e, "u1"); len(got) != 0 {
		t.Errorf("ListUser after Claim = %v, want none", got)
	}
	if ok, err := e.b.Claim(e.ctx, "s1", "u1"); err != nil || ok {
		t.Errorf("second Claim = %v, %v; want false, nil", ok, err)
	}
	if ok, err := e.b.Claim(e.ctx, "never", "u1"); err != nil || ok {
		t.Errorf("Claim(missing) = %v, %v; want false, nil", ok, err)
	}
}

// testConcurrentClaim: of many replicas ending one session at once,
// exactly one is told it did, so the end is reported once.
func testConcurrentClaim(t *testing.T, e env) {
	put(t, e, record(e, "s1", "u1"))
	var wg sync.WaitGroup
	claimed := make(chan bool, 20)
	for range 20 {
		wg.Go(func() {
			ok, err := e.b.Claim(e.ctx, "s1", "u1")
			if err != nil {
				t.Errorf("Claim: %v", err)
			}
			claimed <- ok
		})
	}
	wg.Wait()
	close(claimed)
	n := 0
	for ok := range claimed {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d concurrent Claims won, want exactly 1", n)
	}
}

// dueIDs is Due's ids, checking that Data is left out.
func dueIDs(t *testing.T, e env, before time.Time, limit int) []string {
	t.Helper()
	rs, err := e.b.Due(e.ctx, before, limit)
	if err != nil {
		t.Fatalf("Due: %v", err)
	}
	var ids []string
	for _, r := range rs {
		if len(r.Data) != 0 {
			t.Errorf("Due: %s carries Data, want it omitted", r.ID)
		}
		if r.UserID == "" || r.Created.IsZero() || r.LastSeen.IsZero() {
			t.Errorf("Due: %s lacks what a sweep decides by: %+v", r.ID, r)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

// testDue: records whose Expires is at or before the bound come back,
// earliest first, within the limit; later ones, deleted ones and claimed
// ones do not. Expires lie in the real future (Redis keeps TTLs by the
// server's clock, see the package doc).
func testDue(t *testing.T, e env) {
	now := e.clock.Now()
	for _, id := range []string{"s3", "s1", "s2", "s4", "s5"} {
		r := record(e, id, "u1")
		r.Expires = now.Add(time.Duration(map[string]int{"s1": 1, "s2": 2, "s3": 3, "s4": 4, "s5": 5}[id]) * time.Hour)
		put(t, e, r)
	}
	before := now.Add(3*time.Hour + time.Minute)
	if got := fmt.Sprint(dueIDs(t, e, before, 10)); got != "[s1 s2 s3]" {
		t.Fatalf("Due = %s, want [s1 s2 s3]", got)
	}
	if got := fmt.Sprint(dueIDs(t, e, before, 2)); got != "[s1 s2]" {
		t.Fatalf("Due limit 2 = %s, want [s1 s2]", got)
	}
	if err := e.b.Delete(e.ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.b.Claim(e.ctx, "s2", "u1"); err != nil || !ok {
		t.Fatalf("Claim = %v, %v", ok, err)
	}
	if got := fmt.Sprint(dueIDs(t, e, before, 10)); got != "[s3]" {
		t.Fatalf("Due after a Delete and a Claim = %s, want [s3]", got)
	}
	if got := dueIDs(t, e, now, 10); len(got) != 0 {
		t.Fatalf("Due(now) = %v, want none", got)
	}
	if _, err := e.b.Due(e.ctx, before, 0); err == nil {
		t.Error("Due with limit 0: got nil error")
	}
}

// testDueReschedule is the sweep's use: a record touched after it was
// indexed may come back early (Redis indexes Expires only at Put); once
// rescheduled at its new Expires it is not due before then.
func testDueReschedule(t *testing.T, e env) {
	now := e.clock.Now()
	r := record(e, "s1", "u1")
	r.Expires = now.Add(time.Hour)
	put(t, e, r)
	e.clock.Advance(10 * time.Minute)
	touched := get(t, e, "s1", session.Touch{Now: e.clock.Now(), Idle: 3 * time.Hour, Absolute: 12 * time.Hour})
	if !touched.Expires.After(now.Add(3 * time.Hour)) {
		t.Fatalf("touch did not move Expires: %v", touched.Expires)
	}
	before := now.Add(2 * time.Hour)
	if got := dueIDs(t, e, before, 10); len(got) != 0 && !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("Due = %v, want none or the touched s1", got)
	}
	if err := e.b.Reschedule(e.ctx, "s1", touched.Expires); err != nil {
		t.Fatal(err)
	}
	if got := dueIDs(t, e, before, 10); len(got) != 0 {
		t.Fatalf("Due after Reschedule = %v, want none", got)
	}
	if got := dueIDs(t, e, touched.Expires, 10); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("Due at the new Expires = %v, want [s1]", got)
	}
	if err := e.b.Reschedule(e.ctx, "missing", before); err != nil {
		t.Errorf("Reschedule(missing): %v", err)
	}
	if got := dueIDs(t, e, before, 10); len(got) != 0 {
		t.Errorf("Reschedule of a missing id made it due: %v", got)
	}
}

// testDueBatch: a batch holds only records the sweep must look at. Ended
// records (deleted, claimed, the user's all deleted) leave the index, and a
// rescheduled one stays out until its time, so none of them takes the
// place of a due record in a batch of one; otherwise a sweep whose batch
// filled with such records would never reach the ended ones.
func testDueBatch(t *testing.T, e env) {
	now := e.clock.Now()
	at := func(id, user string, d time.Duration) {
		r := record(e, id, user)
		r.Expires = now.Add(d)
		put(t, e, r)
	}
	at("gone", "u1", 10*time.Minute)
	at("claimed", "u1", 20*time.Minute)
	at("other", "u2", 30*time.Minute)
	at("later", "u1", 40*time.Minute)
	at("due", "u1", 3*time.Hour)
	before := now.Add(4 * time.Hour)
	if err := e.b.Delete(e.ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.b.Claim(e.ctx, "claimed", "u1"); err != nil || !ok {
		t.Fatalf("Claim = %v, %v", ok, err)
	}
	if n, err := e.b.DeleteUser(e.ctx, "u2"); err != nil || n != 1 {
		t.Fatalf("DeleteUser = %d, %v", n, err)
	}
	if err := e.b.Reschedule(e.ctx, "later", now.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := dueIDs(t, e, before, 1); !slices.Equal(got, []string{"due"}) {
		t.Fatalf("Due(limit 1) = %v, want [due]: ended or rescheduled records took its place", got)
	}
	if got := dueIDs(t, e, now.Add(6*time.Hour), 10); !slices.Equal(got, []string{"due", "later"}) {
		t.Fatalf("Due past the rescheduled time = %v, want [due later]", got)
	}
}
