package sqldir

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

const deviceColumns = `id, user_id, client_id, user_agent, first_seen, last_seen, last_ip, revoked_at, revoke_reason`

// AddDevice stores a live device login of an existing user.
func (db *DB) AddDevice(ctx context.Context, d directory.Device) error {
	first := d.FirstSeen
	if first.IsZero() {
		first = db.timestamp()
	}
	last := d.LastSeen
	if last.IsZero() {
		last = first
	}
	// INSERT … SELECT makes an unknown user a missing row, not a foreign
	// key error the dialects report differently (as CreateAPIKey does).
	res, err := db.db.ExecContext(ctx, `INSERT INTO devices (`+deviceColumns+`)
		SELECT $1, id, $3, $4, $5, $6, $7, 0, '' FROM users WHERE id = $2`,
		d.ID, d.UserID, d.ClientID, d.UserAgent, toMillis(first), toMillis(last), d.LastIP)
	return db.oneRow("add device", res, err)
}

// Device returns one device login.
func (db *DB) Device(ctx context.Context, id string) (*directory.Device, error) {
	d, err := scanDevice(db.db.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = $1`, id))
	if err != nil {
		return nil, db.d.classify("device", err)
	}
	return d, nil
}

// UserDevices returns a user's device logins, newest first.
func (db *DB) UserDevices(ctx context.Context, userID string) ([]directory.Device, error) {
	return db.queryDevices(ctx, "user devices",
		`SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 ORDER BY first_seen DESC, id`, userID)
}

// TouchDevice records the latest use; an older one than stored is
// ignored (both columns keep the newer use).
func (db *DB) TouchDevice(ctx context.Context, id string, at time.Time, ip string) error {
	res, err := db.db.ExecContext(ctx, `UPDATE devices SET
		last_ip = CASE WHEN $2 >= last_seen THEN $3 ELSE last_ip END,
		last_seen = CASE WHEN $2 >= last_seen THEN $2 ELSE last_seen END
		WHERE id = $1`, id, toMillis(at), ip)
	return db.oneRow("touch device", res, err)
}

// RevokeDevices revokes the user's live devices among ids (nil: all) and
// moves the devices generation in the same transaction when any was
// revoked. Revocations run one at a time (the devices lock on PostgreSQL,
// the write lock on SQLite) and the UPDATE claims only live rows, so of
// two concurrent revocations of one device exactly one reports it.
func (db *DB) RevokeDevices(ctx context.Context, userID string, ids []string, at time.Time, reason string) ([]string, error) {
	if ids != nil && len(ids) == 0 {
		return nil, nil
	}
	if at.IsZero() {
		at = db.timestamp()
	}
	q := `UPDATE devices SET revoked_at = $2, revoke_reason = $3 WHERE user_id = $1 AND revoked_at = 0`
	args := []any{userID, toMillis(at), reason}
	if ids != nil {
		ids = slices.Compact(slices.Sorted(slices.Values(ids)))
		marks := make([]string, len(ids))
		for i, id := range ids {
			args = append(args, id)
			marks[i] = "$" + strconv.Itoa(len(args))
		}
		q += ` AND id IN (` + strings.Join(marks, ", ") + `)`
	}
	q += ` RETURNING id`
	var revoked []string
	err := db.inTx(ctx, lockDevices, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			revoked = append(revoked, id)
		}
		// Done with the rows before the next statement on this connection.
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if len(revoked) == 0 {
			return nil
		}
		return bumpGeneration(ctx, tx, genDevices)
	})
	if err != nil {
		return nil, db.d.classify("revoke devices", err)
	}
	slices.Sort(revoked)
	return revoked, nil
}

// RevokedDevicesSince lists devices revoked at or after since, oldest
// first.
func (db *DB) RevokedDevicesSince(ctx context.Context, since time.Time) ([]directory.Device, error) {
	return db.queryDevices(ctx, "revoked devices",
		`SELECT `+deviceColumns+` FROM devices WHERE revoked_at >= $1 AND revoked_at <> 0 ORDER BY revoked_at, id`, toMillis(since))
}

// DevicesGeneration reads the devices generation.
func (db *DB) DevicesGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, genDevices)
}

func (db *DB) queryDevices(ctx context.Context, op, q string, args ...any) ([]directory.Device, error) {
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.d.classify(op, err)
	}
	defer rows.Close()
	var out []directory.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, db.d.classify(op, err)
		}
		out = append(out, *d)
	}
	return out, db.d.classify(op, rows.Err())
}

func scanDevice(s scanner) (*directory.Device, error) {
	var (
		d                    directory.Device
		first, last, revoked int64
	)
	if err := s.Scan(&d.ID, &d.UserID, &d.ClientID, &d.UserAgent, &first, &last, &d.LastIP, &revoked, &d.RevokeReason); err != nil {
		return nil, err
	}
	d.FirstSeen, d.LastSeen = fromMillis(first), fromMillis(last)
	if revoked != 0 {
		d.RevokedAt = fromMillis(revoked)
	}
	return &d, nil
}
