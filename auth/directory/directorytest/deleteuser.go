package directorytest

import (
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// testDeleteUser: deleting a user takes everything that is theirs with
// them (a key, a device or a federated link left behind would still let
// someone in as the deleted user, or make a new user with the same login
// inherit it), leaves every other user's rows alone, and moves the
// generations replicas watch so they drop what they cached.
func testDeleteUser(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	alice := mustCreate(t, d, &directory.User{Username: "alice", Role: "sales", Groups: []string{"north"}})
	bob := mustCreate(t, d, &directory.User{Username: "bob", Role: "sales", Groups: []string{"north"}})
	for _, u := range []*directory.User{alice, bob} {
		mustEnroll(t, d, directory.TOTPFactor{UserID: u.ID, Secret: []byte("sealed-" + u.Username), CreatedAt: mfaTime},
			codeHashes("delete-"+u.Username, 3))
		if err := d.CreateAPIKey(ctx, &directory.APIKey{ID: "key-" + u.Username, UserID: u.ID, Hash: []byte(u.Username)}); err != nil {
			t.Fatal(err)
		}
		if err := d.AddDevice(ctx, directory.Device{ID: "dev-" + u.Username, UserID: u.ID, ClientID: "mobile"}); err != nil {
			t.Fatal(err)
		}
		if err := d.LinkIdentity(ctx, "corp", "sub-"+u.Username, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.RevokeUserSessions(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	groupsGen, err := d.GroupsGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keysGen, err := d.APIKeysGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if err := d.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err = d.UserByID(ctx, alice.ID)
	wantErr(t, "UserByID after delete", err, directory.ErrNotFound)
	_, err = d.UserByUsername(ctx, "alice")
	wantErr(t, "UserByUsername after delete", err, directory.ErrNotFound)
	_, err = d.TOTP(ctx, alice.ID)
	wantErr(t, "TOTP after delete", err, directory.ErrNotFound)
	wantCodesLeft(t, d, alice.ID, 0)
	_, err = d.APIKey(ctx, "key-alice")
	wantErr(t, "APIKey after delete", err, directory.ErrNotFound)
	if keys, err := d.ListAPIKeys(ctx, alice.ID); err != nil || len(keys) != 0 {
		t.Errorf("ListAPIKeys after delete: %+v, %v", keys, err)
	}
	_, err = d.Device(ctx, "dev-alice")
	wantErr(t, "Device after delete", err, directory.ErrNotFound)
	_, err = d.UserByIdentity(ctx, "corp", "sub-alice")
	wantErr(t, "UserByIdentity after delete", err, directory.ErrNotFound)
	g, err := d.Group(ctx, "north")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Members) != 1 || g.Members[0].UserID != bob.ID {
		t.Errorf("group north after deleting alice: members %v, want bob alone", members(g))
	}
	// The revocation stays, so every replica still ends the sessions.
	if revs, err := d.RecentRevocations(ctx, time.Time{}); err != nil || len(revs) != 1 || revs[0].UserID != alice.ID {
		t.Errorf("RecentRevocations after delete: %+v, %v; want alice's kept", revs, err)
	}
	if g, _ := d.GroupsGeneration(ctx); g == groupsGen {
		t.Error("the groups generation did not move when a user was deleted")
	}
	if g, _ := d.APIKeysGeneration(ctx); g == keysGen {
		t.Error("the api keys generation did not move when a user with a key was deleted")
	}

	// Bob keeps everything.
	mustGet(t, d, bob.ID)
	wantCodesLeft(t, d, bob.ID, 3)
	if _, err := d.TOTP(ctx, bob.ID); err != nil {
		t.Errorf("bob's factor: %v", err)
	}
	if _, err := d.APIKey(ctx, "key-bob"); err != nil {
		t.Errorf("bob's key: %v", err)
	}
	if _, err := d.Device(ctx, "dev-bob"); err != nil {
		t.Errorf("bob's device: %v", err)
	}
	if u, err := d.UserByIdentity(ctx, "corp", "sub-bob"); err != nil || u.ID != bob.ID {
		t.Errorf("bob's identity: %v", err)
	}

	wantErr(t, "DeleteUser again", d.DeleteUser(ctx, alice.ID), directory.ErrNotFound)
	wantErr(t, "DeleteUser unknown", d.DeleteUser(ctx, "nobody"), directory.ErrNotFound)

	// The name and the address are free again, for a new user with a new
	// id that inherits nothing.
	again := mustCreate(t, d, &directory.User{Username: "alice", Role: "sales"})
	if again.ID == alice.ID {
		t.Error("a new user got the deleted user's id")
	}
	if keys, err := d.ListAPIKeys(ctx, again.ID); err != nil || len(keys) != 0 {
		t.Errorf("the new alice has keys: %+v, %v", keys, err)
	}
	if u, err := d.UserByIdentity(ctx, "corp", "sub-alice"); err == nil {
		t.Errorf("the new alice inherited the deleted one's federated link: %+v", u)
	}
}
