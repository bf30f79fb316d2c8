package directorytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

func mustCreate(t *testing.T, d directory.Directory, u *directory.User) *directory.User {
	t.Helper()
	if err := d.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.Username, err)
	}
	return u
}

func mustGet(t *testing.T, d directory.Directory, id string) *directory.User {
	t.Helper()
	u, err := d.UserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("UserByID(%q): %v", id, err)
	}
	return u
}

func testCreateUser(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	u := mustCreate(t, d, &directory.User{
		Username:     "Alice",
		Email:        "Alice@Example.COM",
		DisplayName:  "Alice Liddell",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		Role:         "admin",
		Groups:       []string{"sales", "emea"},
		Require2FA:   true,
		AllowList:    directory.AllowList{{CIDR: "10.0.0.0/8", Description: "Bangalore office"}, {CIDR: "2001:db8::/32"}},
	})
	if len(u.ID) < 22 { // 128 bits: 32 hex or 26 base32 characters
		t.Errorf("ID: got %q, want at least 128 random bits", u.ID)
	}
	if u.Username != "alice" {
		t.Errorf("Username after create: got %q, want %q", u.Username, "alice")
	}
	wantUTC(t, "CreatedAt", u.CreatedAt)
	if !u.UpdatedAt.Equal(u.CreatedAt) {
		t.Errorf("UpdatedAt: got %v, want CreatedAt %v", u.UpdatedAt, u.CreatedAt)
	}
	if u.CreatedAt.Before(before) || u.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("CreatedAt: got %v, want about now", u.CreatedAt)
	}
	got := mustGet(t, d, u.ID)
	sameUser(t, got, u)
	wantUTC(t, "stored CreatedAt", got.CreatedAt)

	lookups := []struct {
		name string
		get  func() (*directory.User, error)
	}{
		{"UserByUsername upper", func() (*directory.User, error) { return d.UserByUsername(ctx, "ALICE") }},
		{"UserByUsername lower", func() (*directory.User, error) { return d.UserByUsername(ctx, "alice") }},
		{"UserByEmail lower", func() (*directory.User, error) { return d.UserByEmail(ctx, "alice@example.com") }},
		{"UserByEmail upper", func() (*directory.User, error) { return d.UserByEmail(ctx, "ALICE@EXAMPLE.COM") }},
	}
	for _, l := range lookups {
		got, err := l.get()
		if err != nil {
			t.Errorf("%s: %v", l.name, err)
			continue
		}
		if got.ID != u.ID || got.Email != "Alice@Example.COM" {
			t.Errorf("%s: got id %q email %q, want %q %q", l.name, got.ID, got.Email, u.ID, "Alice@Example.COM")
		}
	}
}

func testUserIDsUnique(t *testing.T, d directory.Directory) {
	seen := map[string]bool{}
	for i := range 20 {
		u := mustCreate(t, d, &directory.User{Username: fmt.Sprintf("user%d", i)})
		if seen[u.ID] {
			t.Fatalf("ID %q handed out twice", u.ID)
		}
		seen[u.ID] = true
	}
}

func testNotFound(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	mustCreate(t, d, &directory.User{Username: "alice"}) // no email
	calls := []struct {
		name string
		call func() error
	}{
		{"UserByID", func() error { _, err := d.UserByID(ctx, "0123456789abcdef"); return err }},
		{"UserByUsername", func() error { _, err := d.UserByUsername(ctx, "nobody"); return err }},
		{"UserByEmail", func() error { _, err := d.UserByEmail(ctx, "nobody@example.com"); return err }},
		{"UserByEmail empty", func() error { _, err := d.UserByEmail(ctx, ""); return err }},
		{"UpdateUser", func() error { return d.UpdateUser(ctx, &directory.User{ID: "0123456789abcdef", Username: "x"}) }},
		{"CurrentPolicy", func() error { _, err := d.CurrentPolicy(ctx); return err }},
		{"RetireSigningKey", func() error { return d.RetireSigningKey(ctx, "no-such-kid") }},
	}
	for _, c := range calls {
		wantErr(t, c.name, c.call(), directory.ErrNotFound)
	}
}

