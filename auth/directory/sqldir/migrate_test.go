package sqldir

import (
	"context"
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
