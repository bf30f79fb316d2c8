package admin_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/lockout"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

// roleProblem returns the message of err's role problem, failing unless
// err is an *InvalidError with one.
func roleProblem(t *testing.T, err error) string {
	t.Helper()
	var inv *admin.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("got %v, want *InvalidError", err)
	}
	for _, p := range inv.Problems {
		if p.Field == "role" {
			return p.Message
		}
	}
	t.Fatalf("problems %+v name no role", inv.Problems)
	return ""
}

// TestRoleMustBeKnown: a role the policy does not map to a template (a
// typo) is refused by every operation that sets one, naming the known
// roles; roles the policy maps and roles some user already holds are
// accepted.
func TestRoleMustBeKnown(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		if _, err := svc.AddUser(ctx, "cli:root", admin.NewUser{Username: "bob", Role: "sales"}); err != nil {
			t.Fatal(err)
		}
		_, err := svc.AddUser(ctx, "cli:root", admin.NewUser{Username: "carol", Role: "admn"})
		msg := roleProblem(t, err)
		for _, want := range []string{`unknown role "admn"`, "did you mean admin?", "admin, manager, sales, sales_manager, sales_user", "access.roles"} {
			if !strings.Contains(msg, want) {
				t.Errorf("AddUser role message %q lacks %q", msg, want)
			}
		}
		if _, err := dir.UserByUsername(ctx, "carol"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("a user with an unknown role was stored: %v", err)
		}
		roleProblem(t, func() error { _, err := svc.SetRole(ctx, "cli:root", "bob", "admn"); return err }())
		roleProblem(t, func() error {
			_, _, err := svc.EditUser(ctx, "cli:root", "bob", admin.UserEdit{Role: ptr("admn")})
			return err
		}())
		if u, _ := dir.UserByUsername(ctx, "bob"); u.Role != "sales" {
			t.Fatalf("a refused role was stored: %q", u.Role)
		}

		// A role some user already holds stays assignable (users from
		// before the check, a role only the upstream understands).
		if err := dir.CreateUser(ctx, &directory.User{Username: "dana", Role: "support"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetRole(ctx, "cli:root", "bob", "support"); err != nil {
			t.Fatalf("a role another user holds: %v", err)
		}
		_, err = svc.AddUser(ctx, "cli:root", admin.NewUser{Username: "erin", Role: "nope"})
		if msg := roleProblem(t, err); !strings.Contains(msg, "support (held by users, not in the policy)") {
			t.Errorf("message %q does not list the held role apart", msg)
		}

		// The policy in force decides, not the defaults.
		p := policy.Default()
		p.Access.Roles = map[string]string{"admin": "admin", "intern": "sales_user"}
		doc, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dir.PutPolicy(ctx, doc, "test", false); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AddUser(ctx, "cli:root", admin.NewUser{Username: "frank", Role: "intern"}); err != nil {
			t.Fatalf("a role of the stored policy: %v", err)
		}
		_, err = svc.AddUser(ctx, "cli:root", admin.NewUser{Username: "gina", Role: "manager"})
		if msg := roleProblem(t, err); !strings.Contains(msg, "admin, intern") {
			t.Errorf("a role only the default policy has: %q, want it refused listing admin, intern", msg)
		}
	})
}

