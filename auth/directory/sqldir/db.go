// Package sqldir is the SQL backend of the directory: a SQLite file (the
// embedded default, pure Go through modernc.org/sqlite) or PostgreSQL
// (through pgx's database/sql driver). Both dialects share one set of
// queries and one embedded migration history, applied at Open.
//
// Every driver error that is neither "no rows" nor a unique violation is
// returned wrapping directory.ErrUnavailable, so callers can fail closed.
package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
)

var _ directory.Directory = (*DB)(nil)

// DB is a directory backed by SQLite or PostgreSQL. It is safe for
// concurrent use.
type DB struct {
	db  *sql.DB
	d   dialect
	now func() time.Time
	dsn string // PostgreSQL: for Listen's own connection; never logged
}

// sqlitePragmas are appended to every SQLite DSN. WAL lets readers in other
// processes (the CLI) proceed during a write; busy_timeout makes a writer
// in another process wait rather than fail; _txlock=immediate takes the
// write lock at BEGIN so a read-then-write transaction never has to upgrade
// its lock (an upgrade fails with SQLITE_BUSY regardless of busy_timeout).
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"

// Open connects, applies pending migrations and returns the directory.
// cfg gets its defaults and is validated first; a DSN that cannot be reached
// yields an error wrapping directory.ErrUnavailable. The DSN itself never
// appears in an error, since it may carry a password.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	cfg.SetDefaults()
	if err := cfg.Validate("directory"); err != nil {
		return nil, err
	}
	d, err := dialectFor(cfg.Driver)
	if err != nil {
		return nil, err
	}
	dsn, err := readDSN(cfg)
	if err != nil {
		return nil, err
	}
	sqlDB, err := openPool(d, dsn, cfg.MaxOpenConns)
	if err != nil {
		return nil, err
	}
	db := &DB{db: sqlDB, d: d, now: time.Now}
	if d.name == postgresDialect.name {
		db.dsn = dsn
	}
	if err := db.migrate(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	if d.name == "sqlite" {
		if err := tightenSidecars(dsn); err != nil {
			sqlDB.Close()
			return nil, err
		}
	}
	return db, nil
}

// readDSN is the DSN, from dsn_file when set. A DSN carries the
// database password, so the file gets the key file's mode rule
// (auth/secret), on Open and on Check alike.
func readDSN(cfg Config) (string, error) {
	if cfg.DSNFile == "" {
		return cfg.DSN, nil
	}
	b, err := secret.ReadPrivateFile(cfg.DSNFile)
	if err != nil {
		return "", fmt.Errorf("directory.dsn_file: %w", err)
	}
	dsn := strings.TrimSpace(string(b))
	if dsn == "" {
		return "", fmt.Errorf("directory.dsn_file: %s is empty", cfg.DSNFile)
	}
	return dsn, nil
}

func openPool(d dialect, dsn string, maxConns int) (*sql.DB, error) {
	if d.name == "sqlite" {
		var err error
		if dsn, err = sqliteDSN(dsn); err != nil {
			return nil, err
		}
		// One connection: writes from this process queue in database/sql
		// instead of racing for the file lock, so SQLITE_BUSY can only come
		// from another process, which busy_timeout absorbs.
		maxConns = 1
	}
	sqlDB, err := sql.Open(d.driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldir: open %s: %w", d.name, err)
	}
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	if d.name == "postgres" {
		// Recycle idle connections so a failover or a proxy that drops
		// idle sockets costs one failed query at most.
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	return sqlDB, nil
}

// sqliteDSN prepares the database file (see secureSQLiteFile) and
// appends the pragmas.
func sqliteDSN(dsn string) (string, error) {
	if path := sqlitePath(dsn); path != "" {
		if err := secureSQLiteFile(path); err != nil {
			return "", err
		}
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + sqlitePragmas, nil
}

// sqlitePath is the file a SQLite DSN names, "" for an in-memory one.
func sqlitePath(dsn string) string {
	path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if path == "" || path == ":memory:" || strings.HasPrefix(dsn, "file::memory:") {
		return ""
	}
	return path
}

// secureSQLiteFile keeps the database (password hashes, sealed secrets)
// readable by this user only (review finding F13): its folder is created
// 0700 and refused when group or others may enter it (they could read
// the -wal and -shm files SQLite creates beside it, or swap the files);
// the file itself is created 0600 before SQLite opens it — SQLite gives
// the -wal and -shm files the database file's permissions — and a file
// left more open by an earlier version is tightened to 0600.
func secureSQLiteFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sqldir: create directory for %s: %w", path, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("sqldir: %w", err)
	}
	if err := privateFolder(dir, fi); err != nil {
		return fmt.Errorf("sqldir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqldir: open %s: %w", path, err)
	}
	defer f.Close()
	return tighten(f.Name())
}

// tighten sets 0600 on a database file that exists and is more open.
func tighten(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqldir: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("sqldir: make %s private: %w", path, err)
		}
	}
	return nil
}

// tightenSidecars makes SQLite's -wal and -shm files private too, after
// they exist: belt and braces for a database file opened by another tool
// with a different mode.
func tightenSidecars(dsn string) error {
	path := sqlitePath(dsn)
	if path == "" {
		return nil
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := tighten(path + suffix); err != nil {
			return err
		}
	}
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.d.classify("ping", db.db.PingContext(ctx))
}

// Close releases the connections. Calls after Close fail with
// directory.ErrUnavailable.
func (db *DB) Close() error {
	return db.db.Close()
}

// timestamp is the current time as stored: UTC, millisecond precision.
func (db *DB) timestamp() time.Time {
	return db.now().UTC().Truncate(time.Millisecond)
}

// Times are stored as BIGINT Unix milliseconds: the one representation both
// dialects store, compare and sort the same way.
func toMillis(t time.Time) int64     { return t.UnixMilli() }
func fromMillis(ms int64) time.Time  { return time.UnixMilli(ms).UTC() }
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// inTx runs fn in a transaction, taking the dialect's writer lock for key
// first (PostgreSQL advisory lock; SQLite's immediate transaction already
// excludes other writers). fn's error is returned as is; the caller
// classifies it.
func (db *DB) inTx(ctx context.Context, key int64, fn func(*sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if db.d.lockSQL != "" {
		if _, err := tx.ExecContext(ctx, db.d.lockSQL, key); err != nil {
			return errors.Join(err, tx.Rollback())
		}
	}
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, rbErr)
		}
		return err
	}
	return tx.Commit()
}
