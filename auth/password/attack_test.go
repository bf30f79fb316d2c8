package password

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/lockout"
	"github.com/gatehouse-auth/gatehouse/session/memory"
	"github.com/gatehouse-auth/gatehouse/session/redis"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

// checkedUsers counts lookups: every login that gets past the lockout
// looks its user up once, right before the password hash, so the count is
// the number of guesses that were actually checked.
type checkedUsers struct {
	directory.Users
	n atomic.Int32
}

func (c *checkedUsers) UserByUsername(ctx context.Context, name string) (*directory.User, error) {
	c.n.Add(1)
	return c.Users.UserByUsername(ctx, name)
}

// sharedStores are the real backends a lockout must hold on: the
// in-process store and Redis, which replicas share. Both use real time.
func sharedStores(t *testing.T) map[string]func(t *testing.T) counters {
	return map[string]func(t *testing.T) counters{
		"memory": func(t *testing.T) counters {
			s := memory.New(nil)
			t.Cleanup(func() { s.Close() })
			return s
		},
		"redis": func(t *testing.T) counters {
			s, err := redis.New(t.Context(), redis.Config{Addrs: []string{storetest.RedisAddr(t)}, KeyPrefix: storetest.RedisPrefix(t)})
			if err != nil {
				t.Fatalf("redis.New: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// TestLockoutHoldsUnderConcurrentWrongPasswords fires many wrong
// passwords for one account at once, as a botnet would, from different
// addresses. The limit used to be read before the hash and counted after
// it, so every one of them was checked; now at most the limit may be, the
// rest are refused unchecked, and afterwards even the right password is
// refused until the window ends.
func TestLockoutHoldsUnderConcurrentWrongPasswords(t *testing.T) {
	for name, open := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			e := newLoginEnv(t, roomy)
			store := open(t)
			users := &checkedUsers{Users: e.dir}
			const limit, n = 5, 48
			a := NewAuthenticator(users, NewHasher(testParams, 2), store, Limits{AccountAttempts: limit, IPAttempts: 1000, Window: window})
			var (
				wg              sync.WaitGroup
				start           = make(chan struct{})
				refused, locked atomic.Int32
			)
			for i := range n {
				wg.Go(func() {
					<-start
					_, err := a.Authenticate(t.Context(), "alice", fmt.Sprintf("guess %d", i), fmt.Sprintf("198.51.100.%d", i))
					switch {
					case errors.Is(err, auth.ErrLockedOut):
						locked.Add(1)
					case errors.Is(err, auth.ErrInvalidCredentials):
						refused.Add(1)
					default:
						t.Errorf("wrong password: got %v, want a refusal", err)
					}
				})
			}
			close(start)
			wg.Wait()
			if got := users.n.Load(); got > limit {
				t.Errorf("%d concurrent wrong passwords: %d were checked, want at most %d", n, got, limit)
			}
			if r, l := refused.Load(), locked.Load(); r != limit || l != n-limit {
				t.Errorf("got %d refused as wrong and %d locked out, want %d and %d", r, l, limit, n-limit)
			}
			if _, err := a.Authenticate(t.Context(), "alice", alicePW, "192.0.2.200"); !errors.Is(err, auth.ErrLockedOut) {
				t.Errorf("right password after the burst: got %v, want ErrLockedOut", err)
			}
			if c, err := store.Count(t.Context(), lockout.Account("alice", 0).Name); err != nil || c != limit {
				t.Errorf("account counter: got %d, %v, want %d", c, err, limit)
			}
		})
	}
}

// TestLockoutHoldsUnderConcurrentGuessesFromOneIP: the per-IP limit holds
// the same way for a stuffing run across many names from one address.
func TestLockoutHoldsUnderConcurrentGuessesFromOneIP(t *testing.T) {
	for name, open := range sharedStores(t) {
		t.Run(name, func(t *testing.T) {
			e := newLoginEnv(t, roomy)
			users := &checkedUsers{Users: e.dir}
			const limit, n = 4, 40
			a := NewAuthenticator(users, NewHasher(testParams, 2), open(t), Limits{AccountAttempts: 1000, IPAttempts: limit, Window: window})
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					a.Authenticate(t.Context(), fmt.Sprintf("user%d", i), "guess guess", "203.0.113.66")
				})
			}
			close(start)
			wg.Wait()
			if got := users.n.Load(); got > limit {
				t.Errorf("%d concurrent guesses from one IP: %d were checked, want at most %d", n, got, limit)
			}
			if _, err := a.Authenticate(t.Context(), "alice", alicePW, "203.0.113.66"); !errors.Is(err, auth.ErrLockedOut) {
				t.Errorf("right password from the IP after the burst: got %v, want ErrLockedOut", err)
			}
		})
	}
}

