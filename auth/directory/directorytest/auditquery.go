package directorytest

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// appendLabelled appends events labelled by Actor and returns their IDs
// by label, read back through ListAudit (AppendAudit does not return it).
func appendLabelled(t *testing.T, d directory.Directory, events []audit.Event) map[string]int64 {
	t.Helper()
	for _, e := range events {
		if err := d.AppendAudit(t.Context(), e); err != nil {
			t.Fatalf("AppendAudit(%s): %v", e.Actor, err)
		}
	}
	all, err := d.ListAudit(t.Context(), len(events))
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	ids := map[string]int64{}
	for _, e := range all {
		ids[e.Actor] = e.ID
	}
	return ids
}

// labels lists the events' labels (Actor), in order.
func labels(events []audit.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Actor)
	}
	return out
}

// auditSeed is the log the QueryAudit tests read. "f" is appended last
// with an early Time, as a replica with a slow clock would: its ID is the
// largest but it sorts among the older events, which is what an ID-only
// paging cursor gets wrong.
func auditSeed(t0 time.Time) []audit.Event {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	return []audit.Event{
		{Actor: "a", Time: at(0), Event: audit.LoginSuccess, UserID: "u1", ClientIP: "192.0.2.1"},
		{Actor: "b", Time: at(1), Event: audit.LoginFailure, UserID: "u2", Detail: map[string]string{"reason": "bad_password"}},
		{Actor: "c", Time: at(2), Event: audit.LoginSuccess, UserID: "u2"},
		{Actor: "d", Time: at(2), Event: audit.PolicyChanged}, // c's time, appended later: listed first
		{Actor: "e", Time: at(3), Event: audit.LoginFailure, UserID: "u1"},
		{Actor: "f", Time: at(1), Event: audit.LoginSuccess, UserID: "u1"},
	}
}

func testAuditQuery(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	if got, err := d.QueryAudit(ctx, directory.AuditQuery{}); err != nil || len(got) != 0 {
		t.Fatalf("QueryAudit on empty log: got %v, %v, want none", got, err)
	}
	t0 := time.Date(2026, 3, 1, 9, 30, 0, 123_000_000, time.UTC)
	seed := auditSeed(t0)
	ids := appendLabelled(t, d, seed)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name string
		q    directory.AuditQuery
		want []string
	}{
		{"everything, newest first", directory.AuditQuery{}, []string{"e", "d", "c", "f", "b", "a"}},
		{"user", directory.AuditQuery{UserID: "u1"}, []string{"e", "f", "a"}},
		{"unknown user", directory.AuditQuery{UserID: "u9"}, nil},
		{"event", directory.AuditQuery{Event: audit.LoginSuccess}, []string{"c", "f", "a"}},
		{"unknown event", directory.AuditQuery{Event: "no_such_event"}, nil},
		{"user and event", directory.AuditQuery{UserID: "u2", Event: audit.LoginFailure}, []string{"b"}},
		{"since is inclusive", directory.AuditQuery{Since: at(1)}, []string{"e", "d", "c", "f", "b"}},
		{"until is exclusive", directory.AuditQuery{Until: at(2)}, []string{"f", "b", "a"}},
		{"since between milliseconds", directory.AuditQuery{Since: at(1).Add(500 * time.Microsecond)}, []string{"e", "d", "c"}},
		{"until between milliseconds", directory.AuditQuery{Until: at(2).Add(500 * time.Microsecond)}, []string{"d", "c", "f", "b", "a"}},
		{"since and until", directory.AuditQuery{Since: at(1), Until: at(3)}, []string{"d", "c", "f", "b"}},
		{"since in another zone", directory.AuditQuery{Since: at(2).In(time.FixedZone("EST", -5*3600))}, []string{"e", "d", "c"}},
		{"empty range", directory.AuditQuery{Since: at(2), Until: at(2)}, nil},
		{"every filter", directory.AuditQuery{UserID: "u1", Event: audit.LoginSuccess, Since: at(1), Until: at(3)}, []string{"f"}},
		{"limit", directory.AuditQuery{Limit: 2}, []string{"e", "d"}},
		{"limit after filters", directory.AuditQuery{UserID: "u1", Limit: 2}, []string{"e", "f"}},
		{"before", directory.AuditQuery{Before: ids["d"]}, []string{"c", "f", "b", "a"}},
		// f has the largest ID; what follows it is b and a, not every
		// event with a smaller ID.
		{"before an event whose ID is out of time order", directory.AuditQuery{Before: ids["f"]}, []string{"b", "a"}},
		{"before the oldest", directory.AuditQuery{Before: ids["a"]}, nil},
		{"before and filters", directory.AuditQuery{Before: ids["e"], UserID: "u1", Since: at(1)}, []string{"f"}},
		{"before an unknown ID: smaller IDs", directory.AuditQuery{Before: ids["f"] + 1000}, []string{"e", "d", "c", "f", "b", "a"}},
	}
	for _, tc := range tests {
		got, err := d.QueryAudit(ctx, tc.q)
		if err != nil {
			t.Fatalf("QueryAudit(%s): %v", tc.name, err)
		}
		if !slices.Equal(labels(got), tc.want) {
			t.Errorf("QueryAudit(%s): got %v, want %v", tc.name, labels(got), tc.want)
		}
	}

	// Every field comes back as appended, times in UTC.
	got, err := d.QueryAudit(ctx, directory.AuditQuery{UserID: "u2", Event: audit.LoginFailure})
	if err != nil || len(got) != 1 {
		t.Fatalf("QueryAudit: got %v, %v, want b", got, err)
	}
	b := seed[1]
	if g := got[0]; g.ID != ids["b"] || !g.Time.Equal(b.Time) || g.Event != b.Event || g.UserID != b.UserID ||
		g.ClientIP != b.ClientIP || fmt.Sprint(g.Detail) != fmt.Sprint(b.Detail) {
		t.Errorf("QueryAudit: got %+v, want %+v with ID %d", g, b, ids["b"])
	}
	wantUTC(t, "QueryAudit Time", got[0].Time)
}

