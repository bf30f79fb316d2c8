package sqldir

import (
	"context"
	"errors"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// LinkIdentity records that (provider, subject) is userID. Linking a pair
// that is already linked to another user is ErrConflict.
func (db *DB) LinkIdentity(ctx context.Context, provider, subject, userID string) error {
	if provider == "" || subject == "" || userID == "" {
		return errors.New("sqldir: link identity: provider, subject and user id are required")
	}
	_, err := db.db.ExecContext(ctx, `INSERT INTO federated_identities (provider, subject, user_id, created_at) VALUES ($1, $2, $3, $4)`,
		provider, subject, userID, toMillis(db.timestamp()))
	return db.d.classify("link identity", err)
}

// UserByIdentity returns the user linked to (provider, subject), or
// ErrNotFound.
func (db *DB) UserByIdentity(ctx context.Context, provider, subject string) (*directory.User, error) {
	return db.userWhere(ctx, "user by identity",
		"id = (SELECT user_id FROM federated_identities WHERE provider = $1 AND subject = $2)", provider, subject)
}
