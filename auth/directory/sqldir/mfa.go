package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// mfaLock is the advisory lock key for one user's second factors. The
// writes that delete and re-insert recovery codes take it so that two of
// them for the same user run one after the other: under READ COMMITTED a
// DELETE does not see rows another open transaction inserted, and the
// survivor would be a union of both code sets instead of the last one.
// Keys are per user so enrolments of different users never wait on each
// other; a hash collision only costs a wait.
func mfaLock(userID string) int64 {
	h := fnv.New64a()
	h.Write([]byte("gatehouse/mfa\x00" + userID))
	return int64(h.Sum64())
}

// EnrollTOTP stores f, replacing the user's factor, and replaces every
// recovery code with recoveryHashes, all in one transaction. A zero
// f.CreatedAt means now.
func (db *DB) EnrollTOTP(ctx context.Context, f directory.TOTPFactor, recoveryHashes [][]byte) error {
	const upsert = `INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at`
	return db.enroll(ctx, "enroll totp", upsert, f, recoveryHashes)
}

// errEnrolled is what EnrollFirstTOTP finds when the user has a factor.
var errEnrolled = fmt.Errorf("a second factor is enrolled: %w", directory.ErrConflict)

// EnrollFirstTOTP stores f and its recovery codes only if the user has no
// factor. The insert itself is the check (ON CONFLICT DO NOTHING on the
// user_id key, which PostgreSQL resolves against concurrent inserts too),
// inside the user's MFA lock, so of two racing enrolments one wins and
// the other changes nothing, not even the codes.
func (db *DB) EnrollFirstTOTP(ctx context.Context, f directory.TOTPFactor, recoveryHashes [][]byte) error {
	// The insert declines when the user has an OTP factor too (the
	// lock keeps that row from appearing meanwhile).
	const insert = `INSERT INTO totp_factors (user_id, secret, created_at)
		SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM otp_factors WHERE user_id = $1)
		ON CONFLICT (user_id) DO NOTHING`
	return db.enroll(ctx, "enroll first totp", insert, f, recoveryHashes)
}

// enroll writes the factor with write (which may decline, affecting no
// row: errEnrolled) and replaces the recovery codes, in one transaction
// under the user's MFA lock.
func (db *DB) enroll(ctx context.Context, op, write string, f directory.TOTPFactor, recoveryHashes [][]byte) error {
	if f.UserID == "" || len(f.Secret) == 0 {
		return fmt.Errorf("sqldir: %s: user id and sealed secret are required", op)
	}
	return db.enrollTx(ctx, op, f.UserID, f.CreatedAt, recoveryHashes, func(tx *sql.Tx, created int64) error {
		res, err := tx.ExecContext(ctx, write, f.UserID, f.Secret, created)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return errEnrolled
		}
		return nil
	})
}

// enrollTx runs write (the factor's row; created is when, in the
// column's millis, now for a zero createdAt) and then replaces the
// user's recovery codes, in one transaction under the user's MFA lock,
// for a user that exists.
func (db *DB) enrollTx(ctx context.Context, op, userID string, createdAt time.Time, recoveryHashes [][]byte, write func(tx *sql.Tx, created int64) error) error {
	if err := checkHashes(recoveryHashes); err != nil {
		return fmt.Errorf("sqldir: %s: %w", op, err)
	}
	created := normTime(createdAt)
	if createdAt.IsZero() {
		created = db.timestamp()
	}
	err := db.inTx(ctx, mfaLock(userID), func(tx *sql.Tx) error {
		// Checked rather than left to the foreign key so an unknown user
		// is ErrNotFound in both dialects, not a driver-specific error.
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = $1`, userID).Scan(&one); err != nil {
			return err
		}
		if err := write(tx, toMillis(created)); err != nil {
			return err
		}
		return replaceCodes(ctx, tx, userID, recoveryHashes)
	})
	return db.d.classify(op, err)
}

// TOTP returns the user's factor, or ErrNotFound when none is enrolled.
func (db *DB) TOTP(ctx context.Context, userID string) (directory.TOTPFactor, error) {
	f := directory.TOTPFactor{UserID: userID}
	var created int64
	const q = `SELECT secret, created_at FROM totp_factors WHERE user_id = $1`
	if err := db.db.QueryRowContext(ctx, q, userID).Scan(&f.Secret, &created); err != nil {
		return directory.TOTPFactor{}, db.d.classify("totp", err)
	}
	f.CreatedAt = fromMillis(created)
	return f, nil
}

// UpdateTOTPSecret overwrites the sealed secret, as after a key rotation;
// CreatedAt and the recovery codes stay. ErrNotFound when not enrolled.
func (db *DB) UpdateTOTPSecret(ctx context.Context, userID string, sealed []byte) error {
	if len(sealed) == 0 {
		return errors.New("sqldir: update totp secret: sealed secret is required")
	}
	res, err := db.db.ExecContext(ctx, `UPDATE totp_factors SET secret = $2 WHERE user_id = $1`, userID, sealed)
	return db.oneRow("update totp secret", res, err)
}

// RemoveTOTP deletes every factor of the user and the recovery codes
// together. Nothing to remove is not an error.
func (db *DB) RemoveTOTP(ctx context.Context, userID string) error {
	err := db.inTx(ctx, mfaLock(userID), func(tx *sql.Tx) error {
		for _, table := range []string{"recovery_codes", "otp_factors", "totp_factors", "passkeys"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE user_id = $1`, userID); err != nil {
				return err
			}
		}
		return nil
	})
	return db.d.classify("remove totp", err)
}

