package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

func TestMemory(t *testing.T) {
	storetest.RunTests(t, func(_ *testing.T, now func() time.Time) session.Backend {
		return New(now)
	})
}

// TestPurgeFreesExpired checks that the janitor's sweep, not just lookups,
// forgets expired entries, so memory does not grow with dead sessions.
func TestPurgeFreesExpired(t *testing.T) {
	start := time.Now()
	now := start
	s := New(func() time.Time { return now })
	defer s.Close()
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		r := session.Record{ID: id, UserID: "u1", Expires: start.Add(time.Minute)}
		if err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, session.Record{ID: "c", UserID: "u2", Expires: start.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, "k", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutOnce(ctx, "n", nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetIfGreater(ctx, "w", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	now = start.Add(time.Minute)
	s.purge()
	sizes := []struct {
		name      string
		got, want int
	}{
		{"sessions", len(s.sessions), 1},
		{"users", len(s.users), 1},
		{"counters", len(s.counters), 0},
		{"nonces", len(s.nonces), 0},
		{"marks", len(s.marks), 0},
	}
	for _, sz := range sizes {
		if sz.got != sz.want {
			t.Errorf("after purge: got %d %s, want %d", sz.got, sz.name, sz.want)
		}
	}
}

func TestCloseStopsJanitor(t *testing.T) {
	s := New(nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("janitor still running after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func BenchmarkGet(b *testing.B) {
	start := time.Now()
	r := session.Record{
		ID: "s1", UserID: "u1", Data: make([]byte, 256),
		Created: start, LastSeen: start, Expires: start.Add(time.Hour),
		Meta: session.Meta{ClientIP: "192.0.2.1", UserAgent: "bench", Methods: []string{"pwd"}},
	}
	touch := func(i int) session.Touch {
		return session.Touch{Now: start.Add(time.Duration(i) * time.Millisecond), After: time.Minute, Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
	}
	write := func(i int) session.Touch {
		t := touch(i)
		t.After = 0 // every call is due
		return t
	}
	cases := []struct {
		name  string
		touch func(i int) session.Touch
	}{
		{"NoTouch", func(int) session.Touch { return session.Touch{} }},
		{"TouchNoWrite", touch},
		{"TouchWrite", write},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := New(func() time.Time { return start })
			defer s.Close()
			ctx := context.Background()
			if err := s.Put(ctx, r); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := s.Get(ctx, "s1", c.touch(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDue100k is one sweep's read of a store holding 100,000
// sessions of which 1% are due: the scan holds the read lock, so its
// length is what a request's touch may wait behind once per sweep.
func BenchmarkDue100k(b *testing.B) {
	start := time.Now()
	s := New(func() time.Time { return start })
	defer s.Close()
	ctx := context.Background()
	for i := range 100_000 {
		exp := start.Add(2 * time.Hour)
		if i%100 == 0 {
			exp = start.Add(30 * time.Minute)
		}
		r := session.Record{ID: fmt.Sprint("s", i), UserID: fmt.Sprint("u", i%5000), Data: make([]byte, 64),
			Created: start, LastSeen: start, Expires: exp}
		if err := s.Put(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		rs, err := s.Due(ctx, start.Add(time.Hour), 500)
		if err != nil || len(rs) != 500 {
			b.Fatalf("Due = %d, %v", len(rs), err)
		}
	}
}
