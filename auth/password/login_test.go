package password

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/lockout"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

const (
	alicePW = "correct horse battery staple"
	window  = 15 * time.Minute
)

// clock is an injected clock safe to read from the memory store's janitor.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// counters is what the tests need of the session store.
type counters interface {
	lockout.Store
	session.Counter
}

// recorder passes through to the real memory store and remembers which
// keys were used, so a test can check no username reaches the store.
type recorder struct {
	counters
	mu   sync.Mutex
	keys []string
}

func (r *recorder) Reserve(ctx context.Context, key string, limit int64, w time.Duration) (session.Reservation, error) {
	r.note(key)
	return r.counters.Reserve(ctx, key, limit, w)
}

func (r *recorder) Release(ctx context.Context, key string, res session.Reservation) error {
	r.note(key)
	return r.counters.Release(ctx, key, res)
}

func (r *recorder) Reset(ctx context.Context, key string) error {
	r.note(key)
	return r.counters.Reset(ctx, key)
}

func (r *recorder) note(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, key)
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys)
}

type loginEnv struct {
	auth     *Authenticator
	dir      *sqldir.DB
	store    *memory.Store
	counters *recorder
	clock    *clock
	alice    *directory.User
}

// newLoginEnv opens a real SQLite directory holding alice (password
// alicePW), bob (disabled, password alicePW) and carol (no password).
func newLoginEnv(t *testing.T, l Limits) *loginEnv {
	t.Helper()
	ctx := t.Context()
	dir, err := sqldir.Open(ctx, sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)})
	if err != nil {
		t.Fatalf("open directory: %v", err)
	}
	t.Cleanup(func() { dir.Close() })
	clk := newClock()
	store := memory.New(clk.Now)
	t.Cleanup(func() { store.Close() })
	h := NewHasher(testParams, 2)
	hash, err := h.Hash(ctx, alicePW)
	if err != nil {
		t.Fatal(err)
	}
	users := []*directory.User{
		{Username: "Alice", Email: "alice@example.com", DisplayName: "Alice A", PasswordHash: hash, Role: "sales", Groups: []string{"east", "west"}},
		{Username: "bob", PasswordHash: hash, Role: "sales", Disabled: true},
		{Username: "carol", Role: "sales"},
	}
	for _, u := range users {
		if err := dir.CreateUser(ctx, u); err != nil {
			t.Fatalf("create user %s: %v", u.Username, err)
		}
	}
	rec := &recorder{counters: store}
	return &loginEnv{auth: NewAuthenticator(dir, h, rec, l), dir: dir, store: store, counters: rec, clock: clk, alice: users[0]}
}

var roomy = Limits{AccountAttempts: 100, IPAttempts: 100, Window: window}

func TestAuthenticateSuccess(t *testing.T) {
	e := newLoginEnv(t, roomy)
	for _, name := range []string{"alice", "Alice", "  ALICE\t", "\naLiCe "} {
		id, err := e.auth.Authenticate(t.Context(), name, alicePW, "192.0.2.1")
		if err != nil {
			t.Fatalf("Authenticate(%q): %v", name, err)
		}
		want := auth.Identity{UserID: e.alice.ID, Username: "alice", Email: "alice@example.com", DisplayName: "Alice A",
			Role: "sales", Groups: []string{"east", "west"}, Methods: []string{auth.MethodPassword}}
		if id.UserID != want.UserID || id.Username != want.Username || id.Email != want.Email ||
			id.DisplayName != want.DisplayName || id.Role != want.Role ||
			!slices.Equal(id.Groups, want.Groups) || !slices.Equal(id.Methods, want.Methods) {
			t.Errorf("Authenticate(%q): got %+v, want %+v", name, id, want)
		}
	}
}

