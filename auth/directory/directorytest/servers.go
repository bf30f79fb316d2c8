package directorytest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

// PostgresEnv names the variable that points tests at a PostgreSQL server
// whose user may create databases.
const PostgresEnv = "GATEHOUSE_TEST_POSTGRES_URL"

const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresDSN creates a fresh database gatehouse_test_<random hex> on the
// server named by GATEHOUSE_TEST_POSTGRES_URL (a postgres:// URL; default
// the local server as user postgres), drops it when the test ends, and
// returns a DSN for it. Without a reachable server the test is skipped,
// or fails when CI=true.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := PostgresAdminURL()
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s: want a postgres:// URL", PostgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", u.Redacted(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		serverMissing(t, "PostgreSQL at "+u.Redacted(), PostgresEnv, err)
	}
	name := "gatehouse_test_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// PostgresAdminURL is the server PostgresDSN creates databases on:
// GATEHOUSE_TEST_POSTGRES_URL, or the local server as user postgres.
func PostgresAdminURL() string {
	if v := os.Getenv(PostgresEnv); v != "" {
		return v
	}
	return defaultPostgresURL
}

// SQLitePath returns a database file path in a directory that does not
// exist yet, inside t.TempDir, so opening it also checks that the backend
// creates missing parent directories.
func SQLitePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "data", "gatehouse.db")
}

// serverMissing skips the test when a server it needs is not running,
// naming the variable that would point at one, except under CI=true, where
// a missing server is a failure.
func serverMissing(t testing.TB, what, env string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s unreachable (set %s): %v", what, env, err)
	}
	t.Skipf("%s unreachable; start one or set %s: %v", what, env, err)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
