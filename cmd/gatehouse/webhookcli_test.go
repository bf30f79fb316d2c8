package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// waitQueue waits until the replica's webhook queue holds pending and
// failed events, draining it meanwhile (the sender also runs by itself).
func waitQueue(t *testing.T, r *replica, pending, failed int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, f, err := r.a.dir.WebhookQueue(t.Context())
		if err == nil && p == pending && f == failed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook queue: %d pending, %d failed (%v); want %d, %d", p, f, err, pending, failed)
		}
		if _, err := r.webhooks.Drain(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitAttempted waits until every queued event has had an attempt
// recorded, and returns them.
func waitAttempted(t *testing.T, r *replica) []directory.WebhookEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := r.a.dir.ListWebhooks(t.Context(), directory.WebhookQuery{})
		done := err == nil && len(es) > 0
		for _, e := range es {
			done = done && e.Attempts > 0
		}
		if done {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt recorded: %+v (%v)", es, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWebhookListAndRetry: an event the CRM refused until give_up_after
// is listed as failed with its type, user, attempts and last error, and
// nothing of the signing secret; `webhook retry` puts it back and the
// CRM, back up, receives it under the id it was first sent with; once
// delivered it is gone from the list and cannot be retried.
func TestWebhookListAndRetry(t *testing.T) {
	clk := newClock()
	hook := startCRMHook(t)
	hook.status.Store(http.StatusServiceUnavailable)
	r := startReplica(t, sqliteConfig(t, startUpstream(t), strings.Replace(hook.config(t), "}\n", ", give_up_after: 1m}\n", 1)), clk)
	alice := r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	if resp, _ := b.Do(t, "POST", "/.gatehouse/logout", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	first := waitAttempted(t, r)[0].ID
	clk.Advance(2 * time.Minute) // past give_up_after: the next failed attempt gives it up
	waitQueue(t, r, 0, 1)

	for _, args := range [][]string{{"webhook", "list"}, {"webhook", "list", "--failed"}} {
		code, out := runCLI(t, r, args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") {
			t.Fatalf("%s: %d\n%s", strings.Join(args, " "), code, out)
		}
		row := strings.Fields(lines[1])
		if row[0] != first || row[1] != "logout" || row[2] != "alice" || !strings.Contains(lines[1], "failed ") || !strings.HasSuffix(lines[1], "status 503") {
			t.Errorf("%s: row %q, want %s, logout, alice, failed, the last error", strings.Join(args, " "), lines[1], first)
		}
		if strings.Contains(out, hook.secret) || strings.Contains(out, strings.TrimPrefix(hook.secret, "whsec_")) {
			t.Fatalf("the list shows the signing secret:\n%s", out)
		}
	}
	if code, out := runCLI(t, r, "webhook", "list", "--limit", "1", "--failed"); code != 0 || !strings.Contains(out, first) {
		t.Errorf("list --limit 1: %d\n%s", code, out)
	}

	hook.status.Store(http.StatusOK)
	code, out := runCLI(t, r, "webhook", "retry", first)
	if code != 0 || !strings.Contains(out, "webhook event "+first+" (logout of alice) re-queued") {
		t.Fatalf("webhook retry: %d\n%s", code, out)
	}
	if e := hook.waitEvent(t, r, "logout", alice.ID); e.ID != first {
		t.Errorf("delivered as %s, first sent as %s: want one id for de-duplication", e.ID, first)
	}
	waitQueue(t, r, 0, 0)
	if code, out := runCLI(t, r, "webhook", "list"); code != 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("list after delivery: %d\n%s", code, out)
	}
	if code, out := runCLI(t, r, "webhook", "retry", first); code != 1 || !strings.Contains(out, "no webhook event") {
		t.Errorf("retry of a delivered event: %d\n%s", code, out)
	}
	wantAudit(t, r, "webhook_requeued", "")
}

// TestWebhookRetryRefusesPending: a pending event is not re-queued (the
// sender has it in hand), and mistakes on the command line are usage
// errors.
func TestWebhookRetryRefusesPending(t *testing.T) {
	hook := startCRMHook(t)
	hook.status.Store(http.StatusServiceUnavailable)
	r := startReplica(t, sqliteConfig(t, startUpstream(t), hook.config(t)), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	b.Do(t, "POST", "/.gatehouse/logout", url.Values{})
	id := waitAttempted(t, r)[0].ID
	if code, out := runCLI(t, r, "webhook", "retry", id); code != 1 || !strings.Contains(out, "has not failed") {
		t.Errorf("retry of a pending event: %d\n%s", code, out)
	}
	if code, out := runCLI(t, r, "webhook", "list"); code != 0 || !strings.Contains(out, "pending, next ") {
		t.Errorf("list of a pending event: %d\n%s", code, out)
	}
	for _, args := range [][]string{{"webhook"}, {"webhook", "bogus"}, {"webhook", "list", "extra"}, {"webhook", "list", "--limit", "0"},
		{"webhook", "retry"}, {"webhook", "retry", id, "--failed"}} {
		if code, out := runCLI(t, r, args...); code != 2 {
			t.Errorf("gatehouse %s: exit %d, want 2\n%s", strings.Join(args, " "), code, out)
		}
	}
	if code, out := cli(t, "", "webhook", "--help"); code != 0 || !strings.Contains(out, "webhook retry ID") {
		t.Errorf("webhook --help: %d\n%s", code, out)
	}
}

// TestPersonalDataExportWebhookEvents: the account page's download holds
// the user's events still queued for the CRM — id, type, state, last
// error, the payload about them — and not the signing secret.
func TestPersonalDataExportWebhookEvents(t *testing.T) {
	up := startUpstream(t)
	hook := startCRMHook(t)
	hook.status.Store(http.StatusServiceUnavailable)
	r := startReplica(t, sqliteConfig(t, up, hook.config(t)), newClock())
	alice := r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	b.Get(t, "/")
	sid := up.Last(t).Header.Get("X-Gatehouse-Session")
	b.Do(t, "POST", "/.gatehouse/logout", url.Values{})
	bob := newBrowser(t, r.URL)
	bob.Login(t, "bob", alicePW)
	bob.Do(t, "POST", "/.gatehouse/logout", url.Values{})
	waitAttempted(t, r)

	b.Login(t, "alice", alicePW)
	resp, body := b.Get(t, "/.gatehouse/account/data")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	var d struct {
		WebhookEvents []struct {
			ID, Type, Status string
			Attempts         int
			LastError        string `json:"last_error"`
			Payload          struct {
				ID, Session string
				User        struct{ ID, Username string }
			}
		} `json:"webhook_events"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	if len(d.WebhookEvents) != 1 {
		t.Fatalf("webhook events: %+v, want alice's logout only", d.WebhookEvents)
	}
	e := d.WebhookEvents[0]
	if e.Type != "logout" || e.Status != "pending" || e.Attempts < 1 || e.LastError != "status 503" || e.Payload.ID != e.ID ||
		e.Payload.Session != sid || e.Payload.User.ID != alice.ID || e.Payload.User.Username != "alice" {
		t.Errorf("her queued logout: %+v, want it pending with its last error and session %s", e, sid)
	}
	for _, secret := range []string{hook.secret, strings.TrimPrefix(hook.secret, "whsec_"), `"bob"`} {
		if strings.Contains(body, secret) {
			t.Fatalf("the export holds %q", secret)
		}
	}
}

// TestEraseUserQueuedWebhooks: `user delete --erase` rewrites the user's
// events waiting for the CRM to name the audit log's pseudonym, keeps
// them queued, and says so.
func TestEraseUserQueuedWebhooks(t *testing.T) {
	hook := startCRMHook(t)
	hook.status.Store(http.StatusServiceUnavailable)
	r := startReplica(t, sqliteConfig(t, startUpstream(t), hook.config(t)), newClock())
	carol := r.addUser(t, "carol", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "carol", alicePW)
	b.Do(t, "POST", "/.gatehouse/logout", url.Values{})
	waitAttempted(t, r)
	code, out := runCLIStdin(t, r, "carol\n", "user", "delete", "carol", "--erase")
	if code != 0 || !strings.Contains(out, "2 events queued for the CRM rewritten") {
		t.Fatalf("erase: %d\n%s", code, out)
	}
	pseudonym := out[strings.Index(out, "erased:"):]
	pseudonym = pseudonym[:strings.IndexAny(pseudonym, " \n")]
	es, err := r.a.dir.ListWebhooks(t.Context(), directory.WebhookQuery{})
	if err != nil || len(es) != 2 {
		t.Fatalf("queue after the erasure: %d events (%v), want her logout and the deletion's revocation", len(es), err)
	}
	for _, e := range es {
		if s := string(e.Body); strings.Contains(s, carol.ID) || strings.Contains(s, "carol") || !strings.Contains(s, `"id":"`+pseudonym+`"`) {
			t.Errorf("queued event after the erasure: %s, want it under %s", s, pseudonym)
		}
	}
	if code, out := runCLI(t, r, "webhook", "list"); code != 0 || strings.Contains(out, "carol") || strings.Count(out, pseudonym) != 2 {
		t.Errorf("webhook list after the erasure: %d\n%s", code, out)
	}
}
