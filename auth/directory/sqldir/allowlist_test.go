package sqldir

import (
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
)

// TestAllowListStorage: a list without descriptions is stored as it was
// before descriptions (a JSON array of CIDRs, which an older replica
// still reads), an entry with one as an object, and both forms read back.
func TestAllowListStorage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		list   directory.AllowList
		stored string
	}{
		{"empty", nil, "[]"},
		{"no descriptions", directory.AllowList{{CIDR: "10.0.0.0/8"}, {CIDR: "192.0.2.7/32"}}, `["10.0.0.0/8","192.0.2.7/32"]`},
		{"mixed", directory.AllowList{{CIDR: "10.0.0.0/8", Description: "Bangalore office"}, {CIDR: "192.0.2.7/32"}},
			`[{"cidr":"10.0.0.0/8","description":"Bangalore office"},"192.0.2.7/32"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeAllowList(tc.list)
			if err != nil || got != tc.stored {
				t.Fatalf("encode: got %s, %v; want %s", got, err, tc.stored)
			}
			back, err := decodeAllowList(got)
			if err != nil || !slices.Equal(back, tc.list) {
				t.Fatalf("decode: got %+v, %v; want %+v", back, err, tc.list)
			}
		})
	}
	for _, bad := range []string{`[1]`, `[{"cidr": 1}]`, `{}`, `nonsense`} {
		if l, err := decodeAllowList(bad); err == nil {
			t.Errorf("decode %s: got %+v, want an error", bad, l)
		}
	}
}

// TestAllowListOldRows: a row written before descriptions (a plain JSON
// array of CIDRs) reads as entries without descriptions, on both
// backends, with no migration.
func TestAllowListOldRows(t *testing.T) {
	for name, cfg := range map[string]func(t *testing.T) Config{
		"sqlite":   func(t *testing.T) Config { return Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)} },
		"postgres": func(t *testing.T) Config { return Config{Driver: "postgres", DSN: directorytest.PostgresDSN(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			db := mustOpen(t, cfg(t))
			defer db.Close()
			u := directory.User{Username: "old"}
			if err := db.CreateUser(t.Context(), &u); err != nil {
				t.Fatal(err)
			}
			if _, err := db.db.ExecContext(t.Context(), `UPDATE users SET allowed_cidrs = $1 WHERE id = $2`, `["10.0.0.0/8", "2001:db8::/32"]`, u.ID); err != nil {
				t.Fatal(err)
			}
			got, err := db.UserByID(t.Context(), u.ID)
			if want := (directory.AllowList{{CIDR: "10.0.0.0/8"}, {CIDR: "2001:db8::/32"}}); err != nil || !slices.Equal(got.AllowList, want) {
				t.Fatalf("an old row: got %+v, %v; want %+v", got.AllowList, err, want)
			}
			lists, err := db.UserAllowlists(t.Context())
			if err != nil || !slices.Equal(lists[u.ID], []string{"10.0.0.0/8", "2001:db8::/32"}) {
				t.Fatalf("UserAllowlists of an old row: %v, %v", lists, err)
			}
		})
	}
}
