package lockout

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
	"github.com/gatehouse-auth/gatehouse/session/redis"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

type store interface {
	Store
	Count(ctx context.Context, key string) (int64, error)
}

// stores are the real backends: in-process, and Redis shared by replicas.
func stores(t *testing.T) map[string]func(t *testing.T) store {
	return map[string]func(t *testing.T) store{
		"memory": func(t *testing.T) store {
			s := memory.New(nil)
			t.Cleanup(func() { s.Close() })
			return s
		},
		"redis": func(t *testing.T) store {
			s, err := redis.New(t.Context(), redis.Config{Addrs: []string{storetest.RedisAddr(t)}, KeyPrefix: storetest.RedisPrefix(t)})
			if err != nil {
				t.Fatalf("redis.New: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

func wantCount(t *testing.T, s store, k Key, want int64) {
	t.Helper()
	if n, err := s.Count(t.Context(), k.Name); err != nil || n != want {
		t.Errorf("count of %s: got %d, %v, want %d", k.Name, n, err, want)
	}
}

func TestAttemptLifecycle(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			l := New(s, time.Hour)
			ctx := t.Context()
			acct, ip := Account("alice", 3), ClientIP("192.0.2.1", 10)

			a, err := l.Reserve(ctx, acct, ip)
			if err != nil {
				t.Fatal(err)
			}
			if a.Failed() {
				t.Error("first failure: Failed reported the lock, want not yet")
			}
			a.Failed() // a second end does nothing
			wantCount(t, s, acct, 1)
			wantCount(t, s, ip, 1)

			a, _ = l.Reserve(ctx, acct, ip)
			if err := a.Cancel(ctx); err != nil {
				t.Fatal(err)
			}
			wantCount(t, s, acct, 1)
			wantCount(t, s, ip, 1)

			a, _ = l.Reserve(ctx, acct, ip)
			if err := a.Succeeded(ctx); err != nil {
				t.Fatal(err)
			}
			wantCount(t, s, acct, 0) // reset
			wantCount(t, s, ip, 1)   // only this attempt given back

			for i := range 3 {
				a, err := l.Reserve(ctx, acct, ip)
				if err != nil {
					t.Fatalf("reserve %d: %v", i+1, err)
				}
				if got := a.Failed(); got != (i == 2) {
					t.Errorf("failure %d: Failed = %v, want %v", i+1, got, i == 2)
				}
			}
			_, err = l.Reserve(ctx, acct, ip)
			if !errors.Is(err, ErrLocked) || !errors.Is(err, auth.ErrLockedOut) {
				t.Fatalf("reserve past the limit: got %v, want ErrLocked wrapping auth.ErrLockedOut", err)
			}
			wantCount(t, s, ip, 4) // the refusal took nothing from the IP
		})
	}
}

// TestRefusalByLaterKeyGivesEarlierBack: an address over its limit does
// not spend the account's budget either.
func TestRefusalByLaterKeyGivesEarlierBack(t *testing.T) {
	s := memory.New(nil)
	defer s.Close()
	l := New(s, time.Hour)
	ctx := t.Context()
	ip := ClientIP("203.0.113.9", 1)
	a, _ := l.Reserve(ctx, Account("bob", 5), ip)
	a.Failed()
	acct := Account("alice", 5)
	for range 4 {
		if _, err := l.Reserve(ctx, acct, ip); !errors.Is(err, ErrLocked) {
			t.Fatalf("reserve from the locked IP: got %v, want ErrLocked", err)
		}
	}
	wantCount(t, s, acct, 0)
}

// TestLimitHoldsUnderConcurrency: of many attempts racing on replicas
// sharing one store, exactly the limit are let through to be checked.
func TestLimitHoldsUnderConcurrency(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			const n, limit = 60, 5
			// Three "replicas": three limiters over one store.
			replicas := []*Limiter{New(s, time.Hour), New(s, time.Hour), New(s, time.Hour)}
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				checked atomic.Int32
			)
			for i := range n {
				wg.Go(func() {
					<-start
					a, err := replicas[i%3].Reserve(t.Context(), SecondFactor("u1", limit))
					switch {
					case err == nil:
						checked.Add(1)
						time.Sleep(10 * time.Millisecond) // the slow check
						a.Failed()
					case !errors.Is(err, ErrLocked):
						t.Errorf("Reserve: %v", err)
					}
				})
			}
			close(start)
			wg.Wait()
			if got := checked.Load(); got != limit {
				t.Errorf("%d concurrent attempts: %d let through, want exactly %d", n, got, limit)
			}
		})
	}
}

// failing is a store whose every call fails, as Redis does when down.
type failing struct{}

var errDown = errors.Join(session.ErrUnavailable, errors.New("connection refused"))

func (failing) Reserve(context.Context, string, int64, time.Duration) (session.Reservation, error) {
	return session.Reservation{}, errDown
}
func (failing) Release(context.Context, string, session.Reservation) error { return errDown }
func (failing) Reset(context.Context, string) error                        { return errDown }

func TestStoreOutageFailsClosed(t *testing.T) {
	_, err := New(failing{}, time.Hour).Reserve(t.Context(), Account("alice", 5))
	if !errors.Is(err, session.ErrUnavailable) || errors.Is(err, auth.ErrLockedOut) {
		t.Errorf("Reserve with the store down: got %v, want ErrUnavailable and no verdict", err)
	}
}

// TestKeysHideUsername: usernames are personal data; store keys are
// readable by anyone with access to Redis.
func TestKeysHideUsername(t *testing.T) {
	k := Account("wilhelmina.schmidt", 5)
	if k.Name == "login:acct:wilhelmina.schmidt" || len(k.Name) != len("login:acct:")+32 {
		t.Errorf("Account key %q: want a digest of the name", k.Name)
	}
	if Account("alice", 5).Name == Account("alice2", 5).Name {
		t.Error("two names share a key")
	}
}