func testConflict(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	mustCreate(t, d, &directory.User{Username: "alice", Email: "alice@example.com"})
	creates := []struct {
		name string
		u    directory.User
	}{
		{"same username", directory.User{Username: "alice", Email: "a2@example.com"}},
		{"username in other case", directory.User{Username: "ALICE", Email: "a3@example.com"}},
		{"email in other case", directory.User{Username: "alice2", Email: "ALICE@example.COM"}},
	}
	for _, c := range creates {
		wantErr(t, "CreateUser "+c.name, d.CreateUser(ctx, &c.u), directory.ErrConflict)
	}
	// Email is unique only when set.
	mustCreate(t, d, &directory.User{Username: "noemail1"})
	mustCreate(t, d, &directory.User{Username: "noemail2"})

	bob := mustCreate(t, d, &directory.User{Username: "bob", Email: "bob@example.com"})
	updates := []struct {
		name string
		edit func(u *directory.User)
	}{
		{"username taken", func(u *directory.User) { u.Username = "Alice" }},
		{"email taken", func(u *directory.User) { u.Email = "alice@EXAMPLE.com" }},
	}
	for _, c := range updates {
		u := *bob
		c.edit(&u)
		wantErr(t, "UpdateUser "+c.name, d.UpdateUser(ctx, &u), directory.ErrConflict)
	}
	sameUser(t, mustGet(t, d, bob.ID), bob)
}

func testConcurrentCreate(t *testing.T, d directory.Directory) {
	const n = 8
	errs := runConcurrently(n, func(i int) error {
		u := directory.User{Username: "dup", Email: fmt.Sprintf("dup%d@example.com", i)}
		return d.CreateUser(t.Context(), &u)
	})
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, directory.ErrConflict):
			t.Errorf("CreateUser %d: got %v, want nil or ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("concurrent creates of one username: got %d successes, want 1", won)
	}
}

func testUpdateUser(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	u := mustCreate(t, d, &directory.User{Username: "alice", Email: "alice@example.com", Groups: []string{"a"}})
	created := u.CreatedAt
	edited := *u
	edited.Username = "Alice.Smith"
	edited.Email = "Alice.Smith@Example.com"
	edited.DisplayName = "Alice Smith"
	edited.PasswordHash = "$argon2id$new"
	edited.Role = "manager"
	edited.Template = "no_export"
	edited.Groups = nil
	edited.Disabled = true
	edited.Require2FA = true
	edited.AllowList = directory.AllowList{{CIDR: "192.0.2.0/24", Description: "Zürich office, 3rd floor \"east\""}, {CIDR: "10.0.0.0/8"}}
	edited.CreatedAt = time.Time{} // UpdateUser must not take it from the caller
	if err := d.UpdateUser(ctx, &edited); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if edited.Username != "alice.smith" {
		t.Errorf("Username after update: got %q, want %q", edited.Username, "alice.smith")
	}
	if !edited.CreatedAt.Equal(created) {
		t.Errorf("CreatedAt after update: got %v, want %v", edited.CreatedAt, created)
	}
	wantUTC(t, "UpdatedAt", edited.UpdatedAt)
	if edited.UpdatedAt.Before(created) {
		t.Errorf("UpdatedAt: got %v, before CreatedAt %v", edited.UpdatedAt, created)
	}
	sameUser(t, mustGet(t, d, u.ID), &edited)
	_, err := d.UserByUsername(ctx, "alice")
	wantErr(t, "old username", err, directory.ErrNotFound)
	_, err = d.UserByEmail(ctx, "alice@example.com")
	wantErr(t, "old email", err, directory.ErrNotFound)
	if got, err := d.UserByEmail(ctx, "alice.smith@example.COM"); err != nil || got.ID != u.ID {
		t.Errorf("UserByEmail(new email): got %v, %v, want user %s", got, err, u.ID)
	}
}

