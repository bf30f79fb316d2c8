package storetest

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/session"
)

// window is short so Redis, whose TTLs run in real time, expires it quickly.
const window = 100 * time.Millisecond

func testCounter(t *testing.T, e env) {
	if n, err := e.b.Count(e.ctx, "k"); err != nil || n != 0 {
		t.Fatalf("Count(absent) = %d, %v; want 0, nil", n, err)
	}
	for want := int64(1); want <= 3; want++ {
		if got := incr(t, e, "k", time.Hour); got != want {
			t.Errorf("Incr #%d: got %d, want %d", want, got, want)
		}
	}
	incr(t, e, "other", time.Hour)
	if n := count(t, e, "k"); n != 3 {
		t.Errorf("Count: got %d, want 3", n)
	}
	if err := e.b.Reset(e.ctx, "k"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if n := count(t, e, "k"); n != 0 {
		t.Errorf("Count after Reset: got %d, want 0", n)
	}
	if n := count(t, e, "other"); n != 1 {
		t.Errorf("Count(other) after Reset(k): got %d, want 1", n)
	}
	if err := e.b.Reset(e.ctx, "absent"); err != nil {
		t.Errorf("Reset(absent): %v", err)
	}
	if n, err := e.b.IncrBy(e.ctx, "by", 5, window); err != nil || n != 5 {
		t.Fatalf("IncrBy(5) = %d, %v", n, err)
	}
	if n, err := e.b.IncrBy(e.ctx, "by", 3, window); err != nil || n != 8 {
		t.Fatalf("IncrBy(3) = %d, %v", n, err)
	}
	if _, err := e.b.IncrBy(e.ctx, "by", 0, window); err == nil {
		t.Error("IncrBy(0) accepted")
	}
	e.clock.Advance(window)
	eventually(t, "IncrBy window over", func() (bool, error) {
		n, err := e.b.Count(e.ctx, "by")
		return n == 0, err
	})
}

// testCounterWindow checks that the window starts at the first increment
// and later increments do not extend it.
func testCounterWindow(t *testing.T, e env) {
	incr(t, e, "k", window)
	e.clock.Advance(window / 2)
	if got := incr(t, e, "k", window); got != 2 {
		t.Fatalf("Incr inside window: got %d, want 2", got)
	}
	e.clock.Advance(window / 2)
	eventually(t, "counter window over", func() (bool, error) {
		n, err := e.b.Count(e.ctx, "k")
		return n == 0, err
	})
	if got := incr(t, e, "k", window); got != 1 {
		t.Errorf("Incr after window: got %d, want 1", got)
	}
}

func testConcurrentIncr(t *testing.T, e env) {
	got := make(chan int64, 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			n, err := e.b.Incr(e.ctx, "k", time.Hour)
			if err != nil {
				t.Errorf("Incr: %v", err)
			}
			got <- n
		})
	}
	wg.Wait()
	close(got)
	var seen []int64
	for n := range got {
		seen = append(seen, n)
	}
	slices.Sort(seen)
	for i, n := range seen {
		if n != int64(i+1) {
			t.Fatalf("concurrent Incr results %v, want 1..20 each once", seen)
		}
	}
	if n := count(t, e, "k"); n != 20 {
		t.Errorf("Count: got %d, want 20", n)
	}
}

func testNonces(t *testing.T, e env) {
	if !putOnce(t, e, "n", []byte("first"), time.Hour) {
		t.Fatal("first PutOnce: got false, want true")
	}
	if putOnce(t, e, "n", []byte("second"), time.Hour) {
		t.Error("second PutOnce: got true, want false")
	}
	for range 2 { // Peek leaves it
		if v, err := e.b.Peek(e.ctx, "n"); err != nil || !bytes.Equal(v, []byte("first")) {
			t.Fatalf("Peek = %q, %v; want \"first\", nil", v, err)
		}
	}
	v, err := e.b.Take(e.ctx, "n")
	if err != nil || !bytes.Equal(v, []byte("first")) {
		t.Fatalf("Take = %q, %v; want \"first\", nil", v, err)
	}
	if _, err := e.b.Peek(e.ctx, "n"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Peek after Take: got %v, want ErrNotFound", err)
	}
	if _, err := e.b.Take(e.ctx, "n"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("second Take: got %v, want ErrNotFound", err)
	}
	if _, err := e.b.Take(e.ctx, "never"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Take(never): got %v, want ErrNotFound", err)
	}
	if !putOnce(t, e, "n", nil, time.Hour) {
		t.Error("PutOnce after Take: got false, want true")
	}
}

