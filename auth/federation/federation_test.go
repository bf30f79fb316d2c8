package federation

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
)

func openDir(t *testing.T) *sqldir.DB {
	t.Helper()
	db, err := sqldir.Open(t.Context(), sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func addUser(t *testing.T, db *sqldir.DB, username, email, role string) *directory.User {
	t.Helper()
	u := &directory.User{Username: username, Email: email, Role: role}
	if err := db.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func corp(sub, email string) Claims {
	return Claims{Provider: "corp", Method: "oidc", Subject: sub, Email: email, EmailVerified: true}
}

func TestResolveByVerifiedEmailThenByLink(t *testing.T) {
	db := openDir(t)
	alice := addUser(t, db, "alice", "Alice.Smith@Corp.Example", "sales")
	u, out, err := Resolve(t.Context(), db, corp("s-1", "Alice.Smith@corp.example"), Rule{})
	if err != nil || u.ID != alice.ID || !out.Linked {
		t.Fatalf("first login: %v %+v %v, want alice, linked", u, out, err)
	}
	// Later logins follow the link, even after the email changed at the IdP.
	u, out, err = Resolve(t.Context(), db, corp("s-1", "alice@newname.example"), Rule{})
	if err != nil || u.ID != alice.ID || out.Linked {
		t.Fatalf("linked login: %v %+v %v", u, out, err)
	}
}

func TestEmailMatchingIsExactOnTheLocalPart(t *testing.T) {
	db := openDir(t)
	addUser(t, db, "alice", "alice@corp.example", "sales")
	if _, _, err := Resolve(t.Context(), db, corp("s-2", "ALICE@corp.example"), Rule{}); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("local part in other case: %v, want ErrNoAccount", err)
	}
	if u, _, err := Resolve(t.Context(), db, corp("s-3", "alice@CORP.EXAMPLE"), Rule{}); err != nil || u.Username != "alice" {
		t.Fatalf("domain in other case: %v %v, want alice", u, err)
	}
}

func TestUnverifiedEmailRefused(t *testing.T) {
	db := openDir(t)
	addUser(t, db, "alice", "alice@corp.example", "sales")
	c := corp("s-1", "alice@corp.example")
	c.EmailVerified = false
	if _, _, err := Resolve(t.Context(), db, c, Rule{}); !errors.Is(err, ErrUnverifiedEmail) {
		t.Fatalf("got %v, want ErrUnverifiedEmail", err)
	}
}

func TestEmailTricksRefused(t *testing.T) {
	db := openDir(t)
	addUser(t, db, "alice", "alice@corp.example", "sales")
	for _, e := range []string{"alice@evil.example@corp.example", "<alice@corp.example>", "alice@corp.example, eve@evil.example",
		"\"alice\"@corp.example", "alice@corp.example\n", "alice @corp.example", "alice@corp", "alice@.corp.example", "alice@corp..example"} {
		if _, _, err := Resolve(t.Context(), db, corp("s-"+e, e), Rule{}); !errors.Is(err, ErrBadEmail) {
			t.Errorf("%q: got %v, want ErrBadEmail", e, err)
		}
	}
}

// TestSubjectFromAnotherProviderIsAnotherIdentity: provider B sending the
// subject A linked does not become A's user (ASVS 6.8.1).
func TestSubjectFromAnotherProviderIsAnotherIdentity(t *testing.T) {
	db := openDir(t)
	alice := addUser(t, db, "alice", "alice@corp.example", "sales")
	if _, _, err := Resolve(t.Context(), db, corp("s-1", "alice@corp.example"), Rule{}); err != nil {
		t.Fatal(err)
	}
	other := Claims{Provider: "evil", Method: "oidc", Subject: "s-1", Email: "mallory@evil.example", EmailVerified: true}
	u, _, err := Resolve(t.Context(), db, other, Rule{})
	if err == nil && u.ID == alice.ID {
		t.Fatal("another provider's identical subject resolved to alice")
	}
}

func TestUPNMatching(t *testing.T) {
	db := openDir(t)
	bob := addUser(t, db, "bob", "bob@corp.example", "sales")
	c := Claims{Provider: "adfs", Method: "saml", Subject: "CORP\\bob", UPN: "bob@corp.example"}
	if u, _, err := Resolve(t.Context(), db, c, Rule{Match: "upn"}); err != nil || u.ID != bob.ID {
		t.Fatalf("upn match: %v %v", u, err)
	}
}

func TestSubjectRuleNeedsALink(t *testing.T) {
	db := openDir(t)
	addUser(t, db, "carol", "carol@corp.example", "sales")
	if _, _, err := Resolve(t.Context(), db, corp("s-9", "carol@corp.example"), Rule{Match: "subject"}); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("got %v, want ErrNoAccount (subject matching never guesses by email)", err)
	}
}

func TestJITCreatesWithRoleAndGroupMap(t *testing.T) {
	db := openDir(t)
	rule := Rule{JIT: JIT{Enabled: true, Role: "sales"}, GroupMap: map[string]GroupMapping{
		"CRM-Admins": {Role: "admin"}, "North": {Groups: []string{"north"}}, "Zeta": {Role: "manager", Groups: []string{"z"}},
	}}
	c := corp("s-new", "dave@Corp.Example")
	c.Name, c.Groups = "Dave", []string{"North", "Zeta", "CRM-Admins"}
	u, out, err := Resolve(t.Context(), db, c, rule)
	if err != nil || !out.Created || !out.Linked {
		t.Fatalf("JIT: %v %+v %v", u, out, err)
	}
	// CRM-Admins sorts first, so it sets the role; groups are the union.
	if u.Username != "dave@corp.example" || u.Role != "admin" || !slices.Equal(u.Groups, []string{"north", "z"}) || u.DisplayName != "Dave" {
		t.Fatalf("created %+v", u)
	}
	// Next login with other IdP groups updates the role.
	c.Groups = []string{"Zeta"}
	u, out, err = Resolve(t.Context(), db, c, rule)
	if err != nil || !out.Updated || u.Role != "manager" {
		t.Fatalf("second login: %+v %+v %v", u, out, err)
	}
}

func TestUnknownUserRefusedWithoutJIT(t *testing.T) {
	db := openDir(t)
	if _, _, err := Resolve(t.Context(), db, corp("s-x", "nobody@corp.example"), Rule{}); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("got %v, want ErrNoAccount", err)
	}
}

