package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// errPolicyExists is what PutPolicy with ifNone finds when a version exists.
var errPolicyExists = fmt.Errorf("a policy version exists: %w", directory.ErrConflict)

// CurrentPolicy returns the highest stored version, or ErrNotFound.
func (db *DB) CurrentPolicy(ctx context.Context) (directory.PolicyVersion, error) {
	const q = `SELECT version, document, actor, created_at FROM policy_versions
		ORDER BY version DESC LIMIT 1`
	var (
		p       directory.PolicyVersion
		doc     string
		created int64
	)
	err := db.db.QueryRowContext(ctx, q).Scan(&p.Version, &doc, &p.Actor, &created)
	if err != nil {
		return directory.PolicyVersion{}, db.d.classify("current policy", err)
	}
	p.Document, p.CreatedAt = []byte(doc), fromMillis(created)
	return p, nil
}

// PutPolicyAfter stores doc as version after+1 only when after is still
// the highest version, under the same lock as PutPolicy.
func (db *DB) PutPolicyAfter(ctx context.Context, doc []byte, actor string, after int64) (directory.PolicyVersion, error) {
	if !utf8.Valid(doc) {
		return directory.PolicyVersion{}, errors.New("sqldir: put policy: document is not UTF-8 text")
	}
	p := directory.PolicyVersion{Document: doc, Actor: actor, CreatedAt: db.timestamp()}
	err := db.inTx(ctx, lockPolicy, func(tx *sql.Tx) error {
		var latest int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM policy_versions`).Scan(&latest); err != nil {
			return err
		}
		if latest != after {
			return fmt.Errorf("the policy is at version %d, not %d: %w", latest, after, directory.ErrConflict)
		}
		p.Version = latest + 1
		const q = `INSERT INTO policy_versions (version, document, actor, created_at) VALUES ($1, $2, $3, $4)`
		_, err := tx.ExecContext(ctx, q, p.Version, string(doc), actor, toMillis(p.CreatedAt))
		return err
	})
	if err != nil {
		return directory.PolicyVersion{}, db.d.classify("put policy", err)
	}
	return p, nil
}

// PolicyAt returns one version, or ErrNotFound.
func (db *DB) PolicyAt(ctx context.Context, version int64) (directory.PolicyVersion, error) {
	const q = `SELECT version, document, actor, created_at FROM policy_versions WHERE version = $1`
	var (
		p       directory.PolicyVersion
		doc     string
		created int64
	)
	if err := db.db.QueryRowContext(ctx, q, version).Scan(&p.Version, &doc, &p.Actor, &created); err != nil {
		return directory.PolicyVersion{}, db.d.classify("policy version", err)
	}
	p.Document, p.CreatedAt = []byte(doc), fromMillis(created)
	return p, nil
}

// PolicyHistory returns versions newest first, at most limit.
func (db *DB) PolicyHistory(ctx context.Context, limit int) ([]directory.PolicyVersion, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.db.QueryContext(ctx, `SELECT version, document, actor, created_at FROM policy_versions
		ORDER BY version DESC LIMIT $1`, limit)
	if err != nil {
		return nil, db.d.classify("policy history", err)
	}
	defer rows.Close()
	var out []directory.PolicyVersion
	for rows.Next() {
		var (
			p       directory.PolicyVersion
			doc     string
			created int64
		)
		if err := rows.Scan(&p.Version, &doc, &p.Actor, &created); err != nil {
			return nil, db.d.classify("policy history", err)
		}
		p.Document, p.CreatedAt = []byte(doc), fromMillis(created)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, db.d.classify("policy history", err)
	}
	return out, nil
}

// PutPolicy stores doc as version max+1. The read and the insert run in one
// transaction under the policy lock, so concurrent writers on any replica
// get distinct, increasing versions and, with ifNone, exactly one wins.
func (db *DB) PutPolicy(ctx context.Context, doc []byte, actor string, ifNone bool) (directory.PolicyVersion, error) {
	if !utf8.Valid(doc) {
		return directory.PolicyVersion{}, errors.New("sqldir: put policy: document is not UTF-8 text")
	}
	p := directory.PolicyVersion{Document: doc, Actor: actor, CreatedAt: db.timestamp()}
	err := db.inTx(ctx, lockPolicy, func(tx *sql.Tx) error {
		var latest int64
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM policy_versions`).Scan(&latest)
		if err != nil {
			return err
		}
		if ifNone && latest != 0 {
			return errPolicyExists
		}
		p.Version = latest + 1
		const q = `INSERT INTO policy_versions (version, document, actor, created_at) VALUES ($1, $2, $3, $4)`
		_, err = tx.ExecContext(ctx, q, p.Version, string(doc), actor, toMillis(p.CreatedAt))
		return err
	})
	if err != nil {
		return directory.PolicyVersion{}, db.d.classify("put policy", err)
	}
	return p, nil
}
