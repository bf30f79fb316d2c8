package directorytest

import (
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

func newMember(t *testing.T, d directory.Directory, username string, groups ...string) *directory.User {
	return mustCreate(t, d, &directory.User{Username: username, Role: "sales", Groups: groups})
}

func members(g *directory.Group) map[string][]string {
	m := map[string][]string{}
	for _, x := range g.Members {
		m[x.Username] = x.Perms
	}
	return m
}

func testGroups(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	gen := func() int64 {
		t.Helper()
		g, err := d.GroupsGeneration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	last := gen()
	moved := func(what string) {
		t.Helper()
		if g := gen(); g == last {
			t.Errorf("the groups generation did not move after %s", what)
		} else {
			last = g
		}
	}
	g := &directory.Group{Name: "north", Mode: directory.ModeAccountBased, Description: "North region"}
	if err := d.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	wantUTC(t, "CreateGroup CreatedAt", g.CreatedAt)
	moved("CreateGroup")
	wantErr(t, "CreateGroup twice", d.CreateGroup(ctx, &directory.Group{Name: "north", Mode: directory.ModeLeadBased}), directory.ErrConflict)

	alice := newMember(t, d, "alice")
	bob := newMember(t, d, "bob")
	moved("CreateUser")
	if err := d.SetMember(ctx, "north", alice.ID, nil); err != nil {
		t.Fatal(err)
	}
	moved("SetMember")
	if err := d.SetMember(ctx, "north", bob.ID, []string{directory.PermViewAllLeads, directory.PermModifyAllAccounts}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "SetMember unknown group", d.SetMember(ctx, "south", alice.ID, nil), directory.ErrNotFound)
	wantErr(t, "SetMember unknown user", d.SetMember(ctx, "north", "no-such-id", nil), directory.ErrNotFound)

	got, err := d.Group(ctx, "north")
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != directory.ModeAccountBased || got.Description != "North region" || len(got.Members) != 2 ||
		got.Members[0].Username != "alice" || got.Members[0].UserID != alice.ID || got.Members[0].Perms != nil ||
		!slices.Equal(got.Members[1].Perms, []string{directory.PermViewAllLeads, directory.PermModifyAllAccounts}) {
		t.Fatalf("Group = %+v", got)
	}
	// Membership shows in the user's Groups, which identity headers carry.
	if u, _ := d.UserByID(ctx, bob.ID); !slices.Equal(u.Groups, []string{"north"}) {
		t.Fatalf("bob's groups = %v", u.Groups)
	}
	// Replacing permissions keeps the membership.
	if err := d.SetMember(ctx, "north", bob.ID, []string{directory.PermViewAllAccounts}); err != nil {
		t.Fatal(err)
	}
	moved("SetMember replacing permissions")
	got, _ = d.Group(ctx, "north")
	if p := members(got)["bob"]; !slices.Equal(p, []string{directory.PermViewAllAccounts}) {
		t.Fatalf("bob's perms after replace = %v", p)
	}

	if err := d.UpdateGroup(ctx, "north", directory.ModeLeadBased, "changed"); err != nil {
		t.Fatal(err)
	}
	moved("UpdateGroup")
	wantErr(t, "UpdateGroup unknown", d.UpdateGroup(ctx, "south", directory.ModeLeadBased, ""), directory.ErrNotFound)
	if got, _ := d.Group(ctx, "north"); got.Mode != directory.ModeLeadBased || got.Description != "changed" {
		t.Fatalf("after UpdateGroup: %+v", got)
	}

	if err := d.RemoveMember(ctx, "north", alice.ID); err != nil {
		t.Fatal(err)
	}
	moved("RemoveMember")
	wantErr(t, "RemoveMember twice", d.RemoveMember(ctx, "north", alice.ID), directory.ErrNotFound)
	if u, _ := d.UserByID(ctx, alice.ID); len(u.Groups) != 0 {
		t.Fatalf("alice's groups after removal = %v", u.Groups)
	}

	_, err = d.Group(ctx, "south")
	wantErr(t, "Group unknown", err, directory.ErrNotFound)
	if err := d.DeleteGroup(ctx, "north"); err != nil {
		t.Fatal(err)
	}
	moved("DeleteGroup")
	bob.Username = "robert"
	if err := d.UpdateUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	moved("renaming a user")
	wantErr(t, "DeleteGroup twice", d.DeleteGroup(ctx, "north"), directory.ErrNotFound)
	if u, _ := d.UserByID(ctx, bob.ID); len(u.Groups) != 0 {
		t.Fatalf("bob's groups after the group was deleted = %v", u.Groups)
	}
	if gs, err := d.ListGroups(ctx); err != nil || len(gs) != 0 {
		t.Fatalf("ListGroups after delete = %v, %v", gs, err)
	}
}

// testGroupsFromUser: User.Groups set through CreateUser and UpdateUser
// is membership: a missing group is created lead-based, a membership
// that stays keeps its manager permissions, a dropped one ends.
func testGroupsFromUser(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := newMember(t, d, "carol", "east", "west")
	gs, err := d.ListGroups(ctx)
	if err != nil || len(gs) != 2 || gs[0].Name != "east" || gs[1].Name != "west" ||
		gs[0].Mode != directory.ModeLeadBased || len(gs[0].Members) != 1 || gs[0].Members[0].UserID != u.ID {
		t.Fatalf("groups after CreateUser with groups: %+v, %v", gs, err)
	}
	if err := d.SetMember(ctx, "east", u.ID, []string{directory.PermModifyAllLeads}); err != nil {
		t.Fatal(err)
	}
	u.Groups = []string{"east", "south"}
	if err := d.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	east, _ := d.Group(ctx, "east")
	west, _ := d.Group(ctx, "west")
	south, _ := d.Group(ctx, "south")
	if !slices.Equal(members(east)["carol"], []string{directory.PermModifyAllLeads}) || len(west.Members) != 0 || len(south.Members) != 1 {
		t.Fatalf("after UpdateUser: east %+v west %+v south %+v", east, west, south)
	}
	if got, _ := d.UserByID(ctx, u.ID); !slices.Equal(got.Groups, []string{"east", "south"}) {
		t.Fatalf("groups read back = %v", got.Groups)
	}
	all, _ := d.ListUsers(ctx)
	if len(all) != 1 || !slices.Equal(all[0].Groups, []string{"east", "south"}) {
		t.Fatalf("ListUsers groups = %+v", all)
	}
}

// testGroupsConcurrentMembers: members added at once to one group all
// land, and each user's Groups names the group.
func testGroupsConcurrentMembers(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	if err := d.CreateGroup(ctx, &directory.Group{Name: "team", Mode: directory.ModeLeadBased}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newMember(t, d, "user"+string(rune('a'+i))).ID
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range ids {
		wg.Go(func() { errs[i] = d.SetMember(ctx, "team", ids[i], nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("SetMember %d: %v", i, err)
		}
	}
	g, _ := d.Group(ctx, "team")
	if len(g.Members) != n {
		t.Fatalf("%d members, want %d", len(g.Members), n)
	}
	for _, id := range ids {
		if u, _ := d.UserByID(ctx, id); !slices.Equal(u.Groups, []string{"team"}) {
			t.Fatalf("user %s groups = %v", id, u.Groups)
		}
	}
}
