package admin_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/password"
	"github.com/gatehouse-auth/gatehouse/auth/webhook"
)

var hookBase = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// newNotifyingService is newService with the webhook notifier observing
// its audit events, as in a gateway with upstream_notify set: an event
// that ends sessions is queued for the CRM.
func newNotifyingService(dir *sqldir.DB, now func() time.Time) (*admin.Service, *audit.Recorder) {
	rec := audit.New(slog.New(slog.DiscardHandler), dir)
	rec.Observe(webhook.NewNotifier(dir, dir, slog.New(slog.DiscardHandler), now).Observe)
	return admin.New(dir, rec, password.NewHasher(fast, 2), []string{"corp"}, now), rec
}

func addUser(t *testing.T, svc *admin.Service, name string) *directory.User {
	t.Helper()
	u, err := svc.AddUser(t.Context(), "cli", admin.NewUser{Username: name, Email: name + "@corp.example", Role: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// giveUp claims every due event and gives them all up at at, as the
// sender does after give_up_after.
func giveUp(t *testing.T, dir *sqldir.DB, at time.Time, lastErr string) {
	t.Helper()
	claimed, err := dir.ClaimWebhooks(t.Context(), at, time.Minute, 100)
	if err != nil || len(claimed) == 0 {
		t.Fatalf("ClaimWebhooks: %d, %v", len(claimed), err)
	}
	for _, e := range claimed {
		if err := dir.FailWebhook(t.Context(), e.ID, e.Claim, at, lastErr); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPersonalDataWebhookEvents: a user's export lists the events about
// their sessions still queued for the CRM — given up or pending, with
// their state and the payload the CRM receives — and no one else's.
func TestPersonalDataWebhookEvents(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		now := hookBase
		svc, rec := newNotifyingService(dir, func() time.Time { return now })
		bob, carol := addUser(t, svc, "bob"), addUser(t, svc, "carol")
		rec.Record(ctx, audit.Event{Time: now, Event: audit.Logout, Actor: "bob", UserID: bob.ID, Detail: map[string]string{"session": "s-bob-1"}})
		rec.Record(ctx, audit.Event{Time: now, Event: audit.Logout, Actor: "carol", UserID: carol.ID, Detail: map[string]string{"session": "s-carol"}})
		giveUp(t, dir, now.Add(time.Hour), "status 503")
		now = now.Add(2 * time.Hour)
		rec.Record(ctx, audit.Event{Time: now, Event: audit.SessionExpired, Actor: "bob", UserID: bob.ID,
			Detail: map[string]string{"session": "s-bob-2", "reason": "idle_timeout"}})

		d, err := svc.PersonalData(ctx, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.WebhookEvents) != 2 {
			t.Fatalf("webhook events in bob's export: %+v, want his two", d.WebhookEvents)
		}
		pending, failed := d.WebhookEvents[0], d.WebhookEvents[1]
		if pending.Status != admin.WebhookPending || pending.Type != webhook.TypeIdleTimeout || pending.Payload.Session != "s-bob-2" ||
			pending.Payload.User != (webhook.User{ID: bob.ID, Username: "bob"}) || pending.Payload.ID != pending.ID ||
			!pending.NextAttempt.Equal(now) || !pending.FailedAt.IsZero() || pending.Attempts != 0 {
			t.Errorf("the pending event: %+v", pending)
		}
		if failed.Status != admin.WebhookFailed || failed.Type != webhook.TypeLogout || failed.Payload.Session != "s-bob-1" ||
			failed.Attempts != 1 || failed.LastError != "status 503" || !failed.FailedAt.Equal(hookBase.Add(time.Hour)) ||
			!failed.NextAttempt.IsZero() || !failed.Queued.Equal(hookBase) || failed.Payload.User.Username != "bob" {
			t.Errorf("the failed event: %+v", failed)
		}
		js, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"webhook_events":[{"id":"evt_`, `"status":"failed"`, `"last_error":"status 503"`, `"payload":{"id":"evt_`} {
			if !strings.Contains(string(js), want) {
				t.Errorf("the export's JSON lacks %s:\n%s", want, js)
			}
		}
		if strings.Contains(string(js), carol.ID) || strings.Contains(string(js), "s-carol") {
			t.Errorf("bob's export holds carol's event:\n%s", js)
		}

		// Nothing queued: an empty list, not null.
		dave := addUser(t, svc, "dave")
		d, err = svc.PersonalData(ctx, dave.ID)
		if err != nil || d.WebhookEvents == nil || len(d.WebhookEvents) != 0 {
			t.Fatalf("dave's export: %+v, %v; want an empty list", d.WebhookEvents, err)
		}
	})
}

// TestEraseUserWebhookEvents: erasing a user rewrites their events
// queued for the CRM — the one queued before and the revocation the
// deletion itself queued — to name the audit log's pseudonym and no
// username, keeping each event's id, type, session and state; other
// users' events are untouched.
func TestEraseUserWebhookEvents(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		now := hookBase
		svc, rec := newNotifyingService(dir, func() time.Time { return now })
		carol, dave := addUser(t, svc, "carol"), addUser(t, svc, "dave")
		rec.Record(ctx, audit.Event{Time: now, Event: audit.Logout, Actor: "carol", UserID: carol.ID, Detail: map[string]string{"session": "s-carol"}})
		giveUp(t, dir, now.Add(time.Hour), "status 503")
		rec.Record(ctx, audit.Event{Time: now, Event: audit.Logout, Actor: "dave", UserID: dave.ID, Detail: map[string]string{"session": "s-dave"}})
		before, err := svc.Webhooks(ctx, admin.WebhookFilter{})
		if err != nil {
			t.Fatal(err)
		}

		e, err := svc.EraseUser(ctx, "cli:root", "carol")
		if err != nil {
			t.Fatal(err)
		}
		if e.Webhooks != 2 {
			t.Errorf("Erasure.Webhooks = %d, want 2 (her logout and the deletion's revocation)", e.Webhooks)
		}
		after, err := svc.Webhooks(ctx, admin.WebhookFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before)+1 {
			t.Fatalf("%d events after the erasure, want the %d before and the deletion's revocation: %+v", len(after), len(before), after)
		}
		types := map[string]admin.WebhookRecord{}
		for _, r := range after {
			js, _ := json.Marshal(r)
			if r.Payload.User.ID == dave.ID {
				if r.Payload.User.Username != "dave" || r.Payload.Session != "s-dave" {
					t.Errorf("dave's event changed: %s", js)
				}
				continue
			}
			if strings.Contains(string(js), carol.ID) || strings.Contains(string(js), "carol@") || strings.Contains(string(js), `"carol"`) ||
				r.Payload.User != (webhook.User{ID: e.Pseudonym}) {
				t.Errorf("an event still names carol, or not by the pseudonym %s: %s", e.Pseudonym, js)
			}
			types[r.Type] = r
		}
		if r := types[webhook.TypeLogout]; r.Status != admin.WebhookFailed || r.Payload.Session != "s-carol" || r.LastError != "status 503" {
			t.Errorf("her failed logout: %+v, want it kept as failed with its session", r)
		}
		if r := types[webhook.TypeRevoked]; r.Status != admin.WebhookPending || r.Payload.Reason != "user_deleted" {
			t.Errorf("the deletion's revocation: %+v, want it pending, still to be delivered", r)
		}
		// The audit log's pseudonym is the same.
		if last := lastEvent(t, dir, e.Pseudonym); last.Event != audit.UserErased || last.Detail["webhook_events"] != "2" {
			t.Errorf("user_erased event: %+v", last)
		}
	})
}

// TestRequeueWebhook: an admin puts a given-up event back in the queue,
// due at once under its own id, and it is audited as about the event's
// user; a pending or unknown event is refused.
func TestRequeueWebhook(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		now := hookBase
		svc, rec := newNotifyingService(dir, func() time.Time { return now })
		bob := addUser(t, svc, "bob")
		rec.Record(ctx, audit.Event{Time: now, Event: audit.Logout, Actor: "bob", UserID: bob.ID, Detail: map[string]string{"session": "s-1"}})
		pending, err := svc.Webhooks(ctx, admin.WebhookFilter{})
		if err != nil || len(pending) != 1 {
			t.Fatalf("Webhooks: %+v, %v", pending, err)
		}
		id := pending[0].ID
		if _, err := svc.RequeueWebhook(ctx, "cli:root", id); !errors.Is(err, admin.ErrWebhookPending) {
			t.Errorf("requeue of a pending event: %v, want ErrWebhookPending", err)
		}
		if _, err := svc.RequeueWebhook(ctx, "cli:root", "evt_none"); !errors.Is(err, admin.ErrNoWebhook) {
			t.Errorf("requeue of an unknown event: %v, want ErrNoWebhook", err)
		}
		giveUp(t, dir, now.Add(time.Hour), "status 503")
		if failed, _ := svc.Webhooks(ctx, admin.WebhookFilter{Failed: true}); len(failed) != 1 || failed[0].ID != id {
			t.Fatalf("failed events: %+v, want %s", failed, id)
		}
		now = now.Add(25 * time.Hour)
		r, err := svc.RequeueWebhook(ctx, "cli:root", id)
		if err != nil || r.ID != id || r.Status != admin.WebhookPending || !r.Requeued.Equal(now) || r.Attempts != 0 {
			t.Fatalf("RequeueWebhook: %+v, %v", r, err)
		}
		if failed, _ := svc.Webhooks(ctx, admin.WebhookFilter{Failed: true}); len(failed) != 0 {
			t.Errorf("still failed after the re-queue: %+v", failed)
		}
		claimed, err := dir.ClaimWebhooks(ctx, now, time.Minute, 10)
		if err != nil || len(claimed) != 1 || claimed[0].ID != id {
			t.Fatalf("due after the re-queue: %+v, %v; want %s at once", claimed, err, id)
		}
		last := lastEvent(t, dir, bob.ID)
		if last.Event != audit.WebhookRequeued || last.Actor != "cli:root" || last.Detail["event_id"] != id || last.Detail["type"] != "logout" {
			t.Errorf("audit: %+v", last)
		}
	})
}

// TestPersonalDataHidesTransportErrors: a delivery that failed in
// transport names the CRM's internal host and address in its last error;
// the user's export says only that the CRM could not be reached, while
// the operator's listing keeps the text.
func TestPersonalDataHidesTransportErrors(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc, rec := newNotifyingService(dir, func() time.Time { return hookBase })
		bob := addUser(t, svc, "bob")
		rec.Record(ctx, audit.Event{Time: hookBase, Event: audit.Logout, Actor: "bob", UserID: bob.ID, Detail: map[string]string{"session": "s-1"}})
		const internal = `Post "https://crm.internal.corp:8443/gatehouse": dial tcp 10.20.30.40:8443: connect: connection refused`
		giveUp(t, dir, hookBase.Add(time.Hour), internal)
		d, err := svc.PersonalData(ctx, bob.ID)
		if err != nil || len(d.WebhookEvents) != 1 {
			t.Fatalf("export: %+v, %v", d.WebhookEvents, err)
		}
		js, _ := json.Marshal(d)
		if strings.Contains(string(js), "crm.internal") || strings.Contains(string(js), "10.20.30.40") ||
			d.WebhookEvents[0].LastError != "the CRM could not be reached" {
			t.Errorf("the user's export shows the transport error: %q", d.WebhookEvents[0].LastError)
		}
		ops, err := svc.Webhooks(ctx, admin.WebhookFilter{})
		if err != nil || len(ops) != 1 || ops[0].LastError != internal {
			t.Errorf("the operator's listing: %+v, %v; want the whole error", ops, err)
		}
	})
}
