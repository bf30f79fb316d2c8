package sqldir

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

const userColumns = `id, username, email, display_name, password_hash, role,
	groups, disabled, require_2fa, allowed_cidrs, security_stamp, created_at, updated_at,
	password_expires_at, template, must_change_password`

// errNoUsername rejects a user without a name before it reaches the
// database, where an empty string would be a valid unique key.
var errNoUsername = errors.New("sqldir: username is required")

// CreateUser stores u under a new random ID, lower-casing its username. It
// sets u.ID, u.Username, u.CreatedAt and u.UpdatedAt on success.
func (db *DB) CreateUser(ctx context.Context, u *directory.User) error {
	if strings.TrimSpace(u.Username) == "" {
		return errNoUsername
	}
	row, err := encodeUser(u)
	if err != nil {
		return err
	}
	id := newUserID()
	now := db.timestamp()
	const q = `INSERT INTO users (` + userColumns + `, email_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $14, $15, $16, $13)`
	err = db.inTx(ctx, lockGroups, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, q, id, row.username, u.Email, u.DisplayName,
			u.PasswordHash, u.Role, row.groups, u.Disabled, u.Require2FA, row.cidrs,
			u.SecurityStamp, toMillis(now), row.emailKey, optionalMillis(u.PasswordExpires), u.Template, u.MustChangePassword)
		if err != nil {
			return err
		}
		return db.syncMemberships(ctx, tx, id, u.Groups, true)
	})
	if err != nil {
		return db.d.classify("create user", err)
	}
	u.ID, u.Username, u.CreatedAt, u.UpdatedAt = id, row.username, now, now
	return nil
}

// UpdateUser overwrites every field of the user with u.ID except
// CreatedAt, which it reads back into u along with the new UpdatedAt.
func (db *DB) UpdateUser(ctx context.Context, u *directory.User) error {
	if strings.TrimSpace(u.Username) == "" {
		return errNoUsername
	}
	row, err := encodeUser(u)
	if err != nil {
		return err
	}
	now := db.timestamp()
	const q = `UPDATE users SET username = $2, email = $3, email_key = $4,
		display_name = $5, password_hash = $6, role = $7, groups = $8,
		disabled = $9, require_2fa = $10, allowed_cidrs = $11, updated_at = $12,
		password_expires_at = $13, template = $14, must_change_password = $15
		WHERE id = $1 RETURNING created_at, security_stamp`
	var created int64
	err = db.inTx(ctx, lockGroups, func(tx *sql.Tx) error {
		var oldName string
		if err := tx.QueryRowContext(ctx, `SELECT username FROM users WHERE id = $1`, u.ID).Scan(&oldName); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, q, u.ID, row.username, u.Email, row.emailKey,
			u.DisplayName, u.PasswordHash, u.Role, row.groups, u.Disabled,
			u.Require2FA, row.cidrs, toMillis(now), optionalMillis(u.PasswordExpires), u.Template, u.MustChangePassword).Scan(&created, &u.SecurityStamp)
		if err != nil {
			return err
		}
		return db.syncMemberships(ctx, tx, u.ID, u.Groups, oldName != row.username)
	})
	if err != nil {
		return db.d.classify("update user", err)
	}
	u.Username, u.CreatedAt, u.UpdatedAt = row.username, fromMillis(created), now
	return nil
}

// BumpSecurityStamp adds one to the user's stamp in a single statement, so
// a concurrent UpdateUser (which never writes the stamp) cannot undo it.
func (db *DB) BumpSecurityStamp(ctx context.Context, id string) (int64, error) {
	var stamp int64
	err := db.db.QueryRowContext(ctx, `UPDATE users SET security_stamp = security_stamp + 1, updated_at = $2 WHERE id = $1 RETURNING security_stamp`,
		id, toMillis(db.timestamp())).Scan(&stamp)
	return stamp, db.d.classify("bump security stamp", err)
}

// SetOwnPassword writes the password, its flags and the next stamp only
// where the row still has stamp and is enabled; a row that moved meanwhile
// matches nothing, so the race has one winner whatever the isolation.
func (db *DB) SetOwnPassword(ctx context.Context, id string, stamp int64, hash string) (int64, error) {
	var next int64
	err := db.db.QueryRowContext(ctx, `UPDATE users SET password_hash = $3, password_expires_at = 0,
		must_change_password = $4, security_stamp = security_stamp + 1, updated_at = $5
		WHERE id = $1 AND security_stamp = $2 AND disabled = $4 RETURNING security_stamp`,
		id, stamp, hash, false, toMillis(db.timestamp())).Scan(&next)
	return next, db.d.classify("set own password", err)
}

// userOwned are the tables whose rows belong to one user, deleted with
// them. The foreign keys cascade too (SQLite has them on through the DSN
// pragma), but a delete that relied on that alone would silently leave
// API keys behind on a database opened without the pragma.
var userOwned = []string{"recovery_codes", "totp_factors", "otp_factors", "passkeys", "devices", "group_members", "federated_identities"}

