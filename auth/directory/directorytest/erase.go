package directorytest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// testAuditErase: an erased user's events stay, naming the pseudonym
// instead of the user (id, actor, detail values, address); everyone
// else's are untouched; the retention delete removes only older events.
func testAuditErase(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	events := []audit.Event{
		{Time: t0, Event: "login_success", Actor: "carol", UserID: "u-carol", ClientIP: "192.0.2.7", Detail: map[string]string{"method": "password"}},
		{Time: t0.Add(time.Minute), Event: "user_created", Actor: "root", UserID: "u-carol", Detail: map[string]string{"username": "carol", "role": "sales"}},
		{Time: t0.Add(2 * time.Minute), Event: "login_failure", Actor: "carol", ClientIP: "192.0.2.8", Detail: map[string]string{"reason": "wrong_password"}},
		{Time: t0.Add(3 * time.Minute), Event: "login_success", Actor: "dave", UserID: "u-dave", ClientIP: "192.0.2.9", Detail: map[string]string{"note": "carolina"}},
		{Time: t0.Add(4 * time.Minute), Event: "group_member_added", Actor: "root", UserID: "u-dave", Detail: map[string]string{"by": "carol@corp.example"}},
	}
	for _, e := range events {
		if err := d.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	n, err := d.PseudonymizeAudit(ctx, "u-carol", "erased:x1", []string{"carol", "carol@corp.example", ""})
	if err != nil || n != 4 {
		t.Fatalf("PseudonymizeAudit: %d, %v; want 4 events changed (her three and the one naming her email)", n, err)
	}
	got, err := d.ListAudit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		all := e.Actor + " " + e.UserID + " " + e.ClientIP
		for _, v := range e.Detail {
			all += " " + v
		}
		switch e.Event + "/" + e.Time.Format("04") {
		case "login_success/00", "login_failure/02":
			if e.Actor != "erased:x1" || e.ClientIP != "" || strings.Contains(all, "carol") || strings.Contains(all, "192.0.2") {
				t.Errorf("her own event after the erasure: %+v", e)
			}
		case "user_created/01":
			if e.Actor != "root" || e.UserID != "erased:x1" || e.Detail["username"] != "erased:x1" || e.Detail["role"] != "sales" {
				t.Errorf("the admin's event about her: %+v", e)
			}
		case "login_success/03":
			if e.Actor != "dave" || e.UserID != "u-dave" || e.ClientIP != "192.0.2.9" || e.Detail["note"] != "carolina" {
				t.Errorf("dave's event changed: %+v", e)
			}
		case "group_member_added/04":
			if e.UserID != "u-dave" || e.Detail["by"] != "erased:x1" {
				t.Errorf("an event naming her email in its detail: %+v", e)
			}
		}
	}

	removed, err := d.DeleteAuditBefore(ctx, t0.Add(2*time.Minute))
	if err != nil || removed != 2 {
		t.Fatalf("DeleteAuditBefore: %d, %v; want the 2 older events", removed, err)
	}
	if got, _ := d.ListAudit(ctx, 10); len(got) != 3 || !got[len(got)-1].Time.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("after the retention delete: %+v", got)
	}
	if removed, err := d.DeleteAuditBefore(ctx, t0); err != nil || removed != 0 {
		t.Fatalf("a second delete: %d, %v", removed, err)
	}
}

// testOutboxErase: an erased user's queued webhook events stay — a
// pending one still due, a failed one still failed, each under its own
// id, type and session — but name the pseudonym instead of the user id
// and no longer hold the username; someone else's event whose values
// contain or equal her id or name is untouched, byte for byte; a body
// that cannot be read and might name her goes.
func testOutboxErase(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	const dave = `{"id":"evt_3","note":"carolina","reason":"carol","type":"logout","user":{"id":"u-dave","username":"dave"},"x":"u-carol2","y":["u-carol","carol@corp.example"]}`
	enqueueBody(t, d, "evt_1", 0, `{"id":"evt_1","type":"logout","time":"2026-03-01T09:00:00Z","user":{"id":"u-carol","username":"carol"},"session":"s-1","n":12345678901234567890}`)
	enqueueBody(t, d, "evt_2", 1, `{"id":"evt_2","type":"user_disabled","user":{"id":"u-carol","username":"carol"},"reason":"user_disabled"}`)
	enqueueBody(t, d, "evt_3", 2, dave)
	enqueueBody(t, d, "evt_4", 3, `not json, u-carol`)
	failWebhook(t, d, "evt_2", outboxBase.Add(time.Hour))

	n, err := d.PseudonymizeWebhooks(ctx, "u-carol", "erased:x1", []string{"carol", "carol@corp.example", ""})
	if err != nil || n != 3 {
		t.Fatalf("PseudonymizeWebhooks: %d, %v; want 3 events changed (her two and the unreadable one)", n, err)
	}
	if got := listWebhooks(t, d, directory.WebhookQuery{UserID: "u-carol"}); len(got) != 0 {
		t.Errorf("events still about u-carol: %v", webhookIDs(got))
	}
	got := listWebhooks(t, d, directory.WebhookQuery{})
	if ids := webhookIDs(got); !slices.Equal(ids, []string{"evt_3", "evt_2", "evt_1"}) {
		t.Fatalf("after the erasure: got %v, want her two events kept and the unreadable one gone", ids)
	}
	for _, e := range got {
		switch e.ID {
		case "evt_1", "evt_2":
			var p struct {
				ID, Type, Session string
				N                 json.Number
				User              map[string]string
			}
			if err := json.Unmarshal(e.Body, &p); err != nil {
				t.Fatalf("%s: body %s: %v", e.ID, e.Body, err)
			}
			if strings.Contains(string(e.Body), "carol") || p.ID != e.ID || p.User["id"] != "erased:x1" || len(p.User) != 1 {
				t.Errorf("%s after the erasure: %s, want user.id the pseudonym and no username", e.ID, e.Body)
			}
			if e.ID == "evt_1" && (p.Session != "s-1" || p.Type != "logout" || p.N != "12345678901234567890" || !e.Failed.IsZero()) {
				t.Errorf("evt_1 lost what is not hers, or its state: %s %+v", e.Body, e)
			}
			if e.ID == "evt_2" && (e.Failed.IsZero() || p.Type != "user_disabled") {
				t.Errorf("evt_2 is no longer the failed user_disabled event: %s %+v", e.Body, e)
			}
		case "evt_3":
			if string(e.Body) != dave {
				t.Errorf("dave's event changed: %s", e.Body)
			}
		}
	}
	// The pending one is still delivered, under the pseudonym.
	if claimed := claimWebhooks(t, d, outboxBase.Add(2*time.Hour), time.Minute, 10); !slices.Equal(webhookIDs(claimed), []string{"evt_1", "evt_3"}) {
		t.Errorf("claimable after the erasure: got %v, want evt_1 and evt_3", webhookIDs(claimed))
	}
	if n, err := d.PseudonymizeWebhooks(ctx, "u-carol", "erased:x1", []string{"carol"}); err != nil || n != 0 {
		t.Errorf("a second erasure: %d, %v; want nothing left to change", n, err)
	}
}