// UseRecoveryCode marks the unused code with hash used at now. The
// condition on used_at in the single UPDATE is what makes a code single
// use: a concurrent second UPDATE of the same row re-checks it after the
// first commits (PostgreSQL) or runs after it (SQLite), and matches
// nothing.
func (db *DB) UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) error {
	const q = `UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND hash = $3 AND used_at IS NULL`
	res, err := db.db.ExecContext(ctx, q, toMillis(normTime(now)), userID, hash)
	return db.oneRow("use recovery code", res, err)
}

// ReplaceRecoveryCodes swaps all of the user's codes, used or not, for
// hashes. ErrNotFound when the user has no factor: codes without a factor
// would be a second factor nobody enrolled.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	if err := checkHashes(hashes); err != nil {
		return fmt.Errorf("sqldir: replace recovery codes: %w", err)
	}
	err := db.inTx(ctx, mfaLock(userID), func(tx *sql.Tx) error {
		if err := mustHaveFactor(ctx, tx, userID); err != nil {
			return err
		}
		return replaceCodes(ctx, tx, userID, hashes)
	})
	return db.d.classify("replace recovery codes", err)
}

// RecoveryCodesLeft counts the user's unused codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	const q = `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`
	if err := db.db.QueryRowContext(ctx, q, userID).Scan(&n); err != nil {
		return 0, db.d.classify("recovery codes left", err)
	}
	return n, nil
}

// hasFactor reports whether the user has any second factor, inside tx.
func hasFactor(ctx context.Context, tx *sql.Tx, userID string) (bool, error) {
	n, err := factorCount(ctx, tx, userID)
	return n > 0, err
}

// mustHaveFactor is sql.ErrNoRows (ErrNotFound) for a user without a
// second factor, inside tx.
func mustHaveFactor(ctx context.Context, tx *sql.Tx, userID string) error {
	switch has, err := hasFactor(ctx, tx, userID); {
	case err != nil:
		return err
	case !has:
		return sql.ErrNoRows
	}
	return nil
}

// FactorCount counts the user's second factors: an app, each OTP kind,
// each passkey.
func (db *DB) FactorCount(ctx context.Context, userID string) (int, error) {
	n, err := factorCount(ctx, db.db, userID)
	return n, db.d.classify("factor count", err)
}

// factorCount counts the user's second factors, in q (the database, or a
// transaction).
func factorCount(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, userID string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1) +
		(SELECT COUNT(*) FROM otp_factors WHERE user_id = $1) +
		(SELECT COUNT(*) FROM passkeys WHERE user_id = $1)`, userID).Scan(&n)
	return n, err
}

// EnrollFirstOTP stores f and the recovery codes for a user with no
// factor, under the user's MFA lock, so it and EnrollFirstTOTP cannot
// both succeed for one user.
func (db *DB) EnrollFirstOTP(ctx context.Context, f directory.OTPFactor, recoveryHashes [][]byte) error {
	if f.UserID == "" || (f.Kind != directory.OTPEmail && f.Kind != directory.OTPSMS) {
		return fmt.Errorf("sqldir: enroll first otp: user id and a kind (email, sms) are required, got %q", f.Kind)
	}
	return db.enrollTx(ctx, "enroll first otp", f.UserID, f.CreatedAt, recoveryHashes, func(tx *sql.Tx, created int64) error {
		switch has, err := hasFactor(ctx, tx, f.UserID); {
		case err != nil:
			return err
		case has:
			return errEnrolled
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO otp_factors (user_id, kind, target, created_at) VALUES ($1, $2, $3, $4)`,
			f.UserID, f.Kind, f.Target, created)
		return err
	})
}

