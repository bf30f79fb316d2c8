// Package storetest is the one conformance suite for session.Backend: every
// backend's test calls RunTests, so the memory and Redis stores are held to
// the same contract (Dex's storage/conformance is the model).
//
// # Clocks
//
// Each subtest gets a fresh backend and a fake clock that starts at the real
// time.Now() (truncated to milliseconds, the precision Redis keeps) and only
// moves forward. The memory backend reads that clock for every expiry
// decision; Redis cannot, because its TTLs run on the server's real clock.
// The suite is therefore written so both pass on the same assertions:
//
//   - "already expired" is tested with Expires in the real past, which both
//     clocks agree on;
//   - "expired since" is tested by advancing the fake clock and calling Get
//     with a Touch whose Now is that clock: every backend must treat a
//     record whose Expires is not after Touch.Now as absent;
//   - Touch arithmetic only involves Touch.Now and stored fields, and every
//     Expires it produces lies in the real future, so Redis keeps the key;
//   - counter windows, nonce and watermark TTLs are short (100ms) and checked by
//     advancing the fake clock and then polling: the memory backend answers
//     at the first poll, Redis after the window has passed in real time.
//     That is the only waiting the suite does, and it is bounded.
package storetest

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/session"
)

// RunTests runs the conformance suite. newBackend must return an empty
// backend (or one whose keys do not collide between calls) that reads now
// for expiry where it can; the suite closes it at the end of each subtest.
func RunTests(t *testing.T, newBackend func(t *testing.T, now func() time.Time) session.Backend) {
	tests := []struct {
		name string
		run  func(*testing.T, env)
	}{
		{"PutGet", testPutGet},
		{"PutReplaces", testPutReplaces},
		{"SlicesNotShared", testSlicesNotShared},
		{"GetMissing", testGetMissing},
		{"DeleteIdempotent", testDelete},
		{"ExpiredAtPut", testExpiredAtPut},
		{"ExpiredByTouchClock", testExpiredByTouchClock},
		{"Touch", testTouch},
		{"ZeroTouchNeverWrites", testZeroTouch},
		{"ConcurrentTouch", testConcurrentTouch},
		{"ListUser", testListUser},
		{"DeleteUser", testDeleteUser},
		{"InvalidArguments", testInvalidArguments},
		{"Counter", testCounter},
		{"CounterWindow", testCounterWindow},
		{"ConcurrentIncr", testConcurrentIncr},
		{"Reserve", testReserve},
		{"ReleaseNeverBelowZero", testReleaseNeverBelowZero},
		{"ReleaseAfterWindow", testReleaseAfterWindow},
		{"ConcurrentReserve", testConcurrentReserve},
		{"AttemptsInvalidArguments", testAttemptsInvalidArguments},
		{"Watermark", testWatermark},
		{"WatermarkTTL", testWatermarkTTL},
		{"ConcurrentWatermark", testConcurrentWatermark},
		{"Nonces", testNonces},
		{"NonceTTL", testNonceTTL},
		{"ConcurrentPutOnce", testConcurrentPutOnce},
		{"Values", testValues},
		{"ValueTTL", testValueTTL},
		{"Ping", testPing},
		{"Claim", testClaim},
		{"ConcurrentClaim", testConcurrentClaim},
		{"Due", testDue},
		{"DueReschedule", testDueReschedule},
		{"DueBatch", testDueBatch},
		{"BusDeletesPublish", testBusDeletesPublish},
		{"BusPublish", testBusPublish},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			b := newBackend(t, c.Now)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.run(t, env{b: b, clock: c, ctx: t.Context()})
		})
	}
}

type env struct {
	b     session.Backend
	clock *clock
	ctx   context.Context
}

// clock is a fake clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Now().Truncate(time.Millisecond)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// eventually polls cond until it holds, for conditions that depend on a
// server's real-time TTL (see the package doc); it fails after 5s.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 5s", what)
		}
		<-time.After(5 * time.Millisecond)
	}
}

// record returns a live record of user created now, expiring in 2h.
func record(e env, id, userID string) session.Record {
	now := e.clock.Now()
	return session.Record{
		ID:       id,
		UserID:   userID,
		Data:     []byte("sealed\x00\xff" + id),
		Created:  now,
		LastSeen: now,
		Expires:  now.Add(2 * time.Hour),
		Meta: session.Meta{
			ClientIP:  "192.0.2.7",
			UserAgent: "Mozilla/5.0 (" + id + ")",
			Methods:   []string{"pwd", "otp"},
		},
	}
}

func put(t *testing.T, e env, r session.Record) {
	t.Helper()
	if err := e.b.Put(e.ctx, r); err != nil {
		t.Fatalf("Put(%q): %v", r.ID, err)
	}
}

func get(t *testing.T, e env, id string, tc session.Touch) session.Record {
	t.Helper()
	r, err := e.b.Get(e.ctx, id, tc)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return r
}

// sameRecord compares field by field: times by instant (Redis returns them
// in the local zone) and slices by content.
func sameRecord(t *testing.T, got, want session.Record) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID {
		t.Errorf("got id/user %q/%q, want %q/%q", got.ID, got.UserID, want.ID, want.UserID)
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("%s: got Data %q, want %q", want.ID, got.Data, want.Data)
	}
	times := []struct {
		name      string
		got, want time.Time
	}{
		{"Created", got.Created, want.Created},
		{"LastSeen", got.LastSeen, want.LastSeen},
		{"Expires", got.Expires, want.Expires},
	}
	for _, tt := range times {
		if !tt.got.Equal(tt.want) {
			t.Errorf("%s: got %s %v, want %v", want.ID, tt.name, tt.got, tt.want)
		}
	}
	if got.Meta.ClientIP != want.Meta.ClientIP || got.Meta.UserAgent != want.Meta.UserAgent ||
		!slices.Equal(got.Meta.Methods, want.Meta.Methods) {
		t.Errorf("%s: got Meta %+v, want %+v", want.ID, got.Meta, want.Meta)
	}
}
