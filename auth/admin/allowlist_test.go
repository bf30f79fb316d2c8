package admin_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
)

// TestSetAllowedIPsDescriptions: a user's allowlist keeps a description
// per entry, CIDRs stored canonical and descriptions trimmed; the audit
// event names both; a bad CIDR or description is named by its index and
// changes nothing; an empty list clears it.
func TestSetAllowedIPsDescriptions(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		if _, err := svc.AddUser(ctx, "cli", admin.NewUser{Username: "bob", Role: "sales"}); err != nil {
			t.Fatal(err)
		}
		in := directory.AllowList{{CIDR: "10.1.2.3/16", Description: "  Bangalore office "}, {CIDR: "192.0.2.7"}}
		u, clean, err := svc.SetAllowedIPs(ctx, "cli:root", "bob", in)
		want := directory.AllowList{{CIDR: "10.1.0.0/16", Description: "Bangalore office"}, {CIDR: "192.0.2.7/32"}}
		if err != nil || !slices.Equal(clean, want) || !slices.Equal(u.AllowList, want) {
			t.Fatalf("SetAllowedIPs: %+v %+v %v, want %+v", u, clean, err, want)
		}
		if got, _ := dir.UserByID(ctx, u.ID); !slices.Equal(got.AllowList, want) {
			t.Fatalf("stored: %+v, want %+v", got.AllowList, want)
		}
		last := lastEvent(t, dir, u.ID)
		if last.Event != audit.UserAllowlist || last.Actor != "cli:root" ||
			last.Detail["cidrs"] != "[10.1.0.0/16 192.0.2.7/32]" || last.Detail["descriptions"] != `["Bangalore office" ""]` {
			t.Fatalf("audit: %+v", last)
		}

		var inv *admin.InvalidError
		for _, bad := range []struct {
			list  directory.AllowList
			field string
		}{
			{directory.AllowList{{CIDR: "10.0.0.0/8"}, {CIDR: "10.0.0.0/33", Description: "typo"}}, "allowlist[1].cidr"},
			{directory.AllowList{{CIDR: "10.0.0.0/8", Description: strings.Repeat("x", 201)}}, "allowlist[0].description"},
			{directory.AllowList{{CIDR: "10.0.0.0/8", Description: "two\nlines"}}, "allowlist[0].description"},
		} {
			if _, _, err := svc.SetAllowedIPs(ctx, "cli", "bob", bad.list); !errors.As(err, &inv) || inv.Problems[0].Field != bad.field {
				t.Errorf("%+v: got %v, want a problem with %s", bad.list, err, bad.field)
			}
		}
		if got, _ := dir.UserByID(ctx, u.ID); !slices.Equal(got.AllowList, want) {
			t.Fatalf("a refused list changed the stored one: %+v", got.AllowList)
		}

		// Descriptions alone make no difference to the network guard's
		// view, and an empty list clears.
		lists, err := dir.UserAllowlists(ctx)
		if err != nil || !slices.Equal(lists[u.ID], []string{"10.1.0.0/16", "192.0.2.7/32"}) {
			t.Fatalf("UserAllowlists: %v %v", lists, err)
		}
		if u, _, err = svc.SetAllowedIPs(ctx, "cli", "bob", nil); err != nil || len(u.AllowList) != 0 {
			t.Fatalf("clear: %+v %v", u, err)
		}
		if last := lastEvent(t, dir, u.ID); last.Detail["cidrs"] != "[]" || last.Detail["descriptions"] != "" {
			t.Fatalf("audit of a clear: %+v", last)
		}
		d, err := svc.PersonalData(ctx, u.ID)
		if err != nil || len(d.Profile.Allowlist) != 0 || d.Profile.Allowlist == nil {
			t.Fatalf("personal data after a clear: %+v %v", d.Profile, err)
		}
	})
}

// TestPersonalDataAllowlist: the user's export holds their allowlist
// with its descriptions, and the CIDRs alone as before.
func TestPersonalDataAllowlist(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		u, err := svc.AddUser(ctx, "cli", admin.NewUser{Username: "bob", Role: "sales"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.SetAllowedIPs(ctx, "cli", "bob", directory.AllowList{{CIDR: "10.1.0.0/16", Description: "Bangalore office"}}); err != nil {
			t.Fatal(err)
		}
		d, err := svc.PersonalData(ctx, u.ID)
		if err != nil || !slices.Equal(d.Profile.AllowedNetworks, []string{"10.1.0.0/16"}) ||
			!slices.Equal(d.Profile.Allowlist, []admin.PersonalNetwork{{CIDR: "10.1.0.0/16", Description: "Bangalore office"}}) {
			t.Fatalf("export: %+v %v", d.Profile, err)
		}
	})
}

// lastEvent is the newest audit event about userID.
func lastEvent(t *testing.T, dir *sqldir.DB, userID string) audit.Event {
	t.Helper()
	all, err := dir.ListAudit(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.UserID == userID {
			return e
		}
	}
	t.Fatalf("no event about %s", userID)
	return audit.Event{}
}
