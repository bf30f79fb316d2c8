package directorytest

import (
	"fmt"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"maps"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

func testAudit(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	if got, err := d.ListAudit(ctx, 10); err != nil || len(got) != 0 {
		t.Fatalf("ListAudit on empty log: got %v, %v, want none", got, err)
	}
	t0 := time.Date(2026, 3, 1, 9, 30, 0, 123_000_000, time.FixedZone("CET", 3600))
	appended := []audit.Event{
		{Time: t0, Event: "login_success", Actor: "alice", UserID: "u1", ClientIP: "192.0.2.1",
			Detail: map[string]string{"method": "password", "note": `quotes " and ünïcode`}},
		{Time: t0.Add(time.Second), Event: "login_failure", Actor: "bob", ClientIP: "2001:db8::1",
			Detail: map[string]string{"reason": "bad_password"}},
		{Time: t0.Add(time.Second), Event: "policy_changed", Actor: "cli"}, // same time: inserted later, listed first
		{Event: "user_disabled", Actor: "system", UserID: "u1"},            // zero Time: now
	}
	for _, e := range appended {
		if err := d.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit(%s): %v", e.Event, err)
		}
	}
	got, err := d.ListAudit(ctx, 10)
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	want := []audit.Event{appended[3], appended[2], appended[1], appended[0]}
	if len(got) != len(want) {
		t.Fatalf("ListAudit: got %d events, want %d", len(got), len(want))
	}
	ids := map[int64]bool{}
	for i, g := range got {
		w := want[i]
		name := fmt.Sprintf("event %d (%s)", i, w.Event)
		if g.Event != w.Event || g.Actor != w.Actor || g.UserID != w.UserID ||
			g.ClientIP != w.ClientIP || !maps.Equal(g.Detail, w.Detail) {
			t.Errorf("%s: got %+v, want %+v", name, g, w)
		}
		wantUTC(t, name+" Time", g.Time)
		if !w.Time.IsZero() && !g.Time.Equal(w.Time) {
			t.Errorf("%s Time: got %v, want %v", name, g.Time, w.Time)
		}
		if g.ID <= 0 || ids[g.ID] {
			t.Errorf("%s ID: got %d, want positive and distinct", name, g.ID)
		}
		ids[g.ID] = true
	}
	if now := time.Now(); got[0].Time.Before(now.Add(-time.Minute)) || got[0].Time.After(now.Add(time.Second)) {
		t.Errorf("event with zero Time: got %v, want now", got[0].Time)
	}
}

func testAuditLimit(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	t0 := time.Now().Add(-time.Hour)
	for i := range 5 {
		e := audit.Event{Time: t0.Add(time.Duration(i) * time.Minute), Event: fmt.Sprintf("event_%d", i)}
		if err := d.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
	tests := []struct {
		limit int
		want  []string
	}{
		{2, []string{"event_4", "event_3"}},
		{5, []string{"event_4", "event_3", "event_2", "event_1", "event_0"}},
		{50, []string{"event_4", "event_3", "event_2", "event_1", "event_0"}},
		{0, nil},
	}
	for _, tc := range tests {
		got, err := d.ListAudit(ctx, tc.limit)
		if err != nil {
			t.Fatalf("ListAudit(%d): %v", tc.limit, err)
		}
		var names []string
		for _, e := range got {
			names = append(names, e.Event)
		}
		if fmt.Sprint(names) != fmt.Sprint(tc.want) {
			t.Errorf("ListAudit(%d): got %v, want %v", tc.limit, names, tc.want)
		}
	}
}
