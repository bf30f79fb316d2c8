package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

// crmHook is the CRM's webhook endpoint: it checks every request's
// Standard Webhooks signature itself (not with the gateway's code) and
// keeps the events it accepted, answering with status.
type crmHook struct {
	*httptest.Server
	secret string
	status atomic.Int32
	mu     sync.Mutex
	tries  []string // webhook-id of every request, accepted or not
	events []crmEvent
	bad    []string
}

type crmEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Time    string `json:"time"`
	Session string `json:"session"`
	Device  string `json:"device"`
	Reason  string `json:"reason"`
	User    struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	} `json:"user"`
}

func startCRMHook(t *testing.T) *crmHook {
	t.Helper()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i*7 + 3)
	}
	h := &crmHook{secret: "whsec_" + base64.StdEncoding.EncodeToString(key)}
	h.status.Store(http.StatusOK)
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		h.mu.Lock()
		defer h.mu.Unlock()
		h.tries = append(h.tries, id)
		status := int(h.status.Load())
		var e crmEvent
		switch {
		case !strings.Contains(" "+r.Header.Get("webhook-signature")+" ", " "+want+" "):
			h.bad = append(h.bad, "bad signature on "+id)
			status = http.StatusUnauthorized
		case json.Unmarshal(body, &e) != nil || e.ID != id:
			h.bad = append(h.bad, "body id differs from webhook-id: "+string(body))
			status = http.StatusBadRequest
		case status/100 == 2:
			h.events = append(h.events, e)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

// config is the upstream_notify section pointing at the hook, with its
// secret in a 0600 file.
func (h *crmHook) config(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "crm-webhook.secret")
	if err := os.WriteFile(f, []byte(h.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("upstream_notify: {url: %q, secret_file: %s}\n", h.URL+"/gatehouse/events", f)
}

// waitEvent waits for the CRM to have accepted an event of type typ for
// userID and returns it. The replica's sender delivers in the
// background; the test also drains the queue itself, so an event is
// never waiting on the poll interval.
func (h *crmHook) waitEvent(t *testing.T, r *replica, typ, userID string) crmEvent {
	t.Helper()
	return h.waitFor(t, r, typ+" event for "+userID, func(e crmEvent) bool { return e.Type == typ && e.User.ID == userID })
}

// waitFor drains the replica's queue until the CRM has an event match
// accepts (what names it in the failure).
func (h *crmHook) waitFor(t *testing.T, r *replica, what string, match func(crmEvent) bool) crmEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		for _, e := range h.events {
			if match(e) {
				h.mu.Unlock()
				return e
			}
		}
		bad, got := h.bad, fmt.Sprint(h.events)
		h.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("the CRM refused deliveries: %v", bad)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s reached the CRM; it has %s", what, got)
		}
		if _, err := r.webhooks.Drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *crmHook) attempts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.tries...)
}

