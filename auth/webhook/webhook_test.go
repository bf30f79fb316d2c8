package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/webhook"
)

// testSecret is a Standard Webhooks secret (32 bytes).
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwaWzZ8m1Kz2U="

// clock is the injected time of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)} }

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

// counts is a Metrics that remembers.
type counts struct {
	mu      sync.Mutex
	results map[string]int
	pending int64
	failed  int64
}

func (c *counts) WebhookResult(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.results == nil {
		c.results = map[string]int{}
	}
	c.results[r]++
}

func (c *counts) WebhookQueue(p, f int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending, c.failed = p, f
}

func (c *counts) get(r string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.results[r]
}

// verifyStandardWebhook is the receiver's check, written from the
// Standard Webhooks specification and independently of the package: the
// secret's base64 after whsec_ is the HMAC-SHA256 key over
// "<webhook-id>.<webhook-timestamp>.<body>"; webhook-signature holds
// space-separated "v1,<base64>" entries, any of which may match; the
// timestamp must be within tolerance of now.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing headers: id %q timestamp %q signature %q", id, ts, sigs)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", ts, err)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s too far from now %s", time.Unix(sec, 0), now)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no signature in %q matches", sigs)
}

// delivery is one request the CRM's endpoint received.
type delivery struct {
	header http.Header
	body   []byte
	at     time.Time // the test clock's time when it arrived
}

// crm is a webhook endpoint on 127.0.0.1 answering with status(n) to its
// nth request (from 1).
type crm struct {
	*httptest.Server
	mu     sync.Mutex
	got    []delivery
	status func(n int) int
}

func startCRM(t *testing.T, clk *clock, status func(n int) int) *crm {
	t.Helper()
	c := &crm{status: status}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.got = append(c.got, delivery{header: r.Header.Clone(), body: body, at: clk.Now()})
		n := len(c.got)
		c.mu.Unlock()
		w.WriteHeader(c.status(n))
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *crm) deliveries() []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]delivery(nil), c.got...)
}

// secretFile writes the secret file as an operator would, mode 0600.
func secretFile(t testing.TB, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "webhook.secret")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func config(t testing.TB, url string, secrets ...string) webhook.Config {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{testSecret}
	}
	c := webhook.Config{URL: url, SecretFile: secretFile(t, secrets...)}
	c.SetDefaults()
	if err := c.Validate("upstream_notify"); err != nil {
		t.Fatal(err)
	}
	return c
}

