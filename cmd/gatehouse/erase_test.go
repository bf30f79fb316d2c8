package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
)

// TestEraseUser: the data-protection erasure deletes the user like any
// delete, and rewrites every audit event about them so that none names
// them (id, username, email, address) while the events themselves — and
// everyone else's — stay.
func TestEraseUser(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	carol := r.addUser(t, "carol", alicePW, "sales")
	r.addUser(t, "dave", alicePW, "sales")
	u, _ := r.a.dir.UserByUsername(t.Context(), "carol")
	u.Email = "carol@corp.example"
	if err := r.a.dir.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	newBrowser(t, r.URL).Login(t, "carol", alicePW)
	newBrowser(t, r.URL).Login(t, "dave", alicePW)
	loginRefused(t, r, "carol", "not her password")
	before, err := r.a.dir.ListAudit(t.Context(), 500)
	if err != nil {
		t.Fatal(err)
	}
	hers := 0
	for _, e := range before {
		if e.UserID == carol.ID || e.Actor == "carol" {
			hers++
		}
	}
	if hers < 2 {
		t.Fatalf("only %d events about carol before the erasure: %+v", hers, before)
	}

	if code, out := runCLIStdin(t, r, "carl\n", "user", "delete", "carol", "--erase"); code == 0 || !strings.Contains(out, "not deleted") {
		t.Fatalf("an erasure with the wrong name typed: %d %s", code, out)
	}
	code, out := runCLIStdin(t, r, "carol\n", "user", "delete", "carol", "--erase")
	if code != 0 || !strings.Contains(out, "audit events rewritten: they now name erased:") {
		t.Fatalf("erase: %d %s", code, out)
	}
	after, err := r.a.dir.ListAudit(t.Context(), 500)
	if err != nil {
		t.Fatal(err)
	}
	var erased *audit.Event
	daveLogins := 0
	for i, e := range after {
		js, _ := json.Marshal(e)
		if strings.Contains(string(js), carol.ID) || strings.Contains(string(js), `"carol"`) || strings.Contains(string(js), "carol@corp.example") {
			t.Errorf("an event still names carol after the erasure: %s", js)
		}
		if e.Event == audit.UserErased {
			erased = &after[i]
		}
		if e.Event == audit.LoginSuccess && e.Actor == "dave" && e.ClientIP != "" {
			daveLogins++
		}
	}
	if erased == nil || !strings.HasPrefix(erased.UserID, "erased:") || erased.Actor == "" {
		t.Fatalf("no user_erased event under the pseudonym: %+v", erased)
	}
	if daveLogins != 1 {
		t.Fatalf("dave's login events changed: %d", daveLogins)
	}
	// Her events are still there, under the pseudonym.
	under := 0
	for _, e := range after {
		if e.UserID == erased.UserID || e.Actor == erased.UserID {
			under++
		}
	}
	if under < hers {
		t.Fatalf("%d events under the pseudonym, want at least the %d about her", under, hers)
	}
	if code, out := runCLI(t, r, "user", "show", "carol"); code == 0 {
		t.Fatalf("user show after the erasure: %d %s", code, out)
	}
}

// TestAuditRetention: log.audit_retention deletes the events older than
// it when the job runs, and nothing else; 0 keeps everything.
func TestAuditRetention(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), "log: {audit_retention: 720h}\n"), clk)
	old := clk.Now().Add(-31 * 24 * time.Hour)
	for _, e := range []audit.Event{{Time: old, Event: audit.LoginSuccess, Actor: "ghost"}, {Time: old.Add(time.Hour), Event: audit.Logout, Actor: "ghost"}} {
		if err := r.a.dir.AppendAudit(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	recent := audit.Event{Time: clk.Now().Add(-29 * 24 * time.Hour), Event: audit.LoginSuccess, Actor: "recent"}
	if err := r.a.dir.AppendAudit(t.Context(), recent); err != nil {
		t.Fatal(err)
	}
	r.pruneAudit(t.Context())
	events, err := r.a.dir.ListAudit(t.Context(), 500)
	if err != nil {
		t.Fatal(err)
	}
	var sawRecent bool
	for _, e := range events {
		if e.Actor == "ghost" {
			t.Fatalf("an event past the retention is still there: %+v", e)
		}
		sawRecent = sawRecent || e.Actor == "recent"
	}
	if !sawRecent {
		t.Fatal("an event inside the retention was deleted")
	}
	if !strings.Contains(r.stderr.String(), "audit events past log.audit_retention deleted") {
		t.Fatalf("the job did not say what it deleted:\n%s", r.stderr)
	}

	keep := startReplica(t, sqliteConfig(t, startUpstream(t), ""), clk)
	if err := keep.a.dir.AppendAudit(t.Context(), audit.Event{Time: old, Event: audit.LoginSuccess, Actor: "ghost"}); err != nil {
		t.Fatal(err)
	}
	keep.pruneAudit(t.Context())
	if events, _ := keep.a.dir.ListAudit(t.Context(), 500); !strings.Contains(func() string { js, _ := json.Marshal(events); return string(js) }(), `"ghost"`) {
		t.Fatal("without log.audit_retention an old event was deleted")
	}
}
