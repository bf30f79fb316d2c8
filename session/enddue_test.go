package session_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/session"
)

// ends collects what EndDue reported, safely across replicas.
type ends struct {
	mu  sync.Mutex
	got []string // "session id:reason"
}

func (e *ends) add(r session.Record, reason session.Reason) {
	e.mu.Lock()
	e.got = append(e.got, r.ID+":"+string(reason))
	e.mu.Unlock()
}

func (e *ends) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(slices.Values(e.got))
}

// TestEndDueReportsUnseenTimeouts: sessions nobody presents again end at
// their idle timeout, absolute lifetime or pending bound and are reported
// once, by whichever of two replicas sweeps first; a session in use, or
// one not yet due, is left alone.
func TestEndDueReportsUnseenTimeouts(t *testing.T) {
	clk, a, b := newManagers(t, 0)
	ctx := context.Background()
	idle := &session.Session{Identity: auth.Identity{UserID: "u1"}}
	create(t, a, idle)
	busy := &session.Session{Identity: auth.Identity{UserID: "u1"}}
	busyCookie := create(t, a, busy)
	pending := &session.Session{Identity: auth.Identity{UserID: "u2"}, Pending: "2fa"}
	create(t, a, pending)

	var got ends
	if n, err := a.EndDue(ctx, limits, 100, got.add); err != nil || n != 0 {
		t.Fatalf("fresh sessions: EndDue = %d, %v; want 0", n, err)
	}
	clk.Advance(6 * time.Minute) // past the pending bound (5m)
	if _, err := a.Load(ctx, busyCookie, limits); err != nil {
		t.Fatal(err)
	}
	if n, err := b.EndDue(ctx, limits, 100, got.add); err != nil || n != 1 {
		t.Fatalf("after 6m: EndDue = %d, %v; want 1 (the pending login)", n, err)
	}
	for range 3 { // used every 10 minutes: never idle
		clk.Advance(10 * time.Minute)
		if _, err := a.Load(ctx, busyCookie, limits); err != nil {
			t.Fatal(err)
		}
	}
	// 36m: idle is unused for 36m, busy was used just now.
	var wg sync.WaitGroup
	for _, m := range []*session.Manager{a, b} {
		wg.Go(func() {
			if _, err := m.EndDue(ctx, limits, 1, got.add); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	want := []string{idle.ID + ":" + string(session.ReasonIdle), pending.ID + ":" + string(session.ReasonAbsolute)}
	slices.Sort(want)
	if !slices.Equal(got.list(), want) {
		t.Fatalf("reported %v, want %v (each once)", got.list(), want)
	}
	if _, err := a.Load(ctx, busyCookie, limits); err != nil {
		t.Fatalf("the session in use was ended: %v", err)
	}
	for range 67 { // used every 10 minutes up to 11h46m
		clk.Advance(10 * time.Minute)
		if _, err := a.Load(ctx, busyCookie, limits); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(15 * time.Minute) // 12h01m: past the absolute lifetime, not idle
	if n, err := a.EndDue(ctx, limits, 100, got.add); err != nil || n != 1 {
		t.Fatalf("after 12h01m: EndDue = %d, %v; want 1", n, err)
	}
	if l := got.list(); !slices.Contains(l, busy.ID+":"+string(session.ReasonAbsolute)) {
		t.Fatalf("reported %v, want busy's absolute lifetime", l)
	}
}

// TestLateRequestAfterSweepNotReportedAgain: a session the sweep ended
// and reported is refused when its cookie comes back, marked Again so the
// pipeline does not report it a second time; one the request ends first
// is not reported by a later sweep.
func TestLateRequestAfterSweepNotReportedAgain(t *testing.T) {
	clk, m, _ := newManagers(t, 0)
	ctx := context.Background()
	swept := create(t, m, &session.Session{Identity: auth.Identity{UserID: "u1"}})
	seen := create(t, m, &session.Session{Identity: auth.Identity{UserID: "u1"}})
	clk.Advance(31 * time.Minute)

	var e *session.ExpiredError
	if _, err := m.Load(ctx, seen, limits); !errors.As(err, &e) || e.Again {
		t.Fatalf("first to see it: %v (%+v), want an expiry to report", err, e)
	}
	var got ends
	if n, err := m.EndDue(ctx, limits, 100, got.add); err != nil || n != 1 {
		t.Fatalf("EndDue = %d, %v; want 1 (only the unseen one)", n, err)
	}
	_, err := m.Load(ctx, swept, limits)
	if !errors.Is(err, session.ErrNotFound) && !(errors.As(err, &e) && e.Again) {
		t.Fatalf("swept session presented again: %v, want refused without a second report", err)
	}
}
