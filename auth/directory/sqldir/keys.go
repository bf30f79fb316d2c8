package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// AddSigningKey stores k; a zero k.CreatedAt means now. A KID already
// stored is ErrConflict.
func (db *DB) AddSigningKey(ctx context.Context, k directory.SigningKey) error {
	created, err := db.keyCreated(k)
	if err != nil {
		return err
	}
	const q = `INSERT INTO signing_keys (kid, alg, private, created_at, retired) VALUES ($1, $2, $3, $4, $5)`
	_, err = db.db.ExecContext(ctx, q, k.KID, k.Alg, k.Private, toMillis(created), k.Retired)
	return db.d.classify("add signing key", err)
}

// keyCreated checks a key to add and returns its creation time (zero
// means now).
func (db *DB) keyCreated(k directory.SigningKey) (time.Time, error) {
	if k.KID == "" || k.Alg == "" || len(k.Private) == 0 {
		return time.Time{}, errors.New("sqldir: add signing key: kid, alg and private key are required")
	}
	if k.CreatedAt.IsZero() {
		return db.timestamp(), nil
	}
	return normTime(k.CreatedAt), nil
}

// errKeyExists is what AddFirstSigningKey finds when an active key exists.
var errKeyExists = fmt.Errorf("an active signing key exists: %w", directory.ErrConflict)

// AddFirstSigningKey stores k unless an active key of its algorithm
// exists, checked and inserted in one locked transaction.
func (db *DB) AddFirstSigningKey(ctx context.Context, k directory.SigningKey) error {
	created, err := db.keyCreated(k)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, lockKeys, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM signing_keys WHERE alg = $1 AND NOT retired`, k.Alg).Scan(&n)
		if err != nil {
			return err
		}
		if n > 0 {
			return errKeyExists
		}
		const q = `INSERT INTO signing_keys (kid, alg, private, created_at, retired) VALUES ($1, $2, $3, $4, $5)`
		_, err = tx.ExecContext(ctx, q, k.KID, k.Alg, k.Private, toMillis(created), k.Retired)
		return err
	})
	return db.d.classify("add first signing key", err)
}

// SigningKeys returns every key, retired ones included, oldest first.
func (db *DB) SigningKeys(ctx context.Context) ([]directory.SigningKey, error) {
	const q = `SELECT kid, alg, private, created_at, retired FROM signing_keys ORDER BY created_at, kid`
	rows, err := db.db.QueryContext(ctx, q)
	if err != nil {
		return nil, db.d.classify("signing keys", err)
	}
	defer rows.Close()
	var keys []directory.SigningKey
	for rows.Next() {
		var (
			k       directory.SigningKey
			created int64
		)
		if err := rows.Scan(&k.KID, &k.Alg, &k.Private, &created, &k.Retired); err != nil {
			return nil, db.d.classify("signing keys", err)
		}
		k.CreatedAt = fromMillis(created)
		keys = append(keys, k)
	}
	return keys, db.d.classify("signing keys", rows.Err())
}

// RetireSigningKey marks kid retired; it stays listed. Retiring a retired
// key succeeds; an unknown kid is ErrNotFound.
func (db *DB) RetireSigningKey(ctx context.Context, kid string) error {
	res, err := db.db.ExecContext(ctx, `UPDATE signing_keys SET retired = TRUE WHERE kid = $1`, kid)
	if err != nil {
		return db.d.classify("retire signing key", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.d.classify("retire signing key", err)
	}
	if n == 0 {
		return fmt.Errorf("sqldir: retire signing key %q: %w", kid, directory.ErrNotFound)
	}
	return nil
}

// UpdateSigningKey replaces kid's private key bytes; an unknown kid is
// ErrNotFound.
func (db *DB) UpdateSigningKey(ctx context.Context, kid string, private []byte) error {
	if len(private) == 0 {
		return errors.New("sqldir: update signing key: private key is required")
	}
	res, err := db.db.ExecContext(ctx, `UPDATE signing_keys SET private = $2 WHERE kid = $1`, kid, private)
	if err != nil {
		return db.d.classify("update signing key", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.d.classify("update signing key", err)
	}
	if n == 0 {
		return fmt.Errorf("sqldir: update signing key %q: %w", kid, directory.ErrNotFound)
	}
	return nil
}
