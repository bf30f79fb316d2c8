package session_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
	"github.com/gatehouse-auth/gatehouse/session/nearcache"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var limits = session.Limits{Absolute: 12 * time.Hour, Idle: 30 * time.Minute, Pending: 5 * time.Minute}

// newManagers returns two replicas over one memory store, each with its
// own Hub on the store's bus, both live before it returns.
func newManagers(t *testing.T, cacheTTL time.Duration) (*clock, *session.Manager, *session.Manager) {
	clk := &clock{t: time.Now()}
	st := memory.New(clk.Now)
	t.Cleanup(func() { st.Close() })
	var ms [2]*session.Manager
	for i := range ms {
		hub := liveHub(t, st, clk.Now)
		ms[i] = session.NewManager(st, session.Options{Now: clk.Now, CacheTTL: cacheTTL, Hub: hub})
	}
	return clk, ms[0], ms[1]
}

// liveHub runs a Hub on bus until the test ends and waits for it to trust
// its channel.
func liveHub(t *testing.T, bus nearcache.Bus, now func() time.Time) *nearcache.Hub {
	t.Helper()
	hub := nearcache.NewHub(bus, nearcache.Options{Now: now, Heartbeat: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(5 * time.Second); !hub.Trusted(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("hub never trusted its channel")
		}
	}
	return hub
}

func create(t *testing.T, m *session.Manager, s *session.Session) string {
	t.Helper()
	tk, err := m.Create(context.Background(), s, limits)
	if err != nil {
		t.Fatal(err)
	}
	return tk.Encode()
}

func TestManagerRoundTrip(t *testing.T) {
	_, m, _ := newManagers(t, 0)
	in := &session.Session{Identity: auth.Identity{UserID: "u1", Username: "alice", Methods: []string{"password"}}, ClientIP: "192.0.2.1"}
	cookie := create(t, m, in)
	got, err := m.Load(context.Background(), cookie, limits)
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity.Username != "alice" || got.ClientIP != "192.0.2.1" || got.ID != in.ID || !got.Authenticated() {
		t.Fatalf("got %+v", got)
	}
}

// TestRevocationReachesOtherReplicaAtOnce: replica B has the session
// cached; the revocation made through A evicts it there before Revoke
// returns (the memory bus delivers synchronously), with no clock moving.
func TestRevocationReachesOtherReplicaAtOnce(t *testing.T) {
	_, a, b := newManagers(t, 30*time.Second)
	s := &session.Session{Identity: auth.Identity{UserID: "u1", Username: "alice"}}
	cookie := create(t, a, s)
	if _, err := b.Load(context.Background(), cookie, limits); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Load(context.Background(), cookie, limits); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("revoking replica still accepts: %v", err)
	}
	if _, err := b.Load(context.Background(), cookie, limits); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("other replica right after the revocation: got %v, want ErrNotFound", err)
	}
}

// TestCacheDoesNotTrustForgedSecret: a cached session is not served to a
// cookie with the right id and a wrong secret.
func TestCacheDoesNotTrustForgedSecret(t *testing.T) {
	_, m, _ := newManagers(t, time.Second/2)
	s := &session.Session{Identity: auth.Identity{UserID: "u1"}}
	cookie := create(t, m, s)
	if _, err := m.Load(context.Background(), cookie, limits); err != nil {
		t.Fatal(err)
	}
	tk, _ := session.ParseTicket(cookie)
	forged := session.Ticket{ID: tk.ID, Secret: session.NewTicket().Secret}.Encode()
	if _, err := m.Load(context.Background(), forged, limits); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("forged secret: got %v, want ErrNotFound", err)
	}
}

func TestExpiryIsReportedAndDeletes(t *testing.T) {
	clk, m, _ := newManagers(t, 0)
	s := &session.Session{Identity: auth.Identity{UserID: "u1"}}
	cookie := create(t, m, s)
	clk.Advance(31 * time.Minute)
	_, err := m.Load(context.Background(), cookie, limits)
	if r, ok := session.IsExpired(err); !ok || r != session.ReasonIdle {
		t.Fatalf("got %v, want idle expiry", err)
	}
	// The error names what ended, for the audit event (and the CRM's
	// webhook): the session is gone by now.
	var e *session.ExpiredError
	if tk, _ := session.ParseTicket(cookie); !errors.As(err, &e) || e.ID != tk.ID || e.UserID != "u1" {
		t.Fatalf("expiry %+v, want session %s of u1", e, tk.ID)
	}
	if _, err := m.Load(context.Background(), cookie, limits); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("expired session still stored: %v", err)
	}
}

func TestPendingSessionExpiresQuickly(t *testing.T) {
	clk, m, _ := newManagers(t, 0)
	s := &session.Session{Identity: auth.Identity{UserID: "u1"}, Pending: "2fa"}
	cookie := create(t, m, s)
	got, err := m.Load(context.Background(), cookie, limits)
	if err != nil || got.Authenticated() {
		t.Fatalf("pending session: %v authenticated=%v", err, got != nil && got.Authenticated())
	}
	clk.Advance(5 * time.Minute)
	if _, err := m.Load(context.Background(), cookie, limits); err == nil {
		t.Fatal("half-authenticated session outlived its 5 minutes")
	}
}

func TestRevokeUser(t *testing.T) {
	_, m, _ := newManagers(t, time.Second/2)
	c1 := create(t, m, &session.Session{Identity: auth.Identity{UserID: "u1"}})
	c2 := create(t, m, &session.Session{Identity: auth.Identity{UserID: "u1"}})
	c3 := create(t, m, &session.Session{Identity: auth.Identity{UserID: "u2"}})
	for _, c := range []string{c1, c2, c3} {
		m.Load(context.Background(), c, limits)
	}
	if recs, err := m.List(context.Background(), "u1"); err != nil || len(recs) != 2 {
		t.Fatalf("List: %d %v", len(recs), err)
	}
	if n, err := m.RevokeUser(context.Background(), "u1"); err != nil || n != 2 {
		t.Fatalf("RevokeUser: %d %v", n, err)
	}
	for _, c := range []string{c1, c2} {
		if _, err := m.Load(context.Background(), c, limits); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("revoked session: %v", err)
		}
	}
	if _, err := m.Load(context.Background(), c3, limits); err != nil {
		t.Errorf("other user's session: %v", err)
	}
}

// TestRevokeUserBeforeSparesLaterLogins: a revocation recorded at t ends
// the sessions that existed then, not a login made afterwards.
func TestRevokeUserBeforeSparesLaterLogins(t *testing.T) {
	clk, m, _ := newManagers(t, 0)
	old := create(t, m, &session.Session{Identity: auth.Identity{UserID: "u1"}})
	clk.Advance(time.Second)
	at := clk.Now()
	clk.Advance(time.Second)
	later := create(t, m, &session.Session{Identity: auth.Identity{UserID: "u1"}})
	if n, err := m.RevokeUserBefore(context.Background(), "u1", at); err != nil || n != 1 {
		t.Fatalf("RevokeUserBefore: %d %v, want 1", n, err)
	}
	if _, err := m.Load(context.Background(), old, limits); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("session from before the revocation: %v", err)
	}
	if _, err := m.Load(context.Background(), later, limits); err != nil {
		t.Errorf("session from after the revocation: %v", err)
	}
}