func TestAuthenticateRefused(t *testing.T) {
	tests := []struct {
		name, username, pw string
		reason             string
		withUserID         bool
	}{
		{"unknown user", "mallory", alicePW, "unknown_user", false},
		{"empty username", "  ", alicePW, "unknown_user", false},
		{"wrong password", "alice", "Correct horse battery staple", "wrong_password", true},
		{"empty password", "alice", "", "wrong_password", true},
		{"password too long", "alice", strings.Repeat("a", MaxLength+1), "unknown_user", false},
		{"disabled, right password", "bob", alicePW, "disabled", true},
		{"disabled, wrong password", "bob", "nope nope", "wrong_password", true},
		{"no local password", "carol", "", "no_password", true},
		{"no local password, any guess", "carol", alicePW, "no_password", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newLoginEnv(t, roomy)
			id, err := e.auth.Authenticate(t.Context(), tc.username, tc.pw, "192.0.2.1")
			if !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("got identity %+v, error %v, want ErrInvalidCredentials", id, err)
			}
			if errors.Is(err, auth.ErrLockedOut) {
				t.Errorf("got %v, want no ErrLockedOut", err)
			}
			var f *auth.Failure
			if !errors.As(err, &f) {
				t.Fatalf("got %T, want *auth.Failure", err)
			}
			if f.Reason != tc.reason {
				t.Errorf("Reason: got %q, want %q", f.Reason, tc.reason)
			}
			if got := f.UserID != ""; got != tc.withUserID {
				t.Errorf("UserID: got %q, want set=%v", f.UserID, tc.withUserID)
			}
			if strings.Contains(err.Error(), tc.pw) && tc.pw != "" {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

// TestAuthenticateLockoutAccount: AccountAttempts failures lock the name
// (existing or not) even against the right password, from any IP, until
// the window ends.
func TestAuthenticateLockoutAccount(t *testing.T) {
	for name, base := range map[string]string{"alice": "wrong_password", "nobody": "unknown_user"} {
		t.Run(name, func(t *testing.T) {
			e := newLoginEnv(t, Limits{AccountAttempts: 3, IPAttempts: 100, Window: window})
			ctx := t.Context()
			for i, want := range []string{base, base, base + ",locked_out"} {
				_, err := e.auth.Authenticate(ctx, name, "wrong guess", fmt.Sprintf("192.0.2.%d", i+1))
				var f *auth.Failure
				if !errors.As(err, &f) || !errors.Is(err, auth.ErrInvalidCredentials) || f.Reason != want {
					t.Fatalf("failure %d: got %v, want ErrInvalidCredentials with reason %q", i+1, err, want)
				}
			}
			_, err := e.auth.Authenticate(ctx, strings.ToUpper(name), alicePW, "198.51.100.9")
			if !errors.Is(err, auth.ErrLockedOut) || errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("right password while locked: got %v, want ErrLockedOut only", err)
			}
			e.clock.Advance(window - time.Second)
			if _, err := e.auth.Authenticate(ctx, name, alicePW, "198.51.100.9"); !errors.Is(err, auth.ErrLockedOut) {
				t.Fatalf("1s before the window ends: got %v, want ErrLockedOut", err)
			}
			e.clock.Advance(time.Second)
			_, err = e.auth.Authenticate(ctx, name, alicePW, "198.51.100.9")
			switch {
			case name == "alice" && err != nil:
				t.Errorf("after the window: got %v, want success", err)
			case name == "nobody" && !errors.Is(err, auth.ErrInvalidCredentials):
				t.Errorf("after the window: got %v, want ErrInvalidCredentials", err)
			}
		})
	}
}

// TestAuthenticateLockoutIP: one client IP guessing across many names is
// stopped by the IP limit, while other IPs still log in.
func TestAuthenticateLockoutIP(t *testing.T) {
	e := newLoginEnv(t, Limits{AccountAttempts: 100, IPAttempts: 3, Window: window})
	ctx := t.Context()
	const attacker = "203.0.113.7"
	for _, name := range []string{"u1", "u2", "alice"} {
		if _, err := e.auth.Authenticate(ctx, name, "guess guess", attacker); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("guess for %s: got %v, want ErrInvalidCredentials", name, err)
		}
	}
	if _, err := e.auth.Authenticate(ctx, "alice", alicePW, attacker); !errors.Is(err, auth.ErrLockedOut) {
		t.Errorf("right password from the locked IP: got %v, want ErrLockedOut", err)
	}
	if _, err := e.auth.Authenticate(ctx, "alice", alicePW, "192.0.2.1"); err != nil {
		t.Errorf("right password from another IP: got %v, want success", err)
	}
	e.clock.Advance(window)
	if _, err := e.auth.Authenticate(ctx, "alice", alicePW, attacker); err != nil {
		t.Errorf("right password from the IP after the window: got %v, want success", err)
	}
}

// TestAuthenticateSuccessResetsAccountOnly: a success clears the account's
// failures but not the IP's, so an attacker cannot launder guesses from
// one IP through a login of their own.
func TestAuthenticateSuccessResetsAccountOnly(t *testing.T) {
	e := newLoginEnv(t, Limits{AccountAttempts: 3, IPAttempts: 5, Window: window})
	ctx := t.Context()
	const ip = "192.0.2.1"
	for range 2 {
		e.auth.Authenticate(ctx, "alice", "wrong guess", ip)
	}
	if _, err := e.auth.Authenticate(ctx, "alice", alicePW, ip); err != nil {
		t.Fatalf("login: %v", err)
	}
	acct, _ := e.store.Count(ctx, lockout.Account("alice", 0).Name)
	byIP, _ := e.store.Count(ctx, "login:ip:"+ip)
	if acct != 0 || byIP != 2 {
		t.Errorf("after success: got account count %d, IP count %d, want 0, 2", acct, byIP)
	}
	for range 2 {
		e.auth.Authenticate(ctx, "alice", "wrong guess", ip)
	}
	if _, err := e.auth.Authenticate(ctx, "alice", alicePW, ip); err != nil {
		t.Errorf("2 failures after the reset: got %v, want success", err)
	}
	e.auth.Authenticate(ctx, "alice", "wrong guess", ip) // IP's 5th failure
	if _, err := e.auth.Authenticate(ctx, "alice", alicePW, ip); !errors.Is(err, auth.ErrLockedOut) {
		t.Errorf("after the IP's 5th failure: got %v, want ErrLockedOut", err)
	}
}

// TestAuthenticateCaseInsensitiveLockout: spelling a name differently does
// not buy an attacker a fresh counter.
func TestAuthenticateCaseInsensitiveLockout(t *testing.T) {
	e := newLoginEnv(t, Limits{AccountAttempts: 3, IPAttempts: 100, Window: window})
	ctx := t.Context()
	for _, name := range []string{"Alice", " alice", "ALICE\t"} {
		e.auth.Authenticate(ctx, name, "wrong guess", "192.0.2.1")
	}
	if _, err := e.auth.Authenticate(ctx, "alice", alicePW, "192.0.2.1"); !errors.Is(err, auth.ErrLockedOut) {
		t.Errorf("after 3 failures under 3 spellings: got %v, want ErrLockedOut", err)
	}
}

// TestCounterKeysHideUsername: usernames are personal data and must not
// appear in the session store's keys.
func TestCounterKeysHideUsername(t *testing.T) {
	e := newLoginEnv(t, roomy)
	ctx := t.Context()
	e.auth.Authenticate(ctx, "Wilhelmina.Schmidt", "wrong guess", "192.0.2.1")
	e.auth.Authenticate(ctx, "alice", "wrong guess", "192.0.2.1")
	e.auth.Authenticate(ctx, "alice", alicePW, "192.0.2.1")
	keys := e.counters.seen()
	if len(keys) == 0 {
		t.Fatal("got no counter keys, want some")
	}
	for _, k := range keys {
		if l := strings.ToLower(k); strings.Contains(l, "wilhelmina") || strings.Contains(l, "alice") {
			t.Errorf("counter key %q contains a username", k)
		}
	}
}

// TestAuthenticateDirectoryOutage: a directory outage is reported as
// such, never as bad credentials (the caller fails closed with a 503).
func TestAuthenticateDirectoryOutage(t *testing.T) {
	e := newLoginEnv(t, roomy)
	e.dir.Close()
	_, err := e.auth.Authenticate(t.Context(), "alice", alicePW, "192.0.2.1")
	if !errors.Is(err, directory.ErrUnavailable) || errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("closed directory: got %v, want ErrUnavailable only", err)
	}
}

// TestExpiredPasswordRefused: a password past its expiry (the first
// admin's generated one, review finding F12) is refused like a wrong one,
// and works up to the moment it expires.
func TestExpiredPasswordRefused(t *testing.T) {
	l := roomy
	e := newLoginEnv(t, l)
	e.auth.limits.Now = e.clock.Now
	e.alice.PasswordExpires = e.clock.Now().Add(time.Hour)
	if err := e.dir.UpdateUser(t.Context(), e.alice); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Authenticate(t.Context(), "alice", alicePW, "192.0.2.1"); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	e.clock.Advance(61 * time.Minute)
	_, err := e.auth.Authenticate(t.Context(), "alice", alicePW, "192.0.2.1")
	var f *auth.Failure
	if !errors.Is(err, auth.ErrInvalidCredentials) || !errors.As(err, &f) || f.Reason != "password_expired" {
		t.Fatalf("after expiry: %v, want an invalid-credentials failure with reason password_expired", err)
	}
}