// TestLockoutRefusalCountsNothing: attempts against a locked account do
// not also spend the client IP's budget (an office whose user keeps
// trying a locked account must not lock out the whole office), and a
// success gives its IP attempt back.
func TestLockoutRefusalCountsNothing(t *testing.T) {
	e := newLoginEnv(t, Limits{AccountAttempts: 2, IPAttempts: 5, Window: window})
	ctx := t.Context()
	const office = "192.0.2.10"
	for range 2 {
		e.auth.Authenticate(ctx, "mallory", "guess guess", "203.0.113.1")
	}
	for range 10 {
		if _, err := e.auth.Authenticate(ctx, "mallory", "guess guess", office); !errors.Is(err, auth.ErrLockedOut) {
			t.Fatalf("locked account: got %v, want ErrLockedOut", err)
		}
	}
	for range 3 {
		if _, err := e.auth.Authenticate(ctx, "alice", alicePW, office); err != nil {
			t.Fatalf("alice from the office: %v", err)
		}
	}
	if n, _ := e.store.Count(ctx, lockout.ClientIP(office, 0).Name); n != 0 {
		t.Errorf("office IP counter: got %d, want 0 (refusals and successes count nothing)", n)
	}
}

// TestHashQueueFloodRefusedAtOnce: with every hashing slot busy and the
// queue full, a further Verify is refused at once with ErrBusy (which the
// gateway answers with 429) instead of joining an unbounded queue.
func TestHashQueueFloodRefusedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := NewHasherQueue(testParams, 1, 2)
		encoded, err := h.Hash(t.Context(), "aaaaaaaa")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		queued := []<-chan error{
			verifyInBackground(t.Context(), h, encoded, "aaaaaaaa"),
			verifyInBackground(t.Context(), h, encoded, "aaaaaaaa"),
		}
		synctest.Wait()
		ok, err := h.Verify(t.Context(), encoded, "aaaaaaaa")
		if ok || !errors.Is(err, ErrBusy) || !errors.Is(err, auth.ErrLockedOut) {
			t.Fatalf("Verify with the queue full: got %v, %v, want false, ErrBusy wrapping auth.ErrLockedOut", ok, err)
		}
		if _, err := h.Hash(t.Context(), "aaaaaaaa"); !errors.Is(err, ErrBusy) {
			t.Errorf("Hash with the queue full: got %v, want ErrBusy", err)
		}
		h.release()
		for i, done := range queued {
			if err := <-done; err != nil {
				t.Errorf("queued Verify %d: %v, want success once slots free", i, err)
			}
		}
		if ok, err := h.Verify(t.Context(), encoded, "aaaaaaaa"); !ok || err != nil {
			t.Errorf("Verify after the queue drained: got %v, %v, want true, nil", ok, err)
		}
	})
}

// TestLoginWhileHashQueueFullIsRefusedNotCounted: a login arriving while
// the hash queue is full is answered at once as "too many attempts", and
// the attempt it reserved is given back: it was never checked, so it must
// not spend the account's budget.
func TestLoginWhileHashQueueFullIsRefusedNotCounted(t *testing.T) {
	e := newLoginEnv(t, roomy)
	h := NewHasherQueue(testParams, 1, 1)
	a := NewAuthenticator(e.dir, h, e.store, Limits{AccountAttempts: 2, IPAttempts: 2, Window: window})
	ctx := t.Context()
	if err := h.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	queued := verifyInBackground(ctx, h, e.alice.PasswordHash, alicePW)
	for deadline := time.Now().Add(5 * time.Second); h.waiting.Load() != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the background Verify never queued")
		}
		time.Sleep(time.Millisecond)
	}
	for range 3 {
		begin := time.Now()
		_, err := a.Authenticate(ctx, "alice", alicePW, "192.0.2.1")
		var f *auth.Failure
		if !errors.Is(err, auth.ErrLockedOut) || !errors.As(err, &f) || f.Reason != "busy" {
			t.Fatalf("login with the queue full: got %v, want ErrLockedOut with reason busy", err)
		}
		if d := time.Since(begin); d > time.Second {
			t.Errorf("login with the queue full took %v, want an answer at once", d)
		}
	}
	for _, k := range []lockout.Key{lockout.Account("alice", 0), lockout.ClientIP("192.0.2.1", 0)} {
		if n, _ := e.store.Count(ctx, k.Name); n != 0 {
			t.Errorf("counter %s after busy refusals: got %d, want 0", k.Name, n)
		}
	}
	h.release()
	if err := <-queued; err != nil {
		t.Fatalf("queued Verify: %v", err)
	}
	if _, err := a.Authenticate(ctx, "alice", alicePW, "192.0.2.1"); err != nil {
		t.Errorf("login once the queue drained: %v", err)
	}
}