// testAuditQueryPaging walks the log a page at a time, as an export does,
// and must see every event exactly once in order, whatever the page size
// and filter.
func testAuditQueryPaging(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	t0 := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	appendLabelled(t, d, auditSeed(t0))
	for _, base := range []directory.AuditQuery{{}, {UserID: "u1"}, {Event: audit.LoginSuccess}, {Since: t0.Add(time.Second)}} {
		whole, err := d.QueryAudit(ctx, base)
		if err != nil {
			t.Fatalf("QueryAudit(%+v): %v", base, err)
		}
		for size := 1; size <= len(whole)+1; size++ {
			q := base
			q.Limit = size
			var walked []audit.Event
			for pages := 0; ; pages++ {
				if pages > len(whole)+1 {
					t.Fatalf("%+v: paging does not end", q)
				}
				page, err := d.QueryAudit(ctx, q)
				if err != nil {
					t.Fatalf("QueryAudit(%+v): %v", q, err)
				}
				walked = append(walked, page...)
				if len(page) < size {
					break
				}
				q.Before = page[len(page)-1].ID
			}
			if !slices.Equal(labels(walked), labels(whole)) {
				t.Errorf("%+v in pages of %d: got %v, want %v", base, size, labels(walked), labels(whole))
			}
		}
	}
}

// testAuditQueryLimit checks the default page and the cap.
func testAuditQueryLimit(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	t0 := time.Now().Add(-time.Hour)
	for i := range directory.AuditPageMax + 1 {
		e := audit.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Event: audit.LoginSuccess, Actor: fmt.Sprint(i)}
		if err := d.AppendAudit(ctx, e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
	for _, tc := range []struct{ limit, want int }{
		{0, directory.AuditPageDefault},
		{-1, directory.AuditPageDefault},
		{7, 7},
		{directory.AuditPageMax, directory.AuditPageMax},
		{directory.AuditPageMax + 1, directory.AuditPageMax},
		{math.MaxInt, directory.AuditPageMax},
	} {
		got, err := d.QueryAudit(ctx, directory.AuditQuery{Limit: tc.limit})
		if err != nil {
			t.Fatalf("QueryAudit(Limit %d): %v", tc.limit, err)
		}
		if len(got) != tc.want || got[0].Actor != fmt.Sprint(directory.AuditPageMax) {
			t.Errorf("QueryAudit(Limit %d): got %d events from %v, want %d from the newest", tc.limit, len(got), labels(got[:min(1, len(got))]), tc.want)
		}
	}
}
