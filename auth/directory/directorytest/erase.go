package directorytest

import (
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
