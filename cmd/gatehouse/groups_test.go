package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
)

// TestGroupsCLI walks the group commands as an admin would: an
// account-based group with a manager, the refusals that keep the data
// meaningful, the upstream's X-Gatehouse-Groups from the membership, and
// an audit event for every change.
func TestGroupsCLI(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "manager")
	cli := func(want int, args ...string) string {
		t.Helper()
		code, out := runCLI(t, r, args...)
		if code != want {
			t.Fatalf("gatehouse %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
		}
		return out
	}
	cli(0, "group", "add", "north", "--mode", "account_based", "--description", "North region")
	if out := cli(1, "group", "add", "north"); !strings.Contains(out, `group "north" exists already`) {
		t.Fatalf("duplicate: %s", out)
	}
	if out := cli(1, "group", "add", "south", "--mode", "by_region"); !strings.Contains(out, `mode "by_region" is not lead_based or account_based`) {
		t.Fatalf("bad mode: %s", out)
	}
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	cli(0, "group", "add-member", "north", "alice")
	cli(0, "group", "add-member", "north", "bob")
	// Membership is in the session's identity: adding alice ended her
	// session, and her next one carries the group.
	r.refresh(t)
	resp, _ := b.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	b.Login(t, "alice", alicePW)
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK || up.Last(t).Header.Get("X-Gatehouse-Groups") != "north" {
		t.Fatalf("groups header: %d %q", resp.StatusCode, up.Last(t).Header.Get("X-Gatehouse-Groups"))
	}

	if out := cli(0, "group", "grant", "north", "bob", "modify_all_accounts", "view_all_leads"); !strings.Contains(out, "bob in north: view_all_leads, modify_all_accounts") {
		t.Fatalf("grant: %s", out)
	}
	if out := cli(2, "group", "grant", "north", "bob"); !strings.Contains(out, "usage") {
		t.Fatalf("grant without a permission: %s", out)
	}
	if out := cli(1, "group", "grant", "north", "bob", "see_everything"); !strings.Contains(out, `"see_everything" is not a manager permission`) {
		t.Fatalf("unknown permission: %s", out)
	}
	if out := cli(1, "group", "grant", "north", "carol", "view_all_leads"); !strings.Contains(out, `no user "carol"`) {
		t.Fatalf("unknown user: %s", out)
	}
	if out := cli(1, "group", "set-mode", "north", "lead_based"); !strings.Contains(out, "bob hold account permissions") {
		t.Fatalf("set-mode with account permissions held: %s", out)
	}
	out := cli(0, "group", "show", "north")
	for _, want := range []string{"mode:        account_based", "description: North region", "members:     2", "alice", "member", "view_all_leads, modify_all_accounts"} {
		if !strings.Contains(out, want) {
			t.Fatalf("show lacks %q:\n%s", want, out)
		}
	}
	cli(0, "group", "revoke", "north", "bob", "modify_all_accounts")
	cli(0, "group", "set-mode", "north", "lead_based")
	if out := cli(1, "group", "grant", "north", "bob", "view_all_accounts"); !strings.Contains(out, "lead-based") {
		t.Fatalf("account permission in a lead-based group: %s", out)
	}
	if out := cli(0, "group", "list"); !strings.Contains(out, "north") || !strings.Contains(out, "lead_based") {
		t.Fatalf("list: %s", out)
	}
	cli(0, "group", "remove-member", "north", "alice")
	if out := cli(1, "group", "remove-member", "north", "alice"); !strings.Contains(out, "alice is not in north") {
		t.Fatalf("remove twice: %s", out)
	}
	cli(0, "group", "delete", "north")
	if out := cli(1, "group", "show", "north"); !strings.Contains(out, `no group "north"`) {
		t.Fatalf("show after delete: %s", out)
	}

	events, err := r.a.dir.ListAudit(t.Context(), 200)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, ev := range events {
		seen[ev.Event]++
	}
	for ev, n := range map[string]int{audit.GroupCreated: 1, audit.GroupMemberAdded: 2, audit.GroupPermsChanged: 2,
		audit.GroupChanged: 1, audit.GroupMemberRemoved: 1, audit.GroupDeleted: 1} {
		if seen[ev] != n {
			t.Errorf("audit %s: %d events, want %d", ev, seen[ev], n)
		}
	}
}