func TestDisabledUserRefused(t *testing.T) {
	db := openDir(t)
	u := addUser(t, db, "erin", "erin@corp.example", "sales")
	u.Disabled = true
	db.UpdateUser(t.Context(), u)
	if _, _, err := Resolve(t.Context(), db, corp("s-e", "erin@corp.example"), Rule{}); !errors.Is(err, ErrDisabled) {
		t.Fatalf("got %v, want ErrDisabled", err)
	}
}

func FuzzCleanEmail(f *testing.F) {
	for _, s := range []string{"a@b.c", "a@evil.com@corp.com", "<a@b.c>", "A@B.C", "a@b..c", "\"a\"@b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := CleanEmail(s)
		if !ok {
			return
		}
		if strings.Count(got, "@") != 1 || strings.ContainsAny(got, " <>\",;") {
			t.Fatalf("CleanEmail(%q) = %q", s, got)
		}
		if again, ok := CleanEmail(got); !ok || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, got, again)
		}
	})
}

// TestRemovedFromIdPGroupLosesMappedRoleAndGroups: someone the IdP took
// out of CRM-Admins and North must not keep the admin role and the north
// sales group the mapping once gave them. Groups an admin gave outside
// the mapping stay.
func TestRemovedFromIdPGroupLosesMappedRoleAndGroups(t *testing.T) {
	db := openDir(t)
	alice := addUser(t, db, "alice", "alice@corp.example", "sales")
	alice.Groups = []string{"emea"}
	if err := db.UpdateUser(t.Context(), alice); err != nil {
		t.Fatal(err)
	}
	rule := Rule{Match: "email", JIT: JIT{Role: "sales"}, GroupMap: map[string]GroupMapping{
		"CRM-Admins": {Role: "admin"}, "North": {Groups: []string{"north"}}, "South": {Groups: []string{"south"}},
	}}
	c := corp("s-1", "alice@corp.example")
	c.Groups = []string{"CRM-Admins", "North"}
	u, _, err := Resolve(t.Context(), db, c, rule)
	if err != nil || u.Role != "admin" || !slices.Equal(u.Groups, []string{"emea", "north"}) {
		t.Fatalf("while in the IdP groups: %+v %v, want admin in emea and north", u, err)
	}
	c.Groups = []string{"South"}
	u, out, err := Resolve(t.Context(), db, c, rule)
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != "sales" || !slices.Equal(u.Groups, []string{"emea", "south"}) || !out.Updated {
		t.Fatalf("after leaving CRM-Admins and North: role %q groups %v (updated %v), want sales in emea and south", u.Role, u.Groups, out.Updated)
	}
	stored, err := db.UserByID(t.Context(), alice.ID)
	if err != nil || stored.Role != "sales" || slices.Contains(stored.Groups, "north") {
		t.Fatalf("stored user %+v %v, want the demotion saved", stored, err)
	}
}

