package proxy_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

// TestUnseenTimeoutIsRecorded: a user who stops using the browser is
// recorded as timed out by the sweep (session_expired, via sweep: what
// the CRM's webhook is made from) without ever coming back; when the
// cookie does come back it is refused and not recorded a second time.
func TestUnseenTimeoutIsRecorded(t *testing.T) {
	g, b := loggedIn(t, gatewaytest.Options{Policy: "session: {absolute_lifetime: 8h, idle_timeout: 30m}"})
	expired := func() []audit.Event {
		t.Helper()
		ev, err := g.Dir.QueryAudit(t.Context(), directory.AuditQuery{Event: audit.SessionExpired, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if n, err := g.Gateway.EndDueSessions(t.Context(), g.Sessions); err != nil || n != 0 {
		t.Fatalf("fresh session: ended %d, %v", n, err)
	}
	g.Clock.Advance(time.Hour)
	if _, err := g.Gateway.EndDueSessions(t.Context(), g.Sessions); err == nil {
		t.Fatal("ended sessions by a policy an hour stale; want an error and nothing ended")
	}
	if ev := expired(); len(ev) != 0 {
		t.Fatalf("stale policy: %d sessions recorded as ended", len(ev))
	}
	g.Clock.Advance(-time.Hour)
	g.Clock.Advance(31 * time.Minute)
	g.Refresh(t) // the policy poll the fake clock skipped
	if n, err := g.Gateway.EndDueSessions(t.Context(), g.Sessions); err != nil || n != 1 {
		t.Fatalf("after 31 idle minutes: ended %d, %v; want 1", n, err)
	}
	ev := expired()
	if len(ev) != 1 || ev[0].Detail["reason"] != "idle_timeout" || ev[0].Detail["via"] != "sweep" || ev[0].Detail["session"] == "" {
		t.Fatalf("audit: %+v, want one idle_timeout via sweep naming the session", ev)
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusFound {
		t.Fatalf("the swept session's cookie: %d, want a redirect to log in", resp.StatusCode)
	}
	if ev := expired(); len(ev) != 1 {
		t.Fatalf("the late request recorded the end again: %d events", len(ev))
	}
}