// DeleteUser removes the user and every row that is theirs in one
// transaction. It moves the groups generation (the user and their
// memberships leave every replica's copy of the people) and, when the
// user had API keys, the api_keys one, so replicas forget cached keys at
// once instead of at the end of their cache bound. The devices
// generation stays: it only tells replicas to read RevokedDevicesSince,
// which cannot return deleted rows; the device sessions end through the
// revocation the caller records.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	err := db.inTx(ctx, lockGroups, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM api_keys WHERE user_id = $1`, id)
		if err != nil {
			return err
		}
		keys, err := res.RowsAffected()
		if err != nil {
			return err
		}
		for _, table := range userOwned {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE user_id = $1`, id); err != nil {
				return err
			}
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return err
		}
		switch n, err := res.RowsAffected(); {
		case err != nil:
			return err
		case n == 0:
			return fmt.Errorf("user %q: %w", id, directory.ErrNotFound)
		}
		if keys > 0 {
			if err := bumpGeneration(ctx, tx, genAPIKeys); err != nil {
				return err
			}
		}
		return bumpGroups(ctx, tx)
	})
	return db.d.classify("delete user", err)
}

// UserByID returns the user with id, or ErrNotFound.
func (db *DB) UserByID(ctx context.Context, id string) (*directory.User, error) {
	return db.userWhere(ctx, "user by id", "id = $1", id)
}

// UserByUsername looks username up case-insensitively.
func (db *DB) UserByUsername(ctx context.Context, username string) (*directory.User, error) {
	return db.userWhere(ctx, "user by username", "username = $1", strings.ToLower(username))
}

// UserByEmail looks email up case-insensitively. An empty email matches
// nobody, although many users have one.
func (db *DB) UserByEmail(ctx context.Context, email string) (*directory.User, error) {
	if email == "" {
		return nil, fmt.Errorf("sqldir: user by email: %w", directory.ErrNotFound)
	}
	return db.userWhere(ctx, "user by email", "email_key = $1", emailKey(email))
}

func (db *DB) userWhere(ctx context.Context, op, where string, args ...any) (*directory.User, error) {
	q := `SELECT ` + userColumns + ` FROM users WHERE ` + where
	u, err := scanUser(db.db.QueryRowContext(ctx, q, args...))
	if err != nil {
		return nil, db.d.classify(op, err)
	}
	return u, nil
}

// ListUsers returns every user ordered by username.
func (db *DB) ListUsers(ctx context.Context) ([]directory.User, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, db.d.classify("list users", err)
	}
	defer rows.Close()
	var users []directory.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, db.d.classify("list users", err)
		}
		users = append(users, *u)
	}
	return users, db.d.classify("list users", rows.Err())
}

// DisabledUserIDs lists the ids of disabled users, in id order.
func (db *DB) DisabledUserIDs(ctx context.Context) ([]string, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT id FROM users WHERE disabled ORDER BY id`)
	if err != nil {
		return nil, db.d.classify("disabled users", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, db.d.classify("disabled users", err)
		}
		ids = append(ids, id)
	}
	return ids, db.d.classify("disabled users", rows.Err())
}

// UserAllowlists returns the network allowlist of every user who has one,
// by user id. Gateways poll it so a changed list applies at once.
func (db *DB) UserAllowlists(ctx context.Context) (map[string][]string, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT id, allowed_cidrs FROM users WHERE allowed_cidrs <> '[]' AND allowed_cidrs <> '' AND allowed_cidrs <> 'null'`)
	if err != nil {
		return nil, db.d.classify("user allowlists", err)
	}
	defer rows.Close()
	lists := map[string][]string{}
	for rows.Next() {
		var id, cidrs string
		if err := rows.Scan(&id, &cidrs); err != nil {
			return nil, db.d.classify("user allowlists", err)
		}
		l, err := decodeAllowList(cidrs)
		if err != nil {
			return nil, fmt.Errorf("sqldir: user allowlists: user %s: %w", id, err)
		}
		if len(l) > 0 {
			lists[id] = l.CIDRs()
		}
	}
	return lists, db.d.classify("user allowlists", rows.Err())
}

// userRow holds the columns of a user that are not stored as given.
type userRow struct {
	username, emailKey, groups, cidrs string
}

func encodeUser(u *directory.User) (userRow, error) {
	groups, err := encodeList(u.Groups)
	if err != nil {
		return userRow{}, fmt.Errorf("sqldir: encode groups: %w", err)
	}
	cidrs, err := encodeAllowList(u.AllowList)
	if err != nil {
		return userRow{}, fmt.Errorf("sqldir: encode allowed cidrs: %w", err)
	}
	return userRow{
		username: strings.ToLower(u.Username),
		emailKey: emailKey(u.Email),
		groups:   groups,
		cidrs:    cidrs,
	}, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanUser(s scanner) (*directory.User, error) {
	var (
		u                directory.User
		groups, cidrs    string
		created, updated int64
		pwExpires        int64
	)
	err := s.Scan(&u.ID, &u.Username, &u.Email, &u.DisplayName, &u.PasswordHash,
		&u.Role, &groups, &u.Disabled, &u.Require2FA, &cidrs, &u.SecurityStamp,
		&created, &updated, &pwExpires, &u.Template, &u.MustChangePassword)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(groups), &u.Groups); err != nil {
		return nil, fmt.Errorf("decode groups of user %s: %w", u.ID, err)
	}
	if u.AllowList, err = decodeAllowList(cidrs); err != nil {
		return nil, fmt.Errorf("decode allowed cidrs of user %s: %w", u.ID, err)
	}
	u.Groups = nilIfEmpty(u.Groups)
	u.CreatedAt, u.UpdatedAt = fromMillis(created), fromMillis(updated)
	if pwExpires != 0 {
		u.PasswordExpires = fromMillis(pwExpires)
	}
	return &u, nil
}

// optionalMillis stores the zero time as 0 ("never").
func optionalMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return toMillis(t)
}

// encodeList stores nil and empty alike as "[]".
func encodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

func nilIfEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// newUserID returns 128 random bits in hex. crypto/rand.Read never fails
// (it panics if the kernel's source does).
func newUserID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
