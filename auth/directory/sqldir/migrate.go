package sqldir

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migrations are numbered NNNN_name.sql, applied in order, each once, and
// never edited after release: a change is a new file. A file is a template
// (see dialect.render) and may hold several statements. NNNN_name.postgres.sql
// runs on PostgreSQL only; SQLite records it as applied without running
// it, so both dialects count the same versions.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int64
	name    string
	sql     string
	only    string // a dialect name, or "" for every dialect
}

// migrations lists the embedded migrations in version order.
func migrations() ([]migration, error) {
	entries, err := migrationFS.ReadDir("migrations")
	if err != nil {
		return nil, fmt.Errorf("sqldir: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqldir: migration %s: name must start with a positive number and '_'", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqldir: read migration %s: %w", e.Name(), err)
		}
		m := migration{version: v, name: e.Name(), sql: string(b)}
		if strings.HasSuffix(e.Name(), ".postgres.sql") {
			m.only = postgresDialect.name
		}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("sqldir: migrations %s and %s share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies pending migrations in one transaction under the migration
// lock, so replicas starting together apply each migration exactly once and
// a failed migration leaves the schema as it was.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	err = db.inTx(ctx, lockMigrate, func(tx *sql.Tx) error {
		return db.applyPending(ctx, tx, ms)
	})
	return db.d.classify("migrate", err)
}

func (db *DB) applyPending(ctx context.Context, tx *sql.Tx, ms []migration) error {
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		name       TEXT   NOT NULL,
		applied_at BIGINT NOT NULL)`
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if m.only == "" || m.only == db.d.name {
			if _, err := tx.ExecContext(ctx, db.d.render(m.sql)); err != nil {
				return fmt.Errorf("apply %s: %w", m.name, err)
			}
		}
		const record = `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`
		if _, err := tx.ExecContext(ctx, record, m.version, m.name, toMillis(db.timestamp())); err != nil {
			return fmt.Errorf("record %s: %w", m.name, err)
		}
	}
	return nil
}

func appliedVersions(ctx context.Context, tx *sql.Tx) (map[int64]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int64]bool{}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	return applied, rows.Err()
}
