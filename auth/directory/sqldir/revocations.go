package sqldir

import (
	"context"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// revocationKeep is how long revocation rows are kept: far longer than any
// replica's poll interval, so commit-order skew cannot hide one.
const revocationKeep = time.Hour

// RevokeUserSessions records that every session of userID created before
// now must end, and prunes rows older than an hour.
func (db *DB) RevokeUserSessions(ctx context.Context, userID string) (directory.Revocation, error) {
	now := db.timestamp()
	r := directory.Revocation{UserID: userID, At: now}
	err := db.db.QueryRowContext(ctx, `INSERT INTO session_revocations (user_id, created_at) VALUES ($1, $2) RETURNING id`,
		userID, toMillis(now)).Scan(&r.ID)
	if err != nil {
		return directory.Revocation{}, db.d.classify("revoke user sessions", err)
	}
	_, err = db.db.ExecContext(ctx, `DELETE FROM session_revocations WHERE created_at < $1`, toMillis(now.Add(-revocationKeep)))
	return r, db.d.classify("prune revocations", err)
}

// RecentRevocations lists revocations recorded at or after since, oldest
// first.
func (db *DB) RecentRevocations(ctx context.Context, since time.Time) ([]directory.Revocation, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT id, user_id, created_at FROM session_revocations WHERE created_at >= $1 ORDER BY created_at, id`,
		toMillis(since))
	if err != nil {
		return nil, db.d.classify("recent revocations", err)
	}
	defer rows.Close()
	var out []directory.Revocation
	for rows.Next() {
		var r directory.Revocation
		var at int64
		if err := rows.Scan(&r.ID, &r.UserID, &at); err != nil {
			return nil, db.d.classify("recent revocations", err)
		}
		r.At = fromMillis(at)
		out = append(out, r)
	}
	return out, db.d.classify("recent revocations", rows.Err())
}
