package sqldir

import (
	"context"
	"database/sql"
	"fmt"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// CurrentDocument returns the highest version of kind, or ErrNotFound.
func (db *DB) CurrentDocument(ctx context.Context, kind string) (directory.Document, error) {
	const q = `SELECT version, body, actor, created_at FROM documents WHERE kind = $1
		ORDER BY version DESC LIMIT 1`
	d, err := scanDocument(kind, db.db.QueryRowContext(ctx, q, kind))
	if err != nil {
		return directory.Document{}, db.d.classify("current "+kind, err)
	}
	return d, nil
}

// PutDocument stores body as version after+1 when after is the version in
// force. The read and the insert run in one transaction under the
// documents lock (PostgreSQL) or SQLite's single writer, and the primary
// key refuses a second insert of the same version either way.
func (db *DB) PutDocument(ctx context.Context, kind string, body []byte, actor string, after int64) (directory.Document, error) {
	if !utf8.Valid(body) {
		return directory.Document{}, fmt.Errorf("sqldir: put %s: document is not UTF-8 text", kind)
	}
	d := directory.Document{Kind: kind, Body: body, Actor: actor, CreatedAt: db.timestamp()}
	err := db.inTx(ctx, lockDocuments, func(tx *sql.Tx) error {
		var latest int64
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM documents WHERE kind = $1`, kind).Scan(&latest)
		if err != nil {
			return err
		}
		if latest != after {
			return fmt.Errorf("%s version %d is in force, not %d: %w", kind, latest, after, directory.ErrConflict)
		}
		d.Version = latest + 1
		const q = `INSERT INTO documents (kind, version, body, actor, created_at) VALUES ($1, $2, $3, $4, $5)`
		_, err = tx.ExecContext(ctx, q, kind, d.Version, string(body), actor, toMillis(d.CreatedAt))
		return err
	})
	if err != nil {
		return directory.Document{}, db.d.classify("put "+kind, err)
	}
	return d, nil
}

// DocumentHistory returns up to limit versions of kind, newest first.
func (db *DB) DocumentHistory(ctx context.Context, kind string, limit int) ([]directory.Document, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.db.QueryContext(ctx, `SELECT version, body, actor, created_at FROM documents WHERE kind = $1
		ORDER BY version DESC LIMIT $2`, kind, limit)
	if err != nil {
		return nil, db.d.classify(kind+" history", err)
	}
	defer rows.Close()
	var out []directory.Document
	for rows.Next() {
		d, err := scanDocument(kind, rows)
		if err != nil {
			return nil, db.d.classify(kind+" history", err)
		}
		out = append(out, d)
	}
	return out, db.d.classify(kind+" history", rows.Err())
}

func scanDocument(kind string, s scanner) (directory.Document, error) {
	var (
		d       = directory.Document{Kind: kind}
		body    string
		created int64
	)
	if err := s.Scan(&d.Version, &body, &d.Actor, &created); err != nil {
		return directory.Document{}, err
	}
	d.Body, d.CreatedAt = []byte(body), fromMillis(created)
	return d, nil
}
