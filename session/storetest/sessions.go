package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/session"
)

func testPutGet(t *testing.T, e env) {
	want := record(e, "s1", "u1")
	put(t, e, want)
	sameRecord(t, get(t, e, "s1", session.Touch{}), want)

	empty := record(e, "s2", "u1")
	empty.Data, empty.Meta = nil, session.Meta{}
	put(t, e, empty)
	sameRecord(t, get(t, e, "s2", session.Touch{}), empty)
}

func testPutReplaces(t *testing.T, e env) {
	put(t, e, record(e, "s1", "u1"))
	want := record(e, "s1", "u2")
	want.Data = []byte("replaced")
	want.Meta = session.Meta{ClientIP: "198.51.100.1"}
	put(t, e, want)
	sameRecord(t, get(t, e, "s1", session.Touch{}), want)

	// The id moved to u2, so u1 no longer lists or deletes it.
	if got := listIDs(t, e, "u1"); len(got) != 0 {
		t.Errorf("ListUser(u1) = %v, want none", got)
	}
	if n, err := e.b.DeleteUser(e.ctx, "u1"); err != nil || n != 0 {
		t.Errorf("DeleteUser(u1) = %d, %v; want 0, nil", n, err)
	}
	get(t, e, "s1", session.Touch{})
	if got := listIDs(t, e, "u2"); fmt.Sprint(got) != "[s1]" {
		t.Errorf("ListUser(u2) = %v, want [s1]", got)
	}
}

func testSlicesNotShared(t *testing.T, e env) {
	r := record(e, "s1", "u1")
	want := record(e, "s1", "u1")
	put(t, e, r)
	r.Data[0], r.Meta.Methods[0] = 'X', "mutated"
	got := get(t, e, "s1", session.Touch{})
	got.Data[0], got.Meta.Methods[0] = 'Y', "mutated"
	sameRecord(t, get(t, e, "s1", session.Touch{}), want)
}

func testGetMissing(t *testing.T, e env) {
	for _, tc := range []session.Touch{{}, touchNow(e)} {
		if _, err := e.b.Get(e.ctx, "nope", tc); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Get(missing, %+v): got %v, want ErrNotFound", tc, err)
		}
	}
}

func testDelete(t *testing.T, e env) {
	put(t, e, record(e, "s1", "u1"))
	for i := range 2 {
		if err := e.b.Delete(e.ctx, "s1"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := e.b.Delete(e.ctx, "never"); err != nil {
		t.Errorf("Delete(never existed): %v", err)
	}
	if _, err := e.b.Get(e.ctx, "s1", session.Touch{}); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
	}
	if got := listIDs(t, e, "u1"); len(got) != 0 {
		t.Errorf("ListUser after Delete = %v, want none", got)
	}
}

// testExpiredAtPut uses an Expires in the real past, which memory (fake
// clock starting at real now) and Redis (real TTL) agree on.
func testExpiredAtPut(t *testing.T, e env) {
	live := record(e, "live", "u1")
	put(t, e, live)
	dead := record(e, "dead", "u1")
	dead.Expires = e.clock.Now().Add(-time.Second)
	put(t, e, dead)
	for _, tc := range []session.Touch{{}, touchNow(e)} {
		if _, err := e.b.Get(e.ctx, "dead", tc); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Get(expired, %+v): got %v, want ErrNotFound", tc, err)
		}
	}
	if got := listIDs(t, e, "u1"); fmt.Sprint(got) != "[live]" {
		t.Errorf("ListUser = %v, want [live]", got)
	}
	sameRecord(t, get(t, e, "live", session.Touch{}), live)
}

func testExpiredByTouchClock(t *testing.T, e env) {
	r := record(e, "s1", "u1")
	r.Expires = r.Created.Add(10 * time.Minute)
	put(t, e, r)
	e.clock.Advance(10 * time.Minute)
	if _, err := e.b.Get(e.ctx, "s1", touchNow(e)); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get at Expires: got %v, want ErrNotFound", err)
	}
}