// AddTOTP stores f beside the user's other factors.
func (db *DB) AddTOTP(ctx context.Context, f directory.TOTPFactor) error {
	if f.UserID == "" || len(f.Secret) == 0 {
		return errors.New("sqldir: add totp: user id and sealed secret are required")
	}
	return db.addFactor(ctx, "add totp", f.UserID, f.CreatedAt, func(tx *sql.Tx, created int64) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3)`, f.UserID, f.Secret, created)
		return err
	})
}

// AddOTP stores f beside the user's other factors.
func (db *DB) AddOTP(ctx context.Context, f directory.OTPFactor) error {
	if f.UserID == "" || (f.Kind != directory.OTPEmail && f.Kind != directory.OTPSMS) {
		return fmt.Errorf("sqldir: add otp: user id and a kind (email, sms) are required, got %q", f.Kind)
	}
	return db.addFactor(ctx, "add otp", f.UserID, f.CreatedAt, func(tx *sql.Tx, created int64) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO otp_factors (user_id, kind, target, created_at) VALUES ($1, $2, $3, $4)`,
			f.UserID, f.Kind, f.Target, created)
		return err
	})
}

// addFactor runs insert for a user who has a factor, under the user's
// MFA lock; a duplicate of the kind is the primary key's conflict.
func (db *DB) addFactor(ctx context.Context, op, userID string, createdAt time.Time, insert func(tx *sql.Tx, created int64) error) error {
	created := normTime(createdAt)
	if createdAt.IsZero() {
		created = db.timestamp()
	}
	err := db.inTx(ctx, mfaLock(userID), func(tx *sql.Tx) error {
		if err := mustHaveFactor(ctx, tx, userID); err != nil {
			return err
		}
		return insert(tx, toMillis(created))
	})
	return db.d.classify(op, err)
}

// RemoveFactor deletes one factor, and the recovery codes with the last.
func (db *DB) RemoveFactor(ctx context.Context, userID, kind string, keepOne bool) (int, error) {
	var table string
	switch kind {
	case "totp":
		table = "totp_factors"
	case directory.OTPEmail, directory.OTPSMS:
	case directory.FactorPasskeys:
		table = "passkeys"
	default:
		return 0, fmt.Errorf("sqldir: remove factor: no factor kind %q", kind)
	}
	return db.removeFactor(ctx, "remove factor", userID, keepOne, func(tx *sql.Tx) (sql.Result, error) {
		if table == "" {
			return tx.ExecContext(ctx, `DELETE FROM otp_factors WHERE user_id = $1 AND kind = $2`, userID, kind)
		}
		return tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE user_id = $1`, userID)
	})
}

// removeFactor runs del under the user's MFA lock: ErrNotFound when it
// deleted nothing; the recovery codes go when no factor is left, or,
// with keepOne, the delete rolls back (ErrConflict). It returns how many
// factors are left.
func (db *DB) removeFactor(ctx context.Context, op, userID string, keepOne bool, del func(tx *sql.Tx) (sql.Result, error)) (int, error) {
	var left int
	err := db.inTx(ctx, mfaLock(userID), func(tx *sql.Tx) error {
		res, err := del(tx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sql.ErrNoRows
		}
		if left, err = factorCount(ctx, tx, userID); err != nil || left > 0 {
			return err
		}
		if keepOne {
			return directory.ErrConflict // rolls the delete back
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID)
		return err
	})
	return left, db.d.classify(op, err)
}

// OTPFactors lists the user's OTP factors, oldest first.
func (db *DB) OTPFactors(ctx context.Context, userID string) ([]directory.OTPFactor, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT kind, target, created_at FROM otp_factors WHERE user_id = $1 ORDER BY created_at, kind`, userID)
	if err != nil {
		return nil, db.d.classify("otp factors", err)
	}
	defer rows.Close()
	var out []directory.OTPFactor
	for rows.Next() {
		f := directory.OTPFactor{UserID: userID}
		var created int64
		if err := rows.Scan(&f.Kind, &f.Target, &created); err != nil {
			return nil, db.d.classify("otp factors", err)
		}
		f.CreatedAt = fromMillis(created)
		out = append(out, f)
	}
	return out, db.d.classify("otp factors", rows.Err())
}

// replaceCodes deletes the user's codes and inserts hashes, inside tx.
func replaceCodes(ctx context.Context, tx *sql.Tx, userID string, hashes [][]byte) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, hash) VALUES ($1, $2)`, userID, h); err != nil {
			return err
		}
	}
	return nil
}

// checkHashes rejects an empty hash, which no code could ever match and
// which points at a caller bug rather than a stored state.
func checkHashes(hashes [][]byte) error {
	for i, h := range hashes {
		if len(h) == 0 {
			return fmt.Errorf("recovery code hash %d is empty", i)
		}
	}
	return nil
}

// oneRow turns the result of an UPDATE that must touch exactly one row
// into ErrNotFound when it touched none.
func (db *DB) oneRow(op string, res sql.Result, err error) error {
	if err != nil {
		return db.d.classify(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.d.classify(op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqldir: %s: %w", op, directory.ErrNotFound)
	}
	return nil
}