func testNonceTTL(t *testing.T, e env) {
	value := []byte("v")
	putOnce(t, e, "n", value, window)
	value[0] = 'X' // the store kept its own copy
	e.clock.Advance(window)
	eventually(t, "nonce expired", func() (bool, error) {
		return e.b.PutOnce(e.ctx, "n", []byte("again"), time.Hour)
	})
	if v, err := e.b.Take(e.ctx, "n"); err != nil || string(v) != "again" {
		t.Errorf("Take = %q, %v; want \"again\", nil", v, err)
	}
}

func testConcurrentPutOnce(t *testing.T, e env) {
	stored := make(chan bool, 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ok, err := e.b.PutOnce(e.ctx, "n", []byte("v"), time.Hour)
			if err != nil {
				t.Errorf("PutOnce: %v", err)
			}
			stored <- ok
		})
	}
	wg.Wait()
	close(stored)
	n := 0
	for ok := range stored {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("concurrent PutOnce stored %d times, want exactly 1", n)
	}
}

func incr(t *testing.T, e env, key string, w time.Duration) int64 {
	t.Helper()
	n, err := e.b.Incr(e.ctx, key, w)
	if err != nil {
		t.Fatalf("Incr(%s): %v", key, err)
	}
	return n
}

func count(t *testing.T, e env, key string) int64 {
	t.Helper()
	n, err := e.b.Count(e.ctx, key)
	if err != nil {
		t.Fatalf("Count(%s): %v", key, err)
	}
	return n
}

func putOnce(t *testing.T, e env, key string, v []byte, ttl time.Duration) bool {
	t.Helper()
	ok, err := e.b.PutOnce(e.ctx, key, v, ttl)
	if err != nil {
		t.Fatalf("PutOnce(%s): %v", key, err)
	}
	return ok
}

func testValues(t *testing.T, e env) {
	if _, err := e.b.Value(e.ctx, "v"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Value(absent): got %v, want ErrNotFound", err)
	}
	value := []byte("first")
	if err := e.b.SetValue(e.ctx, "v", value, time.Hour); err != nil {
		t.Fatal(err)
	}
	value[0] = 'X' // the store kept its own copy
	for range 2 {  // reading does not consume
		if v, err := e.b.Value(e.ctx, "v"); err != nil || string(v) != "first" {
			t.Fatalf("Value = %q, %v; want \"first\", nil", v, err)
		}
	}
	if err := e.b.SetValue(e.ctx, "v", []byte("second"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, err := e.b.Value(e.ctx, "v"); err != nil || string(v) != "second" {
		t.Errorf("Value after replace = %q, %v; want \"second\", nil", v, err)
	}
	// Values and nonces are separate names: a nonce "v" is still unused.
	if !putOnce(t, e, "v", []byte("n"), time.Hour) {
		t.Error("PutOnce on a value's name: got false, want true")
	}
	if err := e.b.SetValue(e.ctx, "v", nil, 0); err == nil {
		t.Error("SetValue with ttl 0: got nil error")
	}
}

func testValueTTL(t *testing.T, e env) {
	if err := e.b.SetValue(e.ctx, "v", []byte("x"), window); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(window)
	eventually(t, "value expired", func() (bool, error) {
		_, err := e.b.Value(e.ctx, "v")
		if errors.Is(err, session.ErrNotFound) {
			return true, nil
		}
		return false, err
	})
}
