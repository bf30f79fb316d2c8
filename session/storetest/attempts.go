package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/session"
)

// testReserve: Reserve counts up to the limit and no further, shares its
// counter with Count and Reset, and Release gives one back.
func testReserve(t *testing.T, e env) {
	for want := int64(1); want <= 3; want++ {
		r := reserve(t, e, "k", 3, time.Hour)
		if !r.Taken || r.Count != want {
			t.Fatalf("Reserve #%d: got %+v, want taken with count %d", want, r, want)
		}
	}
	spent := reserve(t, e, "k", 3, time.Hour)
	if spent.Taken || spent.Count != 3 {
		t.Fatalf("Reserve past the limit: got %+v, want not taken with count 3", spent)
	}
	if n := count(t, e, "k"); n != 3 {
		t.Errorf("Count after a refused Reserve: got %d, want 3 (a refusal adds nothing)", n)
	}
	// A higher limit on the same key sees the same count.
	if r := reserve(t, e, "k", 5, time.Hour); !r.Taken || r.Count != 4 {
		t.Errorf("Reserve with limit 5: got %+v, want taken with count 4", r)
	}
	last := reserve(t, e, "k", 5, time.Hour)
	release(t, e, "k", last)
	if n := count(t, e, "k"); n != 4 {
		t.Errorf("Count after Release: got %d, want 4", n)
	}
	release(t, e, "k", spent) // not taken: gives nothing back
	if n := count(t, e, "k"); n != 4 {
		t.Errorf("Count after releasing a refused reservation: got %d, want 4", n)
	}
	if incr(t, e, "k", time.Hour) != 5 {
		t.Error("Incr after Reserve: want it to count on from the same value")
	}
	if err := e.b.Reset(e.ctx, "k"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if r := reserve(t, e, "k", 1, time.Hour); !r.Taken || r.Count != 1 {
		t.Errorf("Reserve after Reset: got %+v, want taken with count 1", r)
	}
}

// testReleaseNeverBelowZero: a release after the counter was reset neither
// creates the key nor takes it below zero.
func testReleaseNeverBelowZero(t *testing.T, e env) {
	r := reserve(t, e, "k", 5, time.Hour)
	if err := e.b.Reset(e.ctx, "k"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	release(t, e, "k", r)
	release(t, e, "k", r)
	if n := count(t, e, "k"); n != 0 {
		t.Errorf("Count after releasing into a reset counter: got %d, want 0", n)
	}
	for want := int64(1); want <= 2; want++ {
		if got := reserve(t, e, "k", 2, time.Hour); !got.Taken || got.Count != want {
			t.Errorf("Reserve #%d after the releases: got %+v, want taken with count %d", want, got, want)
		}
	}
	if got := reserve(t, e, "k", 2, time.Hour); got.Taken {
		t.Errorf("Reserve past the limit after the releases: got %+v, want refused", got)
	}
}

// testReleaseAfterWindow: an attempt reserved in one window is not given
// back to the next one; otherwise racing the window's end would buy an
// attacker attempts beyond the limit.
func testReleaseAfterWindow(t *testing.T, e env) {
	old := reserve(t, e, "k", 3, window)
	e.clock.Advance(window)
	eventually(t, "counter window over", func() (bool, error) {
		n, err := e.b.Count(e.ctx, "k")
		return n == 0, err
	})
	fresh := reserve(t, e, "k", 3, time.Hour)
	if !fresh.Taken || fresh.Count != 1 {
		t.Fatalf("Reserve in the new window: got %+v, want taken with count 1", fresh)
	}
	if fresh.Window == old.Window {
		t.Fatalf("two windows share the identity %d", old.Window)
	}
	release(t, e, "k", old)
	if n := count(t, e, "k"); n != 1 {
		t.Errorf("Count after releasing an old window's reservation: got %d, want 1", n)
	}
}

// testConcurrentReserve: of many racing reservations exactly limit are
// taken. This is what keeps a lockout from being outrun by parallel
// requests.
func testConcurrentReserve(t *testing.T, e env) {
	const n, limit = 40, 5
	taken := make(chan bool, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			r, err := e.b.Reserve(e.ctx, "k", limit, time.Hour)
			if err != nil {
				t.Errorf("Reserve: %v", err)
			}
			taken <- r.Taken
		})
	}
	close(start)
	wg.Wait()
	close(taken)
	got := 0
	for ok := range taken {
		if ok {
			got++
		}
	}
	if got != limit {
		t.Errorf("%d concurrent Reserves with limit %d: %d taken, want exactly %d", n, limit, got, limit)
	}
	if c := count(t, e, "k"); c != limit {
		t.Errorf("Count: got %d, want %d", c, limit)
	}
}