// TestEditChangesOnlySetFields: an edit writes the fields it names and
// nothing else, audits each change, and ends the sessions once; an edit
// that changes nothing writes, audits and revokes nothing.
func TestEditChangesOnlySetFields(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		u, err := svc.AddUser(ctx, "cli:root", admin.NewUser{Username: "bob", Email: "bob@corp.example", Role: "sales",
			DisplayName: "Bob", Groups: []string{"north"}, Password: ptr("a long enough passphrase")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Require2FA(ctx, "cli:root", "bob", true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.SetAllowedIPs(ctx, "cli:root", "bob", directory.AllowList{{CIDR: "10.0.0.0/8", Description: "office"}}); err != nil {
			t.Fatal(err)
		}
		before, _ := dir.UserByID(ctx, u.ID)
		revs, evs := revocations(t, dir, u.ID), len(events(t, dir, u.ID))

		got, changed, err := svc.EditUser(ctx, "cli:ops", "bob", admin.UserEdit{DisplayName: ptr(" Robert ")})
		if err != nil || !slices.Equal(changed, []string{"display-name"}) || got.DisplayName != "Robert" {
			t.Fatalf("EditUser display name: %+v %v %v", got, changed, err)
		}
		after, _ := dir.UserByID(ctx, u.ID)
		want := *before
		want.DisplayName, want.UpdatedAt = "Robert", after.UpdatedAt
		if after.Email != want.Email || after.Role != want.Role || !slices.Equal(after.Groups, want.Groups) ||
			after.PasswordHash != want.PasswordHash || !after.Require2FA || !slices.Equal(after.AllowList, want.AllowList) ||
			after.DisplayName != "Robert" {
			t.Fatalf("after editing the display name:\n got %+v\nwant %+v", after, want)
		}
		if n := revocations(t, dir, u.ID) - revs; n != 1 {
			t.Errorf("%d revocations, want 1: a session carries the display name", n)
		}
		if got := events(t, dir, u.ID)[evs:]; !slices.Equal(got, []string{admin.EventUserChanged, audit.SessionRevoked}) {
			t.Errorf("events %v", got)
		}

		// Several fields at once: one revocation, an event per change.
		revs, evs = revocations(t, dir, u.ID), len(events(t, dir, u.ID))
		groups := []string{"south", "west"}
		got, changed, err = svc.EditUser(ctx, "cli:ops", "bob", admin.UserEdit{Email: ptr("robert@corp.example"), Role: ptr("manager"), Groups: &groups})
		if err != nil || !slices.Equal(changed, []string{"email", "role", "groups"}) {
			t.Fatalf("EditUser: %v %v", changed, err)
		}
		if got.Email != "robert@corp.example" || got.Role != "manager" || !slices.Equal(got.Groups, groups) || got.DisplayName != "Robert" {
			t.Fatalf("after the edit: %+v", got)
		}
		if n := revocations(t, dir, u.ID) - revs; n != 1 {
			t.Errorf("%d revocations, want 1", n)
		}
		got2 := events(t, dir, u.ID)[evs:]
		for _, want := range []string{audit.UserRoleChanged, audit.GroupMemberAdded, audit.GroupMemberRemoved, admin.EventUserChanged, audit.SessionRevoked} {
			if !slices.Contains(got2, want) {
				t.Errorf("events %v lack %s", got2, want)
			}
		}
		if g, err := dir.Group(ctx, "north"); err != nil || len(g.Members) != 0 {
			t.Errorf("north still has members: %+v %v", g, err)
		}

		// The same values again: nothing happens.
		revs, evs = revocations(t, dir, u.ID), len(events(t, dir, u.ID))
		swapped := []string{"west", "south"}
		if _, changed, err := svc.EditUser(ctx, "cli:ops", "bob", admin.UserEdit{Role: ptr("manager"), Groups: &swapped}); err != nil || changed != nil {
			t.Fatalf("a no-op edit: %v %v", changed, err)
		}
		if revocations(t, dir, u.ID) != revs || len(events(t, dir, u.ID)) != evs {
			t.Error("a no-op edit revoked or audited")
		}

		// Every problem at once, and nothing stored.
		_, _, err = svc.EditUser(ctx, "cli:ops", "bob", admin.UserEdit{Email: ptr("a@b@c"), DisplayName: ptr("x\x00"), Role: ptr("Root!"), Groups: &[]string{"<script>"}})
		var inv *admin.InvalidError
		if !errors.As(err, &inv) || len(inv.Problems) != 4 {
			t.Fatalf("invalid edit: %v", err)
		}
		if _, err := svc.AddUser(ctx, "cli:root", admin.NewUser{Username: "carol", Email: "carol@corp.example", Role: "sales"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.EditUser(ctx, "cli:ops", "bob", admin.UserEdit{Email: ptr("CAROL@corp.example")}); !errors.Is(err, admin.ErrExists) {
			t.Fatalf("another user's email: %v, want ErrExists", err)
		}
		if _, _, err := svc.EditUser(ctx, "cli:ops", "nobody", admin.UserEdit{Role: ptr("sales")}); !errors.Is(err, admin.ErrNoUser) {
			t.Fatalf("unknown user: %v", err)
		}
		if got, _ := dir.UserByID(ctx, u.ID); got.Email != "robert@corp.example" || got.Role != "manager" {
			t.Fatalf("a refused edit changed the user: %+v", got)
		}
	})
}

// TestDeleteKeepsAnAdmin: the last enabled user holding the admin
// feature (through their role or their own template) cannot be deleted;
// a disabled admin does not count as another.
func TestDeleteKeepsAnAdmin(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		if _, _, err := svc.Bootstrap(ctx, false); err != nil {
			t.Fatal(err)
		}
		for _, in := range []admin.NewUser{{Username: "bob", Role: "sales"}, {Username: "olga", Role: "admin"}, {Username: "tess", Role: "sales"}} {
			if _, err := svc.AddUser(ctx, "cli:root", in); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.SetDisabled(ctx, "cli:root", "olga", true); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.DeleteUser(ctx, "cli:root", admin.BootstrapUsername); !errors.Is(err, admin.ErrLastAdmin) {
			t.Fatalf("deleting the only enabled admin: %v, want ErrLastAdmin", err)
		}
		if _, err := dir.UserByUsername(ctx, admin.BootstrapUsername); err != nil {
			t.Fatalf("the refused delete deleted: %v", err)
		}
		if u, _ := dir.UserByUsername(ctx, admin.BootstrapUsername); revocations(t, dir, u.ID) != 0 {
			t.Error("the refused delete revoked the admin's sessions")
		}
		if _, err := svc.DeleteUser(ctx, "cli:root", "bob"); err != nil {
			t.Fatalf("deleting a sales user: %v", err)
		}
		// A sales user with the admin template of their own is an admin
		// (no template set is stored: the defaults serve seeds decide).
		u, _ := dir.UserByUsername(ctx, "tess")
		u.Template = "admin"
		if err := dir.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.DeleteUser(ctx, "cli:root", admin.BootstrapUsername); err != nil {
			t.Fatalf("deleting an admin while tess holds the admin template: %v", err)
		}
		if _, err := svc.DeleteUser(ctx, "cli:root", "tess"); !errors.Is(err, admin.ErrLastAdmin) {
			t.Fatalf("deleting tess, now the last enabled admin: %v", err)
		}
		// Nor may the last admin be disabled or demoted: administration
		// would be left to the CLI alone.
		if _, err := svc.SetDisabled(ctx, "cli:root", "tess", true); !errors.Is(err, admin.ErrLastAdmin) {
			t.Fatalf("disabling the last enabled admin: %v", err)
		}
		u, _ = dir.UserByUsername(ctx, "tess")
		u.Template = ""
		dir.UpdateUser(ctx, u)
		if _, err := svc.SetRole(ctx, "cli:root", "olga", "admin"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetDisabled(ctx, "cli:root", "olga", false); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetRole(ctx, "cli:root", "olga", "sales"); !errors.Is(err, admin.ErrLastAdmin) {
			t.Fatalf("demoting the last enabled admin: %v", err)
		}
		if _, _, err := svc.EditUser(ctx, "cli:root", "olga", admin.UserEdit{Role: new("sales")}); !errors.Is(err, admin.ErrLastAdmin) {
			t.Fatalf("demoting the last enabled admin by edit: %v", err)
		}
	})
}

// TestDeleteRemovesEverything: the user's factor, codes, keys, devices
// and memberships go with them; their sessions are revoked on every
// gateway; the delete is audited with the actor.
func TestDeleteRemovesEverything(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		u, err := svc.AddUser(ctx, "cli:root", admin.NewUser{Username: "bob", Role: "sales", Groups: []string{"north"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.EnrollTOTP(ctx, directory.TOTPFactor{UserID: u.ID, Secret: []byte("sealed")}, [][]byte{[]byte("h1"), []byte("h2")}); err != nil {
			t.Fatal(err)
		}
		if err := dir.CreateAPIKey(ctx, &directory.APIKey{ID: "k1", UserID: u.ID, Hash: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		if err := dir.AddDevice(ctx, directory.Device{ID: "d1", UserID: u.ID, ClientID: "mobile"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.DeleteUser(ctx, "cli:alice via sudo as root", "bob"); err != nil {
			t.Fatal(err)
		}
		if _, err := dir.UserByID(ctx, u.ID); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("user: %v", err)
		}
		if _, err := dir.TOTP(ctx, u.ID); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("factor: %v", err)
		}
		if n, _ := dir.RecoveryCodesLeft(ctx, u.ID); n != 0 {
			t.Errorf("%d recovery codes left", n)
		}
		if _, err := dir.APIKey(ctx, "k1"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("api key: %v", err)
		}
		if _, err := dir.Device(ctx, "d1"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("device: %v", err)
		}
		if g, err := dir.Group(ctx, "north"); err != nil || len(g.Members) != 0 {
			t.Errorf("group north: %+v %v", g, err)
		}
		if n := revocations(t, dir, u.ID); n < 1 {
			t.Error("no session revocation recorded")
		}
		all, _ := dir.ListAudit(ctx, 100)
		i := slices.IndexFunc(all, func(e audit.Event) bool { return e.Event == admin.EventUserDeleted })
		if i < 0 || all[i].UserID != u.ID || all[i].Actor != "cli:alice via sudo as root" || all[i].Detail["username"] != "bob" {
			t.Fatalf("no user_deleted event with the actor: %+v", all)
		}
		if _, err := svc.DeleteUser(ctx, "cli:root", "bob"); !errors.Is(err, admin.ErrNoUser) {
			t.Fatalf("deleting again: %v, want ErrNoUser", err)
		}
	})
}

// TestUnlock: after the account's budget is spent the right password is
// refused unchecked; Unlock resets it (and the second-factor budget) in
// the shared store, and leaves the client address's budget alone.
func TestUnlock(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		u, err := svc.AddUser(ctx, "cli:root", admin.NewUser{Username: "bob", Role: "sales"})
		if err != nil {
			t.Fatal(err)
		}
		store := memory.New(nil)
		t.Cleanup(func() { store.Close() })
		lim := lockout.New(store, time.Hour)
		acct, ip, mfa := lockout.Account("bob", 5), lockout.ClientIP("192.0.2.1", 100), lockout.SecondFactor(u.ID, 5)
		for range 5 {
			for _, keys := range [][]lockout.Key{{acct, ip}, {mfa}} {
				a, err := lim.Reserve(ctx, keys...)
				if err != nil {
					t.Fatal(err)
				}
				a.Failed()
			}
		}
		if _, err := lim.Reserve(ctx, acct, ip); !errors.Is(err, lockout.ErrLocked) {
			t.Fatalf("after 5 failures: %v, want locked", err)
		}
		if _, err := svc.Unlock(ctx, "cli:root", "bob", store); err != nil {
			t.Fatal(err)
		}
		for _, keys := range [][]lockout.Key{{acct, ip}, {mfa}} {
			if _, err := lim.Reserve(ctx, keys...); err != nil {
				t.Fatalf("after Unlock, %s: %v", keys[0].Name, err)
			}
		}
		if n, _ := store.Count(ctx, ip.Name); n != 6 {
			t.Errorf("the address's count is %d, want 6: Unlock must leave it", n)
		}
		if got := events(t, dir, u.ID); !slices.Contains(got, admin.EventUserUnlocked) {
			t.Errorf("events %v lack %s", got, admin.EventUserUnlocked)
		}
		if _, err := svc.Unlock(ctx, "cli:root", "nobody", store); !errors.Is(err, admin.ErrNoUser) {
			t.Fatalf("unknown user: %v", err)
		}
	})
}

// TestShowUser: what an admin sees of one user, from the directory.
func TestShowUser(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		now := time.Now().UTC().Truncate(time.Millisecond)
		svc := newService(dir, func() time.Time { return now })
		u, err := svc.AddUser(ctx, "cli:root", admin.NewUser{Username: "bob", Role: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		d, err := svc.ShowUser(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if d.TwoFactor != (admin.TwoFactorState{}) || d.APIKeys != 0 || d.Devices != 0 || !d.LastLogin.IsZero() ||
			d.Template != "admin" || d.TemplateSource != "role" || !d.Admin {
			t.Fatalf("a new admin: %+v", d)
		}
		if _, err := svc.Require2FA(ctx, "cli:root", "bob", true); err != nil {
			t.Fatal(err)
		}
		if err := dir.EnrollTOTP(ctx, directory.TOTPFactor{UserID: u.ID, Secret: []byte("sealed")}, [][]byte{[]byte("h1"), []byte("h2"), []byte("h3")}); err != nil {
			t.Fatal(err)
		}
		if err := dir.UseRecoveryCode(ctx, u.ID, []byte("h2"), now); err != nil {
			t.Fatal(err)
		}
		for _, k := range []*directory.APIKey{
			{ID: "live", UserID: u.ID, Hash: []byte{1}},
			{ID: "expired", UserID: u.ID, Hash: []byte{2}, ExpiresAt: now.Add(-time.Minute)},
			{ID: "revoked", UserID: u.ID, Hash: []byte{3}},
		} {
			if err := dir.CreateAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if err := dir.RevokeAPIKey(ctx, "revoked", now); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"d1", "d2"} {
			if err := dir.AddDevice(ctx, directory.Device{ID: id, UserID: u.ID}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := dir.RevokeDevices(ctx, u.ID, []string{"d2"}, now, "user"); err != nil {
			t.Fatal(err)
		}
		login := now.Add(-time.Hour)
		if err := dir.AppendAudit(ctx, audit.Event{Time: login, Event: audit.LoginSuccess, Actor: "bob", UserID: u.ID}); err != nil {
			t.Fatal(err)
		}
		d, err = svc.ShowUser(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		want := admin.TwoFactorState{Enrolled: true, Required: true, RecoveryCodesLeft: 2}
		if d.TwoFactor != want || d.APIKeys != 1 || d.Devices != 1 || !d.LastLogin.Equal(login) {
			t.Fatalf("ShowUser: %+v", d)
		}
		list, err := svc.UserList(ctx)
		if err != nil || len(list) != 1 || list[0].TwoFactor != want {
			t.Fatalf("UserList: %+v %v", list, err)
		}
		if _, err := svc.ShowUser(ctx, "nobody"); !errors.Is(err, admin.ErrNoUser) {
			t.Fatalf("unknown user: %v", err)
		}

		// Factors other than an app count too (they once showed as none).
		for name, enrol := range map[string]func(id string) error{
			"email codes": func(id string) error {
				return dir.EnrollFirstOTP(ctx, directory.OTPFactor{UserID: id, Kind: directory.OTPEmail}, [][]byte{[]byte("e1")})
			},
			"a passkey": func(id string) error {
				return dir.EnrollFirstPasskey(ctx, &directory.Passkey{UserID: id, CredentialID: []byte(id), Credential: []byte("{}")}, [][]byte{[]byte("p1")})
			},
		} {
			other := &directory.User{Username: "only-" + strings.ReplaceAll(name, " ", "-"), Role: "sales"}
			if err := dir.CreateUser(ctx, other); err != nil {
				t.Fatal(err)
			}
			if err := enrol(other.ID); err != nil {
				t.Fatal(err)
			}
			d, err := svc.ShowUser(ctx, other.Username)
			if err != nil || !d.TwoFactor.Enrolled || d.TwoFactor.RecoveryCodesLeft != 1 {
				t.Errorf("a user with %s only: %+v, %v", name, d.TwoFactor, err)
			}
		}
	})
}

var _ admin.Counters = (*memory.Store)(nil)