// TestWebhookSessionEndsReachCRM: a logout, an idle timeout and a user
// disabled from the CLI each reach the CRM's webhook, signed, with the
// type, the user and (where one session ended) the session id the CRM
// saw in X-Gatehouse-Session.
func TestWebhookSessionEndsReachCRM(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	hook := startCRMHook(t)
	r := startReplica(t, sqliteConfig(t, up, hook.config(t)+"policy: {session: {absolute_lifetime: 12h, idle_timeout: 30m}}\n"), clk)
	alice := r.addUser(t, "alice", alicePW, "sales")
	bob := r.addUser(t, "bob", alicePW, "sales")

	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	b.Get(t, "/")
	sid := up.Last(t).Header.Get("X-Gatehouse-Session")
	if resp, _ := b.Do(t, "POST", "/.gatehouse/logout", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	e := hook.waitEvent(t, r, "logout", alice.ID)
	if e.Session != sid || e.User.Username != "alice" || !strings.HasPrefix(e.ID, "evt_") {
		t.Errorf("logout event %+v, want session %s of alice", e, sid)
	}

	b.Login(t, "alice", alicePW)
	b.Get(t, "/")
	sid = up.Last(t).Header.Get("X-Gatehouse-Session")
	clk.Advance(31 * time.Minute)
	r.refresh(t)
	resp, _ := b.Get(t, "/")
	wantLoginRedirect(t, resp, "idle_timeout")
	if e := hook.waitEvent(t, r, "idle_timeout", alice.ID); e.Session != sid || e.Reason != "idle_timeout" {
		t.Errorf("idle timeout event %+v, want session %s", e, sid)
	}

	bb := newBrowser(t, r.URL)
	bb.Login(t, "bob", alicePW)
	if code, out := runCLI(t, r, "user", "disable", "bob"); code != 0 {
		t.Fatalf("user disable: %d %s", code, out)
	}
	if e := hook.waitEvent(t, r, "user_disabled", bob.ID); e.User.Username != "bob" || e.Session != "" {
		t.Errorf("user_disabled event %+v", e)
	}
	r.refresh(t)
	resp, _ = bb.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	// The disable's own revocation, and its application by the replica,
	// are not reported a second time.
	if _, err := r.webhooks.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	types := map[string]int{}
	for _, e := range hook.events {
		types[e.Type]++
	}
	if want := map[string]int{"logout": 1, "idle_timeout": 1, "user_disabled": 1}; fmt.Sprint(types) != fmt.Sprint(want) {
		t.Errorf("events by type %v, want %v", types, want)
	}
}

// TestWebhookCRMDownReceivesLater: while the CRM answers 503 the event
// stays queued and is retried on the backoff schedule; once the CRM is
// back it arrives, under the id it had from the start, and the metrics
// say so.
func TestWebhookCRMDownReceivesLater(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	hook := startCRMHook(t)
	hook.status.Store(http.StatusServiceUnavailable)
	r := startReplica(t, sqliteConfig(t, up, hook.config(t)), clk)
	alice := r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	if resp, _ := b.Do(t, "POST", "/.gatehouse/logout", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout with the CRM down: %d, want the usual 303", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(hook.attempts()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the CRM was never tried")
		}
		time.Sleep(10 * time.Millisecond)
	}
	first := hook.attempts()[0]
	if pending, _, err := r.a.dir.WebhookQueue(t.Context()); err != nil || pending != 1 {
		t.Fatalf("queue while the CRM is down: %d pending (%v), want 1", pending, err)
	}
	hook.status.Store(http.StatusOK)
	clk.Advance(2 * time.Second) // past the first retry's backoff
	e := hook.waitEvent(t, r, "logout", alice.ID)
	if e.ID != first {
		t.Errorf("delivered as %s, first tried as %s: want one id for de-duplication", e.ID, first)
	}
	if pending, failed, _ := r.a.dir.WebhookQueue(t.Context()); pending != 0 || failed != 0 {
		t.Errorf("queue after delivery: %d pending %d failed", pending, failed)
	}
	rec := httptest.NewRecorder()
	r.gateway.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metrics := rec.Body.String()
	if !strings.Contains(metrics, `gatehouse_webhook_events_total{result="delivered"} 1`) || !strings.Contains(metrics, `gatehouse_webhook_events_total{result="retried"}`) {
		t.Errorf("metrics lack the deliveries:\n%s", grepLines(metrics, "webhook"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestWebhookDeviceEnds: a mobile device signed out from the CLI is a
// device_logout naming the device the CRM saw in X-Gatehouse-Device, and
// a device's login that went idle is an idle_timeout naming it, reported
// when the app next tries to refresh.
func TestWebhookDeviceEnds(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	hook := startCRMHook(t)
	r := startReplica(t, sqliteConfig(t, up, hook.config(t)+mobileConfig), clk)
	alice := r.addUser(t, "alice", alicePW, "sales")

	app := mobileLogin(t, r, clk, "alice", alicePW)
	if resp, _ := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("app call: %d", resp.StatusCode)
	}
	device := up.Last(t).Header.Get("X-Gatehouse-Device")
	clk.Advance(time.Minute) // past the real time the CLI stamps its event with
	r.refresh(t)
	if code, out := runCLI(t, r, "device", "revoke", "alice", device); code != 0 {
		t.Fatalf("device revoke: %d %s", code, out)
	}
	if e := hook.waitEvent(t, r, "device_logout", alice.ID); e.Device != device || e.Session != "" || e.Reason != "revoked" {
		t.Errorf("device_logout event %+v, want device %s", e, device)
	}

	app = mobileLogin(t, r, clk, "alice", alicePW)
	if resp, _ := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("app call: %d", resp.StatusCode)
	}
	device = up.Last(t).Header.Get("X-Gatehouse-Device")
	clk.Advance(31 * time.Minute) // the policy's idle_timeout is 30m
	r.refresh(t)
	if err := app.RefreshTokens(t.Context()); err == nil {
		t.Fatal("an idle device refreshed")
	}
	if e := hook.waitEvent(t, r, "idle_timeout", alice.ID); e.Device != device || e.Session != "" {
		t.Errorf("idle_timeout event %+v, want device %s", e, device)
	}

	// An idle device whose app signs out (RFC 7009) instead of
	// refreshing: the revocation's load claims the session, so it
	// reports the timeout (nobody else will find it).
	app = mobileLogin(t, r, clk, "alice", alicePW)
	if resp, _ := appCall(t, app, r.URL, "GET", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("app call: %d", resp.StatusCode)
	}
	device = up.Last(t).Header.Get("X-Gatehouse-Device")
	clk.Advance(31 * time.Minute)
	r.refresh(t)
	if err := app.Revoke(t.Context()); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	hook.waitFor(t, r, "idle_timeout for device "+device, func(e crmEvent) bool { return e.Type == "idle_timeout" && e.Device == device })
}

// TestWebhookFactorChangeEndsOtherSessions: enrolling 2FA ends the user's
// other sessions (ASVS 7.4.3); each is a revoked event naming it, and the
// session that enrolled goes on.
func TestWebhookFactorChangeEndsOtherSessions(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	hook := startCRMHook(t)
	r := startReplica(t, sqliteConfig(t, up, hook.config(t)+"policy: {mfa: {mode: optional}}\n"), clk)
	alice := r.addUser(t, "alice", alicePW, "sales")
	other := newBrowser(t, r.URL)
	loginTo(t, other, "alice", "/")
	other.Get(t, "/")
	otherSID := up.Last(t).Header.Get("X-Gatehouse-Session")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/")
	gatewaytest.Enrol(t, b, clk)
	if e := hook.waitEvent(t, r, "revoked", alice.ID); e.Session != otherSID || e.Reason != "factor_changed" {
		t.Errorf("revoked event %+v, want session %s ended by the factor change", e, otherSID)
	}
	if resp, _ := other.Get(t, "/"); resp.StatusCode == http.StatusOK {
		t.Error("the other session survived the enrolment")
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK {
		t.Errorf("the enrolling session ended: %d", resp.StatusCode)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.events) != 1 {
		t.Errorf("events %v, want only the other session's end", hook.events)
	}
}
