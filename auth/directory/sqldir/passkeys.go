package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// EnrollFirstPasskey stores p and the recovery codes for a user with no
// factor, under the user's MFA lock, as EnrollFirstOTP does.
func (db *DB) EnrollFirstPasskey(ctx context.Context, p *directory.Passkey, recoveryHashes [][]byte) error {
	if err := checkPasskey(p); err != nil {
		return fmt.Errorf("sqldir: enroll first passkey: %w", err)
	}
	p.ID = newUserID()
	return db.enrollTx(ctx, "enroll first passkey", p.UserID, p.CreatedAt, recoveryHashes, func(tx *sql.Tx, created int64) error {
		switch has, err := hasFactor(ctx, tx, p.UserID); {
		case err != nil:
			return err
		case has:
			return errEnrolled
		}
		return insertPasskey(ctx, tx, p, created)
	})
}

// AddPasskey stores p beside the user's other factors, refusing one past
// MaxPasskeys (counted under the lock, so racing adds cannot pass it).
func (db *DB) AddPasskey(ctx context.Context, p *directory.Passkey) error {
	if err := checkPasskey(p); err != nil {
		return fmt.Errorf("sqldir: add passkey: %w", err)
	}
	p.ID = newUserID()
	return db.addFactor(ctx, "add passkey", p.UserID, p.CreatedAt, func(tx *sql.Tx, created int64) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM passkeys WHERE user_id = $1`, p.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= directory.MaxPasskeys {
			return fmt.Errorf("%d passkeys registered already: %w", n, directory.ErrConflict)
		}
		return insertPasskey(ctx, tx, p, created)
	})
}

func checkPasskey(p *directory.Passkey) error {
	if p.UserID == "" || len(p.CredentialID) == 0 || len(p.Credential) == 0 {
		return errors.New("user id, credential id and credential are required")
	}
	return nil
}

func insertPasskey(ctx context.Context, tx *sql.Tx, p *directory.Passkey, created int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO passkeys (id, user_id, credential_id, name, credential, sign_count, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, p.ID, p.UserID, p.CredentialID, p.Name, p.Credential, int64(p.SignCount), created)
	return err
}

const passkeyColumns = `id, user_id, credential_id, name, credential, sign_count, created_at, last_used_at`

func scanPasskey(row interface{ Scan(...any) error }) (directory.Passkey, error) {
	var p directory.Passkey
	var count, created, used int64
	if err := row.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.Name, &p.Credential, &count, &created, &used); err != nil {
		return directory.Passkey{}, err
	}
	p.SignCount, p.CreatedAt = uint32(count), fromMillis(created)
	if used != 0 {
		p.LastUsedAt = fromMillis(used)
	}
	return p, nil
}

// Passkeys lists the user's passkeys, oldest first.
func (db *DB) Passkeys(ctx context.Context, userID string) ([]directory.Passkey, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, db.d.classify("passkeys", err)
	}
	defer rows.Close()
	var out []directory.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, db.d.classify("passkeys", err)
		}
		out = append(out, p)
	}
	return out, db.d.classify("passkeys", rows.Err())
}

// PasskeyByCredentialID finds a passkey by the authenticator's id for it.
func (db *DB) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (directory.Passkey, error) {
	p, err := scanPasskey(db.db.QueryRowContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = $1`, credentialID))
	return p, db.d.classify("passkey by credential id", err)
}

// UsePasskey advances the counter only past the stored one, in the
// UPDATE's own condition: the check and the write are one statement.
func (db *DB) UsePasskey(ctx context.Context, id string, signCount uint32, credential []byte, now time.Time) error {
	res, err := db.db.ExecContext(ctx, `UPDATE passkeys SET sign_count = $2, credential = $3, last_used_at = $4
		WHERE id = $1 AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))`,
		id, int64(signCount), credential, toMillis(normTime(now)))
	if err := db.oneRow("use passkey", res, err); !errors.Is(err, directory.ErrNotFound) {
		return err
	}
	// Nothing matched: a passkey that is gone, or a counter that did
	// not advance (a cloned authenticator, or a replay).
	var one int
	switch err := db.db.QueryRowContext(ctx, `SELECT 1 FROM passkeys WHERE id = $1`, id).Scan(&one); {
	case err == nil:
		return fmt.Errorf("sqldir: use passkey: signature counter %d did not advance: %w", signCount, directory.ErrConflict)
	default:
		return db.d.classify("use passkey", err)
	}
}

// RemovePasskey deletes one passkey, and the recovery codes with the
// user's last factor.
func (db *DB) RemovePasskey(ctx context.Context, userID, id string, keepOne bool) (int, error) {
	return db.removeFactor(ctx, "remove passkey", userID, keepOne, func(tx *sql.Tx) (sql.Result, error) {
		return tx.ExecContext(ctx, `DELETE FROM passkeys WHERE user_id = $1 AND id = $2`, userID, id)
	})
}
