package sqldir_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
)

func TestSQLite(t *testing.T) {
	directorytest.RunTests(t, func(t *testing.T) directory.Directory {
		return openTest(t, sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)})
	})
}

func TestPostgres(t *testing.T) {
	directorytest.RunTests(t, func(t *testing.T) directory.Directory {
		return openTest(t, sqldir.Config{Driver: "postgres", DSN: directorytest.PostgresDSN(t)})
	})
}

func openTest(t testing.TB, cfg sqldir.Config) *sqldir.DB {
	t.Helper()
	db, err := sqldir.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Driver, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenDSNFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "dsn")
	path := filepath.Join(dir, "nested", "dir", "gatehouse.db")
	if err := os.WriteFile(file, []byte(path+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := openTest(t, sqldir.Config{Driver: "sqlite", DSNFile: file})
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: got %v, want it created at %s", err, path)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  sqldir.Config
		want string
	}{
		{"unknown driver", sqldir.Config{Driver: "mysql", DSN: "x"}, "directory.driver"},
		{"postgres without dsn", sqldir.Config{Driver: "postgres"}, "directory.dsn"},
		{"missing dsn file", sqldir.Config{Driver: "sqlite", DSNFile: filepath.Join(t.TempDir(), "nope")}, "dsn_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sqldir.Open(t.Context(), tc.cfg)
			if err == nil {
				db.Close()
				t.Fatalf("Open: got nil error, want one mentioning %s", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: got %v, want it to mention %s", err, tc.want)
			}
		})
	}
}

// TestConcurrentOpenPostgres starts several replicas against one fresh
// database at once; the migration lock lets every one of them start.
func TestConcurrentOpenPostgres(t *testing.T) {
	dsn := directorytest.PostgresDSN(t)
	const replicas = 4
	errs := make(chan error, replicas)
	for range replicas {
		go func() {
			db, err := sqldir.Open(t.Context(), sqldir.Config{Driver: "postgres", DSN: dsn})
			if err == nil {
				err = db.Close()
			}
			errs <- err
		}()
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Errorf("Open: %v", err)
		}
	}
}

// TestSQLiteTwoHandles writes through two handles on one file at once, as
// the CLI does while the gateway runs: busy_timeout and immediate
// transactions must absorb the contention instead of failing SQLITE_BUSY.
func TestSQLiteTwoHandles(t *testing.T) {
	cfg := sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)}
	handles := []*sqldir.DB{openTest(t, cfg), openTest(t, cfg)}
	errs := make(chan error, len(handles))
	for h, db := range handles {
		go func() {
			for i := range 25 {
				u := directory.User{Username: fmt.Sprintf("h%d-u%d", h, i)}
				if err := db.CreateUser(t.Context(), &u); err != nil {
					errs <- err
					return
				}
				if _, err := db.PutPolicy(t.Context(), []byte("# p\n"), u.Username, false); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range handles {
		if err := <-errs; err != nil {
			t.Errorf("write through two handles: %v", err)
		}
	}
	p, err := handles[0].CurrentPolicy(t.Context())
	if err != nil || p.Version != 50 {
		t.Errorf("CurrentPolicy: got version %d, %v, want 50", p.Version, err)
	}
}

// wantUnavailable checks that reads and writes against a directory that
// cannot answer fail with ErrUnavailable, never ErrNotFound: a caller that
// took "not found" for "no such disabled user" would fail open.
func wantUnavailable(t *testing.T, db *sqldir.DB, userID string) {
	t.Helper()
	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return db.Ping(ctx) }},
		{"UserByID", func() error { _, err := db.UserByID(ctx, userID); return err }},
		{"DisabledUserIDs", func() error { _, err := db.DisabledUserIDs(ctx); return err }},
		{"CurrentPolicy", func() error { _, err := db.CurrentPolicy(ctx); return err }},
		{"PutPolicy", func() error { _, err := db.PutPolicy(ctx, []byte("#\n"), "t", false); return err }},
		{"AppendAudit", func() error { return db.AppendAudit(ctx, audit.Event{Event: "x"}) }},
	}
	for _, c := range calls {
		err := c.call()
		if !errors.Is(err, directory.ErrUnavailable) || errors.Is(err, directory.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrUnavailable", c.name, err)
		}
	}
}

func TestUnavailableAfterClose(t *testing.T) {
	backends := []struct {
		name string
		cfg  func(t *testing.T) sqldir.Config
	}{
		{"sqlite", func(t *testing.T) sqldir.Config {
			return sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)}
		}},
		{"postgres", func(t *testing.T) sqldir.Config {
			return sqldir.Config{Driver: "postgres", DSN: directorytest.PostgresDSN(t)}
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := openTest(t, b.cfg(t))
			u := directory.User{Username: "alice"}
			if err := db.CreateUser(t.Context(), &u); err != nil {
				t.Fatal(err)
			}
			db.Close()
			wantUnavailable(t, db, u.ID)
		})
	}
}

func TestUnavailableClosedPort(t *testing.T) {
	cfg := sqldir.Config{Driver: "postgres", DSN: "postgres://postgres@127.0.0.1:1/gatehouse?sslmode=disable&connect_timeout=2"}
	db, err := sqldir.Open(t.Context(), cfg)
	if err == nil {
		db.Close()
		t.Fatal("Open against a closed port: got nil error")
	}
	if !errors.Is(err, directory.ErrUnavailable) {
		t.Errorf("Open against a closed port: got %v, want ErrUnavailable", err)
	}
}

// TestUnavailableServerRefuses takes the database away from a running
// directory: its pooled connections are killed and new ones refused.
func TestUnavailableServerRefuses(t *testing.T) {
	dsn := directorytest.PostgresDSN(t)
	db := openTest(t, sqldir.Config{Driver: "postgres", DSN: dsn})
	u := directory.User{Username: "alice", Disabled: true}
	if err := db.CreateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	refuseConnections(t, dsn)
	wantUnavailable(t, db, u.ID)
}

func refuseConnections(t *testing.T, dsn string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	// A session cannot lock out its own database: act from the admin one.
	admin, err := sql.Open("pgx", directorytest.PostgresAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	stmts := []string{
		"ALTER DATABASE " + name + " ALLOW_CONNECTIONS false",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + name + "' AND pid <> pg_backend_pid()",
	}
	for _, s := range stmts {
		if _, err := admin.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestDirectoryFileNotWorldReadable: the SQLite file and its -wal and
// -shm files are private to the gateway's user, whatever the umask, and
// a file an earlier version left readable is tightened (review finding
// F13).
func TestDirectoryFileNotWorldReadable(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "gatehouse.db")
	db := openTest(t, sqldir.Config{Driver: "sqlite", DSN: path})
	if err := db.CreateUser(t.Context(), &directory.User{Username: "alice", Role: "sales", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %s, want nothing for group or others", p, fi.Mode().Perm())
		}
	}
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	openTest(t, sqldir.Config{Driver: "sqlite", DSN: path})
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("a world-readable database file was left %s, want 0600", fi.Mode().Perm())
	}
}

// TestDirectoryRefusesOpenFolder: a folder others may enter is refused
// with an error that names the key and the fix.
func TestDirectoryRefusesOpenFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := sqldir.Open(t.Context(), sqldir.Config{Driver: "sqlite", DSN: filepath.Join(dir, "gatehouse.db")})
	if err == nil || !strings.Contains(err.Error(), "directory.dsn") || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("open in a 0755 folder: %v, want a refusal naming directory.dsn and chmod 700", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the database file was created in the open folder")
	}
}