// TestRoleTheMapCannotGrantIsLeftAlone: a role an admin set that no
// mapped group grants is not the provider's to take away.
func TestRoleTheMapCannotGrantIsLeftAlone(t *testing.T) {
	db := openDir(t)
	addUser(t, db, "bob", "bob@corp.example", "auditor")
	rule := Rule{Match: "email", JIT: JIT{Role: "sales"}, GroupMap: map[string]GroupMapping{"CRM-Admins": {Role: "admin"}}}
	u, _, err := Resolve(t.Context(), db, corp("s-b", "bob@corp.example"), rule)
	if err != nil || u.Role != "auditor" {
		t.Fatalf("got %+v %v, want bob still an auditor", u, err)
	}
	// Without a role to fall back to (a rule Validate refuses), a mapped
	// role the IdP no longer grants fails closed.
	c := corp("s-b", "bob@corp.example")
	c.Groups = []string{"CRM-Admins"}
	if u, _, err := Resolve(t.Context(), db, c, rule); err != nil || u.Role != "admin" {
		t.Fatalf("got %+v %v, want bob an admin while in CRM-Admins", u, err)
	}
	rule.JIT.Role = ""
	if _, _, err := Resolve(t.Context(), db, corp("s-b", "bob@corp.example"), rule); !errors.Is(err, ErrNoRole) {
		t.Fatalf("got %v, want ErrNoRole", err)
	}
}

func TestRuleValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		rule Rule
		want string // "" for valid
	}{
		{"email", Rule{Match: "email"}, ""},
		{"group map with a fallback role", Rule{Match: "upn", JIT: JIT{Role: "sales"}, GroupMap: map[string]GroupMapping{"A": {Role: "admin"}}}, ""},
		{"group map of sales groups only", Rule{Match: "upn", GroupMap: map[string]GroupMapping{"N": {Groups: []string{"north"}}}}, ""},
		{"unknown match", Rule{Match: "nickname"}, "providers[0].match: must be"},
		{"jit without role", Rule{Match: "email", JIT: JIT{Enabled: true}}, "providers[0].jit.role: required when jit.enabled"},
		{"mapped role without fallback", Rule{Match: "email", GroupMap: map[string]GroupMapping{"A": {Role: "admin"}}}, "providers[0].jit.role: required when group_map grants a role"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rule.Validate("providers[0]")
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
