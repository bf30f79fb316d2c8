package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

// stallingStore is a real memory store whose writes and lists fail while
// stalled (reads still answer): the moment a revocation is applied is
// the moment the store stops taking writes.
type stallingStore struct {
	session.Backend
	stalled atomic.Bool
}

var errStall = errors.New("session store: i/o timeout")

func (s *stallingStore) Delete(ctx context.Context, id string) error {
	if s.stalled.Load() {
		return errors.Join(session.ErrUnavailable, errStall)
	}
	return s.Backend.Delete(ctx, id)
}

func (s *stallingStore) ListUser(ctx context.Context, userID string) ([]session.Record, error) {
	if s.stalled.Load() {
		return nil, errors.Join(session.ErrUnavailable, errStall)
	}
	return s.Backend.ListUser(ctx, userID)
}

func (s *stallingStore) DeleteUser(ctx context.Context, userID string) (int, error) {
	if s.stalled.Load() {
		return 0, errors.Join(session.ErrUnavailable, errStall)
	}
	return s.Backend.DeleteUser(ctx, userID)
}

// TestSessionRefusedWhileRevocationPending: `user logout` (or a password
// set, a 2FA reset) recorded while the session store stalls is not lost
// (review finding F4): the old session is refused at once — never
// proxied — and is gone once the store is back.
func TestSessionRefusedWhileRevocationPending(t *testing.T) {
	clk := gatewaytest.NewClock()
	st := &stallingStore{Backend: memory.New(clk.Now)}
	g := gatewaytest.Start(t, gatewaytest.Options{Store: st})
	u := g.AddUser(t, "alice", pw, "sales")
	b := gatewaytest.NewBrowser(g.URL)
	b.Login(t, "alice", pw)
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	st.stalled.Store(true)
	if _, err := g.Dir.RevokeUserSessions(context.Background(), u.ID); err != nil {
		t.Fatal(err)
	}
	g.Refresh(t) // the hook fails: the store stalls
	before := g.Upstream.Count()
	if resp, _ := b.Get(t, "/"); resp.StatusCode == http.StatusOK || g.Upstream.Count() != before {
		t.Fatalf("a session whose revocation is pending was proxied: %d", resp.StatusCode)
	}
	st.stalled.Store(false)
	g.Refresh(t) // the retry applies it
	time.Sleep(10 * time.Millisecond)
	resp, _ := b.Get(t, "/")
	gatewaytest.WantLoginRedirect(t, resp, "")
	// A login after the revocation is not touched by it.
	b.Login(t, "alice", pw)
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a new login after the revocation: %d", resp.StatusCode)
	}
}
