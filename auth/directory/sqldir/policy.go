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