func testListUsers(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	got, err := d.ListUsers(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("ListUsers on empty directory: got %v, %v, want none", got, err)
	}
	for _, name := range []string{"carol", "Alice", "bob"} {
		mustCreate(t, d, &directory.User{Username: name})
	}
	got, err = d.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	var names []string
	for _, u := range got {
		names = append(names, u.Username)
	}
	if want := []string{"alice", "bob", "carol"}; !slices.Equal(names, want) {
		t.Errorf("ListUsers: got %v, want %v", names, want)
	}
}

func testDisabledUserIDs(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	var users []*directory.User
	for _, name := range []string{"a", "b", "c"} {
		users = append(users, mustCreate(t, d, &directory.User{Username: name}))
	}
	wantDisabled(t, d, nil)
	for _, u := range users[1:] {
		u.Disabled = true
		if err := d.UpdateUser(ctx, u); err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
	}
	wantDisabled(t, d, []string{users[1].ID, users[2].ID})
	users[2].Disabled = false
	if err := d.UpdateUser(ctx, users[2]); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	wantDisabled(t, d, []string{users[1].ID})
}

func wantDisabled(t *testing.T, d directory.Directory, want []string) {
	t.Helper()
	got, err := d.DisabledUserIDs(t.Context())
	if err != nil {
		t.Fatalf("DisabledUserIDs: %v", err)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("DisabledUserIDs: got %v, want %v", got, want)
	}
}