func openSQLite(t testing.TB) *sqldir.DB {
	t.Helper()
	db, err := sqldir.Open(context.Background(), sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fixedJitter makes every delay the full one, so a test knows when a
// retry is due.
func fixedJitter(max time.Duration) time.Duration { return max }

// setup is a directory with alice, a notifier and a sender to c.
func setup(t *testing.T, clk *clock, url string, m webhook.Metrics) (*sqldir.DB, *directory.User, *webhook.Notifier, *webhook.Sender) {
	t.Helper()
	db := openSQLite(t)
	alice := &directory.User{Username: "alice", Role: "sales"}
	if err := db.CreateUser(t.Context(), alice); err != nil {
		t.Fatal(err)
	}
	n := webhook.NewNotifier(db, db, quietLog(), clk.Now)
	s, err := webhook.NewSender(db, config(t, url), webhook.SenderOptions{Now: clk.Now, Log: quietLog(), Metrics: m, Jitter: fixedJitter})
	if err != nil {
		t.Fatal(err)
	}
	return db, alice, n, s
}

func drain(t *testing.T, s *webhook.Sender) int {
	t.Helper()
	n, err := s.Drain(t.Context())
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	return n
}

// TestSenderDeliversSignedEvent: a logout recorded in the audit stream
// reaches the CRM as a Standard Webhooks request that an independent
// verifier accepts, with the payload the docs promise, and leaves the
// queue.
func TestSenderDeliversSignedEvent(t *testing.T) {
	clk := newClock()
	c := startCRM(t, clk, func(int) int { return http.StatusNoContent })
	m := &counts{}
	db, alice, n, s := setup(t, clk, c.URL+"/hooks/gatehouse", m)
	ended := clk.Now().Add(-time.Second)
	n.Observe(t.Context(), audit.Event{Event: audit.Logout, Time: ended, Actor: "alice", UserID: alice.ID,
		Detail: map[string]string{"session": "s-123"}})
	if got := drain(t, s); got != 1 {
		t.Fatalf("delivered %d, want 1", got)
	}
	ds := c.deliveries()
	if len(ds) != 1 {
		t.Fatalf("CRM received %d requests, want 1", len(ds))
	}
	d := ds[0]
	if err := verifyStandardWebhook(testSecret, d.header, d.body, clk.Now()); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if ct := d.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var p map[string]any
	if err := json.Unmarshal(d.body, &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": d.header.Get("webhook-id"), "type": "logout", "time": ended.Format(time.RFC3339Nano),
		"user": map[string]any{"id": alice.ID, "username": "alice"}, "session": "s-123", "reason": "logout"}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Errorf("payload %v, want %v", p, want)
	}
	if !strings.HasPrefix(d.header.Get("webhook-id"), "evt_") {
		t.Errorf("webhook-id %q", d.header.Get("webhook-id"))
	}
	if pending, failed, _ := db.WebhookQueue(t.Context()); pending != 0 || failed != 0 {
		t.Errorf("queue after delivery: %d pending, %d failed; want empty", pending, failed)
	}
	if m.get(webhook.ResultDelivered) != 1 {
		t.Errorf("delivered counter %d, want 1", m.get(webhook.ResultDelivered))
	}
	// A tampered body does not verify: the check above is a real one.
	if err := verifyStandardWebhook(testSecret, d.header, append(d.body, ' '), clk.Now()); err == nil {
		t.Error("a tampered body verified")
	}
}

// TestSignatureKnownAnswer: the Standard Webhooks specification's own
// example (secret, id, timestamp, payload) gives its published signature.
func TestSignatureKnownAnswer(t *testing.T) {
	key, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	got := webhook.Signature([][]byte{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %q, want the specification's %q", got, want)
	}
}

// TestSenderRetriesWithBackoff: a CRM answering 500 gets the same event
// (same id, same bytes) again after 1s, 2s, 4s of the injected clock and
// never earlier; its 2xx ends the retries.
func TestSenderRetriesWithBackoff(t *testing.T) {
	clk := newClock()
	c := startCRM(t, clk, func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	m := &counts{}
	db, alice, n, s := setup(t, clk, c.URL, m)
	n.Observe(t.Context(), audit.Event{Event: audit.SessionExpired, Time: clk.Now(), UserID: alice.ID,
		Detail: map[string]string{"reason": "idle_timeout", "session": "s-1"}})
	drain(t, s) // attempt 1: 500
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		clk.Advance(wait - time.Millisecond)
		drain(t, s)
		if got := len(c.deliveries()); got != i+1 {
			t.Fatalf("after %s of the %s backoff: %d attempts, want %d (a retry came early)", wait-time.Millisecond, wait, got, i+1)
		}
		clk.Advance(time.Millisecond)
		drain(t, s)
		if got := len(c.deliveries()); got != i+2 {
			t.Fatalf("at the end of the %s backoff: %d attempts, want %d", wait, got, i+2)
		}
	}
	ds := c.deliveries()
	for i, d := range ds {
		if d.header.Get("webhook-id") != ds[0].header.Get("webhook-id") || string(d.body) != string(ds[0].body) {
			t.Errorf("attempt %d: id %q body %s; want the first attempt's", i+1, d.header.Get("webhook-id"), d.body)
		}
		if err := verifyStandardWebhook(testSecret, d.header, d.body, d.at); err != nil {
			t.Errorf("attempt %d signature: %v", i+1, err)
		}
		if ts := d.header.Get("webhook-timestamp"); ts != strconv.FormatInt(d.at.Unix(), 10) {
			t.Errorf("attempt %d timestamp %s, want the time it was sent (%d)", i+1, ts, d.at.Unix())
		}
	}
	clk.Advance(time.Hour)
	drain(t, s)
	if got := len(c.deliveries()); got != 4 {
		t.Fatalf("after the 2xx: %d attempts, want no more than 4", got)
	}
	if m.get(webhook.ResultRetried) != 3 || m.get(webhook.ResultDelivered) != 1 {
		t.Errorf("counters retried %d delivered %d, want 3 and 1", m.get(webhook.ResultRetried), m.get(webhook.ResultDelivered))
	}
	if pending, _, _ := db.WebhookQueue(t.Context()); pending != 0 {
		t.Errorf("%d pending after delivery", pending)
	}
}

// TestSenderGivesUpAndKeepsTheEvent: a CRM that never answers 2xx is
// tried until give_up_after; the event is then kept as failed, counted,
// and not sent again.
func TestSenderGivesUpAndKeepsTheEvent(t *testing.T) {
	clk := newClock()
	c := startCRM(t, clk, func(int) int { return http.StatusServiceUnavailable })
	m := &counts{}
	db, alice, n, s := setup(t, clk, c.URL, m)
	n.Observe(t.Context(), audit.Event{Event: audit.UserDisabled, Time: clk.Now(), Actor: "admin", UserID: alice.ID})
	for range 40 {
		drain(t, s)
		clk.Advance(time.Hour)
	}
	attempts := len(c.deliveries())
	// 1s, 2s, … 2048s (12 attempts in the first ~68 minutes), then
	// hourly until 24h.
	if attempts < 20 || attempts > 40 {
		t.Fatalf("%d attempts in 40 hours, want the backoff schedule's ~35 within 24h", attempts)
	}
	if pending, failed, _ := db.WebhookQueue(t.Context()); pending != 0 || failed != 1 {
		t.Fatalf("queue: %d pending, %d failed; want the event kept as failed", pending, failed)
	}
	if m.get(webhook.ResultFailed) != 1 {
		t.Errorf("failed counter %d, want 1", m.get(webhook.ResultFailed))
	}
	last := c.deliveries()[attempts-1].at
	if last.Sub(c.deliveries()[0].at) > 25*time.Hour {
		t.Errorf("last attempt %s after the first, want within give_up_after", last.Sub(c.deliveries()[0].at))
	}
}

// TestSenderRetriesRequeuedEvent: an event given up and re-queued by an
// operator (gatehouse webhook retry) is retried as a new one — a failed
// attempt right after the re-queue schedules the next a second later
// instead of giving up at once, since its give_up_after counts from the
// re-queue — and reaches the CRM under the id it had from the start.
func TestSenderRetriesRequeuedEvent(t *testing.T) {
	clk := newClock()
	var up atomic.Bool
	c := startCRM(t, clk, func(int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	db, alice, n, s := setup(t, clk, c.URL, nil)
	n.Observe(t.Context(), audit.Event{Event: audit.Logout, Time: clk.Now(), UserID: alice.ID, Detail: map[string]string{"session": "s-1"}})
	for range 30 {
		drain(t, s)
		clk.Advance(time.Hour)
	}
	if pending, failed, _ := db.WebhookQueue(t.Context()); pending != 0 || failed != 1 {
		t.Fatalf("queue after give_up_after: %d pending, %d failed; want it failed", pending, failed)
	}
	first := c.deliveries()[0].header.Get("webhook-id")
	if err := db.RequeueWebhook(t.Context(), first, clk.Now()); err != nil {
		t.Fatal(err)
	}
	before := len(c.deliveries())
	drain(t, s) // still down
	if pending, failed, _ := db.WebhookQueue(t.Context()); len(c.deliveries()) != before+1 || pending != 1 || failed != 0 {
		t.Fatalf("after a failed attempt of the re-queued event: %d attempts, %d pending, %d failed; want one more attempt and it still pending",
			len(c.deliveries())-before, pending, failed)
	}
	up.Store(true)
	clk.Advance(time.Second)
	if got := drain(t, s); got != 1 {
		t.Fatalf("a second after the failed attempt: %d delivered, want the retry (the backoff restarted)", got)
	}
	ds := c.deliveries()
	if id := ds[len(ds)-1].header.Get("webhook-id"); id != first {
		t.Errorf("delivered as %s, first sent as %s: want one id for de-duplication", id, first)
	}
	if pending, failed, _ := db.WebhookQueue(t.Context()); pending != 0 || failed != 0 {
		t.Errorf("queue after delivery: %d pending, %d failed", pending, failed)
	}
}

// TestSenderHonoursRetryAfter: a 429 or 503 with Retry-After waits at
// least that long.
func TestSenderHonoursRetryAfter(t *testing.T) {
	clk := newClock()
	var first sync.Once
	c := startCRM(t, clk, func(int) int { return http.StatusOK })
	c.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		c.mu.Lock()
		c.got = append(c.got, delivery{header: r.Header.Clone(), at: clk.Now()})
		c.mu.Unlock()
		answered := false
		first.Do(func() {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
			answered = true
		})
		if !answered {
			w.WriteHeader(http.StatusOK)
		}
	})
	_, alice, n, s := setup(t, clk, c.URL, nil)
	n.Observe(t.Context(), audit.Event{Event: audit.Logout, Time: clk.Now(), UserID: alice.ID})
	drain(t, s)
	clk.Advance(119 * time.Second)
	drain(t, s)
	if got := len(c.deliveries()); got != 1 {
		t.Fatalf("%d attempts before Retry-After elapsed, want 1", got)
	}
	clk.Advance(time.Second)
	drain(t, s)
	if got := len(c.deliveries()); got != 2 {
		t.Fatalf("%d attempts once Retry-After elapsed, want 2", got)
	}
}

// TestSenderDoesNotFollowRedirects: a redirect is a failed delivery, and
// the signed event never reaches where it points.
func TestSenderDoesNotFollowRedirects(t *testing.T) {
	clk := newClock()
	elsewhere := startCRM(t, clk, func(int) int { return http.StatusOK })
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	m := &counts{}
	_, alice, n, s := setup(t, clk, redirect.URL, m)
	n.Observe(t.Context(), audit.Event{Event: audit.Logout, Time: clk.Now(), UserID: alice.ID})
	if got := drain(t, s); got != 0 || len(elsewhere.deliveries()) != 0 || m.get(webhook.ResultRetried) != 1 {
		t.Fatalf("redirect: delivered %d, redirect target got %d, retried %d; want 0, 0, 1", got, len(elsewhere.deliveries()), m.get(webhook.ResultRetried))
	}
}

// TestEnqueueFailureDoesNotBlock: with the directory gone, recording an
// event returns at once, and the lost notification is logged and counted.
func TestEnqueueFailureDoesNotBlock(t *testing.T) {
	db := openSQLite(t)
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	n := webhook.NewNotifier(db, db, log, nil)
	m := &counts{}
	n.SetMetrics(m)
	db.Close()
	start := time.Now()
	n.Observe(t.Context(), audit.Event{Event: audit.Logout, Time: time.Now(), UserID: "u-1", Detail: map[string]string{"session": "s-9"}})
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Observe took %s with the directory down", d)
	}
	if m.get(webhook.ResultEnqueueError) != 1 {
		t.Errorf("enqueue errors counted %d, want 1", m.get(webhook.ResultEnqueueError))
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "webhook event not queued") || !strings.Contains(logs.String(), "session=s-9") {
		t.Errorf("log does not name the lost event:\n%s", logs.String())
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestSecretRotation: with two secrets in the file, each delivery carries
// a signature under each, so a CRM holding either verifies it.
func TestSecretRotation(t *testing.T) {
	clk := newClock()
	c := startCRM(t, clk, func(int) int { return http.StatusOK })
	db := openSQLite(t)
	const next = "whsec_" + "c2Vjb25kLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmMDEyMw=="
	s, err := webhook.NewSender(db, config(t, c.URL, next, testSecret), webhook.SenderOptions{Now: clk.Now, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.EnqueueWebhook(t.Context(), directory.WebhookEvent{ID: "evt_x", Type: "logout", Body: []byte(`{}`), Created: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	d := c.deliveries()[0]
	for _, secret := range []string{next, testSecret} {
		if err := verifyStandardWebhook(secret, d.header, d.body, clk.Now()); err != nil {
			t.Errorf("secret %s…: %v", secret[:10], err)
		}
	}
}

// TestTwoSendersNeverDoubleSend: two senders, each with its own
// connection pool to one database as two replicas would have, draining
// the same queue at once, send every event exactly once and never one
// event concurrently. PostgreSQL is the multi-replica case; SQLite (two
// handles on one file) runs the same test.
func TestTwoSendersNeverDoubleSend(t *testing.T) {
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			cfg := sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)}
			if backend == "postgres" {
				cfg = sqldir.Config{Driver: "postgres", DSN: directorytest.PostgresDSN(t)}
			}
			open := func() *sqldir.DB {
				db, err := sqldir.Open(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			a, b := open(), open()
			const events = 60
			for i := range events {
				e := directory.WebhookEvent{ID: fmt.Sprintf("evt_%02d", i), Type: "logout", Body: []byte(`{}`)}
				if err := a.EnqueueWebhook(t.Context(), e); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			inFlight, total := map[string]int{}, map[string]int{}
			overlaps := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				id := r.Header.Get("webhook-id")
				mu.Lock()
				inFlight[id]++
				total[id]++
				if inFlight[id] > 1 {
					overlaps++
				}
				mu.Unlock()
				time.Sleep(3 * time.Millisecond) // a receiver that takes a moment: senders overlap in time
				mu.Lock()
				inFlight[id]--
				mu.Unlock()
			}))
			t.Cleanup(srv.Close)
			var wg sync.WaitGroup
			for _, db := range []*sqldir.DB{a, b} {
				s, err := webhook.NewSender(db, config(t, srv.URL), webhook.SenderOptions{Log: quietLog()})
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					for range 3 {
						if _, err := s.Drain(t.Context()); err != nil {
							t.Errorf("Drain: %v", err)
						}
					}
				})
			}
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if overlaps != 0 {
				t.Errorf("%d deliveries overlapped another of the same event", overlaps)
			}
			if len(total) != events {
				t.Errorf("%d events delivered, want %d", len(total), events)
			}
			for id, n := range total {
				if n != 1 {
					t.Errorf("%s delivered %d times, want once", id, n)
				}
			}
			if pending, failed, _ := a.WebhookQueue(t.Context()); pending != 0 || failed != 0 {
				t.Errorf("queue: %d pending %d failed, want empty", pending, failed)
			}
		})
	}
}