// testWatermark: a mark only rises; equal and lower values are refused;
// keys are independent.
func testWatermark(t *testing.T, e env) {
	steps := []struct {
		key  string
		v    int64
		want bool
	}{
		{"k", 56_666_667, true},
		{"k", 56_666_667, false},
		{"k", 56_666_666, false},
		{"other", 3, true},
		{"k", 56_666_668, true},
		{"k", 56_666_667, false},
		{"neg", -5, true},
		{"neg", -6, false},
		{"neg", 0, true},
		{"big", 1 << 53, true},
		{"big", 1<<53 - 1, false},
	}
	for _, s := range steps {
		if got := setIfGreater(t, e, s.key, s.v, time.Hour); got != s.want {
			t.Errorf("SetIfGreater(%s, %d): got %v, want %v", s.key, s.v, got, s.want)
		}
	}
	for _, v := range []int64{1<<53 + 1, -(1<<53 + 1)} {
		if _, err := e.b.SetIfGreater(e.ctx, "k", v, time.Hour); err == nil {
			t.Errorf("SetIfGreater(%d): got nil error, want out of range", v)
		}
	}
}

// testWatermarkTTL: a mark is forgotten ttl after it was last raised.
func testWatermarkTTL(t *testing.T, e env) {
	setIfGreater(t, e, "k", 10, time.Hour)
	setIfGreater(t, e, "k", 11, window) // the raise sets the TTL
	e.clock.Advance(window)
	eventually(t, "mark expired", func() (bool, error) {
		return e.b.SetIfGreater(e.ctx, "k", 1, time.Hour)
	})
	if setIfGreater(t, e, "k", 1, time.Hour) {
		t.Error("SetIfGreater of the same value after expiry and reset: got true, want false")
	}
}

// testConcurrentWatermark: racing raises to one value store it once, and
// racing raises to many values leave the largest.
func testConcurrentWatermark(t *testing.T, e env) {
	const n = 20
	stored := make(chan bool, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			ok, err := e.b.SetIfGreater(e.ctx, "same", 7, time.Hour)
			if err != nil {
				t.Errorf("SetIfGreater: %v", err)
			}
			stored <- ok
			if _, err := e.b.SetIfGreater(e.ctx, "rising", int64(i), time.Hour); err != nil {
				t.Errorf("SetIfGreater: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(stored)
	won := 0
	for ok := range stored {
		if ok {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent SetIfGreater of one value stored %d times, want exactly 1", n, won)
	}
	if setIfGreater(t, e, "rising", n-1, time.Hour) {
		t.Errorf("after concurrent raises to 0..%d: %d was accepted, want the mark at %d", n-1, n-1, n-1)
	}
	if !setIfGreater(t, e, "rising", n, time.Hour) {
		t.Errorf("after concurrent raises to 0..%d: %d was refused", n-1, n)
	}
}

func testAttemptsInvalidArguments(t *testing.T, e env) {
	if _, err := e.b.Reserve(e.ctx, "k", 1, 0); err == nil {
		t.Error("Reserve(window 0): got nil error, want one")
	}
	if _, err := e.b.Reserve(e.ctx, "k", 0, time.Hour); err == nil {
		t.Error("Reserve(limit 0): got nil error, want one")
	}
	if _, err := e.b.SetIfGreater(e.ctx, "k", 1, 0); err == nil {
		t.Error("SetIfGreater(ttl 0): got nil error, want one")
	}
}

func reserve(t *testing.T, e env, key string, limit int64, w time.Duration) session.Reservation {
	t.Helper()
	r, err := e.b.Reserve(e.ctx, key, limit, w)
	if err != nil {
		t.Fatalf("Reserve(%s): %v", key, err)
	}
	return r
}

func release(t *testing.T, e env, key string, r session.Reservation) {
	t.Helper()
	if err := e.b.Release(e.ctx, key, r); err != nil {
		t.Fatalf("Release(%s): %v", key, err)
	}
}

func setIfGreater(t *testing.T, e env, key string, v int64, ttl time.Duration) bool {
	t.Helper()
	ok, err := e.b.SetIfGreater(e.ctx, key, v, ttl)
	if err != nil {
		t.Fatalf("SetIfGreater(%s, %d): %v", key, v, err)
	}
	return ok
}
