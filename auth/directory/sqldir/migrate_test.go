package sqldir

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
)

func TestMigrationsWellFormed(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.version != int64(i+1) {
			t.Errorf("migration %s: got version %d, want %d (no gaps)", m.name, m.version, i+1)
		}
	}
}

// TestReopenIsNoOp opens a directory, writes, and opens it again twice:
// the second and third Open apply nothing and the data survives.
func TestReopenIsNoOp(t *testing.T) {
	backends := []struct {
		name string
		cfg  func(t *testing.T) Config
	}{
		{"sqlite", func(t *testing.T) Config { return Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)} }},
		{"postgres", func(t *testing.T) Config { return Config{Driver: "postgres", DSN: directorytest.PostgresDSN(t)} }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			cfg := b.cfg(t)
			db := mustOpen(t, cfg)
			u := directory.User{Username: "alice"}
			if err := db.CreateUser(t.Context(), &u); err != nil {
				t.Fatal(err)
			}
			wantMigrations(t, db)
			db.Close()
			for range 2 {
				db = mustOpen(t, cfg)
				wantMigrations(t, db)
				if _, err := db.UserByID(t.Context(), u.ID); err != nil {
					t.Errorf("UserByID after reopen: %v", err)
				}
				db.Close()
			}
		})
	}
}

func mustOpen(t *testing.T, cfg Config) *DB {
	t.Helper()
	db, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

// wantMigrations checks that each embedded migration is recorded once.
func wantMigrations(t *testing.T, db *DB) {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var n, maxVersion int64
	err = db.db.QueryRowContext(t.Context(),
		`SELECT COUNT(*), COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&n, &maxVersion)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	if n != int64(len(ms)) || maxVersion != ms[len(ms)-1].version {
		t.Errorf("schema_migrations: got %d rows up to version %d, want %d up to %d",
			n, maxVersion, len(ms), ms[len(ms)-1].version)
	}
}

// TestGroupsMigrationKeepsMembership: 0009 turns the names users had in
// users.groups into lead-based groups with those members.
func TestGroupsMigrationKeepsMembership(t *testing.T) {
	for name, cfg := range map[string]func(t *testing.T) Config{
		"sqlite":   func(t *testing.T) Config { return Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)} },
		"postgres": func(t *testing.T) Config { return Config{Driver: "postgres", DSN: directorytest.PostgresDSN(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := mustOpen(t, cfg(t))
			defer db.Close()
			users := map[string]string{"alice": `["north","south"]`, "bob": `["north"]`, "carol": `null`, "dave": `[]`}
			ids := map[string]string{}
			for u := range users {
				x := directory.User{Username: u}
				if err := db.CreateUser(ctx, &x); err != nil {
					t.Fatal(err)
				}
				ids[u] = x.ID
			}
			// Back to the schema before 0009, with memberships only in
			// users.groups.
			for _, q := range []string{`DROP TABLE group_members`, `DROP TABLE sales_groups`, `DROP TABLE generations`, `DELETE FROM schema_migrations WHERE version IN (9, 10)`} {
				if _, err := db.db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			for u, g := range users {
				if _, err := db.db.ExecContext(ctx, `UPDATE users SET groups = $2 WHERE id = $1`, ids[u], g); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.migrate(ctx); err != nil {
				t.Fatal(err)
			}
			gs, err := db.ListGroups(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, g := range gs {
				if g.Mode != directory.ModeLeadBased {
					t.Errorf("group %s mode %q", g.Name, g.Mode)
				}
				for _, m := range g.Members {
					got[g.Name] = append(got[g.Name], m.Username)
				}
			}
			if len(got) != 2 || strings.Join(got["north"], ",") != "alice,bob" || strings.Join(got["south"], ",") != "alice" {
				t.Fatalf("groups after the migration: %v", got)
			}
			wantMigrations(t, db)
		})
	}
}