// touchNow is a typical gateway Touch: refresh at most once a minute, 30m
// idle, 12h absolute.
func touchNow(e env) session.Touch {
	return session.Touch{Now: e.clock.Now(), After: time.Minute, Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
}

func testTouch(t *testing.T, e env) {
	const after, idle, abs = time.Minute, 30 * time.Minute, 12 * time.Hour
	tests := []struct {
		name        string
		elapsed     time.Duration // since Created == LastSeen
		after, abs  time.Duration
		grace       time.Duration
		wantWrite   bool
		wantExpires time.Duration // since Created, when written
		wantGone    bool
	}{
		{name: "before After", elapsed: 30 * time.Second, after: after, abs: abs},
		{name: "at After", elapsed: time.Minute, after: after, abs: abs, wantWrite: true, wantExpires: time.Minute + idle},
		{name: "after After", elapsed: 5 * time.Minute, after: after, abs: abs, wantWrite: true, wantExpires: 5*time.Minute + idle},
		{name: "zero After", elapsed: time.Millisecond, abs: abs, wantWrite: true, wantExpires: time.Millisecond + idle},
		{name: "idle exactly", elapsed: idle, after: after, abs: abs},
		{name: "idle past", elapsed: idle + time.Minute, after: after, abs: abs},
		{name: "absolute caps", elapsed: 5 * time.Minute, after: after, abs: 20 * time.Minute, wantWrite: true, wantExpires: 20 * time.Minute},
		{name: "absolute passed", elapsed: 5 * time.Minute, after: after, abs: 4 * time.Minute, wantGone: true},
		{name: "grace extends expiry", elapsed: 5 * time.Minute, after: after, abs: abs, grace: time.Hour, wantWrite: true, wantExpires: 5*time.Minute + idle + time.Hour},
		{name: "grace on absolute cap", elapsed: 5 * time.Minute, after: after, abs: 20 * time.Minute, grace: time.Hour, wantWrite: true, wantExpires: 20*time.Minute + time.Hour},
		// In its grace period a record is returned as it is: never
		// touched, so the caller sees it idle and ends it.
		{name: "grace period is not revived", elapsed: idle + 10*time.Minute, after: after, abs: abs, grace: time.Hour},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := e.clock.Now().Add(time.Duration(i) * time.Hour)
			r := record(e, fmt.Sprintf("s%d", i), "u1")
			r.Created, r.LastSeen, r.Expires = base, base, base.Add(2*time.Hour)
			put(t, e, r)
			tc := session.Touch{Now: base.Add(tt.elapsed), After: tt.after, Idle: idle, Absolute: tt.abs, Grace: tt.grace}
			got, err := e.b.Get(e.ctx, r.ID, tc)
			if tt.wantGone {
				if !errors.Is(err, session.ErrNotFound) {
					t.Fatalf("Get: got %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			want := r
			if tt.wantWrite {
				want.LastSeen, want.Expires = tc.Now, base.Add(tt.wantExpires)
			}
			sameRecord(t, got, want)
			sameRecord(t, get(t, e, r.ID, session.Touch{}), want) // persisted
		})
	}
}

func testZeroTouch(t *testing.T, e env) {
	r := record(e, "s1", "u1")
	put(t, e, r)
	e.clock.Advance(5 * time.Minute)
	sameRecord(t, get(t, e, "s1", session.Touch{}), r)
	sameRecord(t, get(t, e, "s1", session.Touch{}), r)
}

func testConcurrentTouch(t *testing.T, e env) {
	r := record(e, "s1", "u1")
	put(t, e, r)
	e.clock.Advance(5 * time.Minute)
	tc := touchNow(e)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := e.b.Get(e.ctx, "s1", tc); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Get: %v", err)
	}
	want := r
	want.LastSeen, want.Expires = tc.Now, tc.Now.Add(tc.Idle)
	sameRecord(t, get(t, e, "s1", session.Touch{}), want)
}

func testListUser(t *testing.T, e env) {
	a := record(e, "a", "u1")
	b := record(e, "b", "u1")
	b.Created = a.Created.Add(time.Second) // listed oldest first
	dead := record(e, "dead", "u1")
	dead.Expires = e.clock.Now().Add(-time.Second)
	for _, r := range []session.Record{b, a, dead, record(e, "other", "u2")} {
		put(t, e, r)
	}
	got, err := e.b.ListUser(e.ctx, "u1")
	if err != nil {
		t.Fatalf("ListUser: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("ListUser(u1) returned %d records, want 2 (a, b)", len(got))
	}
	for i, want := range []session.Record{a, b} {
		want.Data = nil
		sameRecord(t, got[i], want)
	}
	if got := listIDs(t, e, "nobody"); len(got) != 0 {
		t.Errorf("ListUser(nobody) = %v, want none", got)
	}
}

func testDeleteUser(t *testing.T, e env) {
	for _, r := range []session.Record{record(e, "a", "u1"), record(e, "b", "u1"), record(e, "c", "u2")} {
		put(t, e, r)
	}
	n, err := e.b.DeleteUser(e.ctx, "u1")
	if err != nil || n != 2 {
		t.Fatalf("DeleteUser(u1) = %d, %v; want 2, nil", n, err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := e.b.Get(e.ctx, id, session.Touch{}); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Get(%s) after DeleteUser: got %v, want ErrNotFound", id, err)
		}
	}
	get(t, e, "c", session.Touch{})
	if got := listIDs(t, e, "u2"); fmt.Sprint(got) != "[c]" {
		t.Errorf("ListUser(u2) = %v, want [c]", got)
	}
	if n, err := e.b.DeleteUser(e.ctx, "u1"); err != nil || n != 0 {
		t.Errorf("second DeleteUser(u1) = %d, %v; want 0, nil", n, err)
	}
}

func testInvalidArguments(t *testing.T, e env) {
	noID := record(e, "", "u1")
	noExpiry := record(e, "s1", "u1")
	noExpiry.Expires = time.Time{}
	for name, r := range map[string]session.Record{"empty id": noID, "zero Expires": noExpiry} {
		if err := e.b.Put(e.ctx, r); err == nil {
			t.Errorf("Put(%s): got nil error, want one", name)
		}
	}
	if _, err := e.b.Incr(e.ctx, "k", 0); err == nil {
		t.Error("Incr(window 0): got nil error, want one")
	}
	if _, err := e.b.PutOnce(e.ctx, "k", nil, 0); err == nil {
		t.Error("PutOnce(ttl 0): got nil error, want one")
	}
}

func testPing(t *testing.T, e env) {
	if err := e.b.Ping(e.ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func listIDs(t *testing.T, e env, userID string) []string {
	t.Helper()
	rs, err := e.b.ListUser(e.ctx, userID)
	if err != nil {
		t.Fatalf("ListUser(%s): %v", userID, err)
	}
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		if len(r.Data) != 0 {
			t.Errorf("ListUser(%s): %s carries Data, want it omitted", userID, r.ID)
		}
		ids = append(ids, r.ID)
	}
	return ids
}