// testCanceledContext checks that a call that could not be made is an
// error the caller can tell from "no such user".
func testCanceledContext(t *testing.T, d directory.Directory) {
	u := mustCreate(t, d, &directory.User{Username: "alice"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got, err := d.UserByID(ctx, u.ID)
	if err == nil {
		t.Fatalf("UserByID with canceled context: got %v, want an error", got)
	}
	if !errors.Is(err, context.Canceled) || errors.Is(err, directory.ErrNotFound) {
		t.Errorf("UserByID with canceled context: got %v, want context.Canceled and not ErrNotFound", err)
	}
}

func testUserAllowlists(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	a := mustCreate(t, d, &directory.User{Username: "a", AllowList: directory.AllowList{{CIDR: "10.0.0.0/8", Description: "Bangalore office"}, {CIDR: "2001:db8::/32"}}})
	b := mustCreate(t, d, &directory.User{Username: "b"})
	got, err := d.UserAllowlists(ctx)
	if err != nil {
		t.Fatalf("UserAllowlists: %v", err)
	}
	if len(got) != 1 || !slices.Equal(got[a.ID], []string{"10.0.0.0/8", "2001:db8::/32"}) {
		t.Fatalf("UserAllowlists: got %v, want only %s's CIDRs", got, a.Username)
	}
	// Descriptions round-trip, in order, beside entries without one.
	if l := mustGet(t, d, a.ID).AllowList; !slices.Equal(l, a.AllowList) {
		t.Fatalf("AllowList read back: got %+v, want %+v", l, a.AllowList)
	}
	a.AllowList[1].Description = "Frankfurt data centre"
	a.AllowList[0].Description = ""
	if err := d.UpdateUser(ctx, a); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if l := mustGet(t, d, a.ID).AllowList; !slices.Equal(l, a.AllowList) {
		t.Fatalf("AllowList after a description-only change: got %+v, want %+v", l, a.AllowList)
	}
	b.AllowList = directory.AllowList{{CIDR: "192.0.2.7"}}
	a.AllowList = nil
	for _, u := range []*directory.User{a, b} {
		if err := d.UpdateUser(ctx, u); err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
	}
	got, err = d.UserAllowlists(ctx)
	if err != nil || len(got) != 1 || !slices.Equal(got[b.ID], []string{"192.0.2.7"}) {
		t.Fatalf("after update: got %v %v, want only %s's list", got, err, b.Username)
	}
}

func testRevocations(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	start := time.Now().Add(-time.Second)
	a, err := d.RevokeUserSessions(ctx, "u1")
	if err != nil {
		t.Fatalf("RevokeUserSessions: %v", err)
	}
	b, err := d.RevokeUserSessions(ctx, "u2")
	if err != nil {
		t.Fatalf("RevokeUserSessions: %v", err)
	}
	if a.ID == b.ID || a.At.IsZero() {
		t.Fatalf("revocations %+v %+v: want distinct ids and a time", a, b)
	}
	got, err := d.RecentRevocations(ctx, start)
	if err != nil {
		t.Fatalf("RecentRevocations: %v", err)
	}
	if len(got) != 2 || got[0].UserID != "u1" || got[1].UserID != "u2" || got[0].ID != a.ID {
		t.Fatalf("RecentRevocations: got %+v, want u1 then u2", got)
	}
	if got, err := d.RecentRevocations(ctx, time.Now().Add(time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("RecentRevocations in the future: %v %v, want none", got, err)
	}
}

func testIdentities(t *testing.T, d directory.Directory) {
	ctx := t.Context()
	alice := mustCreate(t, d, &directory.User{Username: "alice"})
	bob := mustCreate(t, d, &directory.User{Username: "bob"})
	if err := d.LinkIdentity(ctx, "corp", "sub-1", alice.ID); err != nil {
		t.Fatalf("LinkIdentity: %v", err)
	}
	if u, err := d.UserByIdentity(ctx, "corp", "sub-1"); err != nil || u.ID != alice.ID {
		t.Fatalf("UserByIdentity: %v %v, want alice", u, err)
	}
	// The same subject at another provider is another identity.
	if _, err := d.UserByIdentity(ctx, "google", "sub-1"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("subject at another provider: %v, want ErrNotFound", err)
	}
	if err := d.LinkIdentity(ctx, "google", "sub-1", bob.ID); err != nil {
		t.Fatalf("LinkIdentity at another provider: %v", err)
	}
	wantErr(t, "LinkIdentity taken", d.LinkIdentity(ctx, "corp", "sub-1", bob.ID), directory.ErrConflict)
	if u, _ := d.UserByIdentity(ctx, "google", "sub-1"); u == nil || u.ID != bob.ID {
		t.Fatalf("google sub-1 is %v, want bob", u)
	}
}

func testPasswordExpiry(t *testing.T, d directory.Directory) {
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	u := mustCreate(t, d, &directory.User{Username: "expiring", Role: "admin", PasswordHash: "h", PasswordExpires: at})
	if got := mustGet(t, d, u.ID).PasswordExpires; !got.Equal(at) {
		t.Fatalf("PasswordExpires after create = %v, want %v", got, at)
	}
	u.PasswordExpires = time.Time{}
	if err := d.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, d, u.ID).PasswordExpires; !got.IsZero() {
		t.Fatalf("PasswordExpires after clearing = %v, want zero (never)", got)
	}
	if other := mustCreate(t, d, &directory.User{Username: "lasting", Role: "sales"}); !mustGet(t, d, other.ID).PasswordExpires.IsZero() || mustGet(t, d, other.ID).MustChangePassword {
		t.Fatal("a user created without an expiry has one, or owes a password change")
	}
	// An admin-set password the user must replace: kept on create and
	// on update, and cleared by an update that clears it.
	m := mustCreate(t, d, &directory.User{Username: "temporary", Role: "sales", PasswordHash: "h", MustChangePassword: true})
	if !mustGet(t, d, m.ID).MustChangePassword {
		t.Fatal("MustChangePassword lost on create")
	}
	m.MustChangePassword = false
	if err := d.UpdateUser(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if mustGet(t, d, m.ID).MustChangePassword {
		t.Fatal("MustChangePassword still set after an update clearing it")
	}
	m.MustChangePassword = true
	if err := d.UpdateUser(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if !mustGet(t, d, m.ID).MustChangePassword {
		t.Fatal("MustChangePassword not set by update")
	}
}
