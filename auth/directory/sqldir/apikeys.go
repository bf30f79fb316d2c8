package sqldir

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

const apiKeyColumns = `id, user_id, name, hash, scopes, allowed_cidrs, created_at, expires_at, revoked_at, last_used_at, last_used_ip`

// CreateAPIKey stores a key for an existing user.
func (db *DB) CreateAPIKey(ctx context.Context, k *directory.APIKey) error {
	scopes, err := encodeList(k.Scopes)
	if err != nil {
		return err
	}
	cidrs, err := encodeList(k.AllowedCIDRs)
	if err != nil {
		return err
	}
	created := k.CreatedAt
	if created.IsZero() {
		created = db.timestamp()
	}
	created = normTime(created)
	// INSERT … SELECT makes an unknown user a missing row, not a foreign
	// key error the dialects report differently.
	res, err := db.db.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`)
		SELECT $1, id, $3, $4, $5, $6, $7, $8, 0, 0, '' FROM users WHERE id = $2`,
		k.ID, k.UserID, k.Name, k.Hash, scopes, cidrs, toMillis(created), optionalMillis(k.ExpiresAt))
	if err := db.oneRow("create api key", res, err); err != nil {
		return err
	}
	k.CreatedAt = created
	return nil
}

// APIKey returns one key.
func (db *DB) APIKey(ctx context.Context, id string) (*directory.APIKey, error) {
	k, err := scanAPIKey(db.db.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if err != nil {
		return nil, db.d.classify("api key", err)
	}
	return k, nil
}

// ListAPIKeys returns a user's keys, or everyone's for "".
func (db *DB) ListAPIKeys(ctx context.Context, userID string) ([]directory.APIKey, error) {
	q, args := `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at DESC, id`, []any{}
	if userID != "" {
		q, args = `SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id`, []any{userID}
	}
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.d.classify("list api keys", err)
	}
	defer rows.Close()
	var out []directory.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, db.d.classify("list api keys", err)
		}
		out = append(out, *k)
	}
	return out, db.d.classify("list api keys", rows.Err())
}

// RevokeAPIKey marks a key revoked, keeping the first revocation time,
// and moves the api_keys generation in the same transaction.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, now time.Time) error {
	err := db.inTx(ctx, lockGroups, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN $2 ELSE revoked_at END WHERE id = $1`,
			id, toMillis(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("api key %q: %w", id, directory.ErrNotFound)
		}
		return bumpGeneration(ctx, tx, genAPIKeys)
	})
	return db.d.classify("revoke api key", err)
}

// APIKeysGeneration reads the api_keys generation.
func (db *DB) APIKeysGeneration(ctx context.Context) (int64, error) {
	return db.generation(ctx, genAPIKeys)
}

// TouchAPIKey records the last use.
func (db *DB) TouchAPIKey(ctx context.Context, id string, at time.Time, ip string) error {
	_, err := db.db.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $2, last_used_ip = $3 WHERE id = $1`, id, toMillis(at), ip)
	return db.d.classify("touch api key", err)
}

func scanAPIKey(s scanner) (*directory.APIKey, error) {
	var (
		k                                   directory.APIKey
		scopes, cidrs                       string
		created, expires, revoked, lastUsed int64
	)
	if err := s.Scan(&k.ID, &k.UserID, &k.Name, &k.Hash, &scopes, &cidrs, &created, &expires, &revoked, &lastUsed, &k.LastUsedIP); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return nil, fmt.Errorf("decode scopes of api key %s: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(cidrs), &k.AllowedCIDRs); err != nil {
		return nil, fmt.Errorf("decode allowed cidrs of api key %s: %w", k.ID, err)
	}
	k.Scopes, k.AllowedCIDRs = nilIfEmpty(k.Scopes), nilIfEmpty(k.AllowedCIDRs)
	k.CreatedAt = fromMillis(created)
	for _, t := range []struct {
		ms  int64
		dst *time.Time
	}{{expires, &k.ExpiresAt}, {revoked, &k.RevokedAt}, {lastUsed, &k.LastUsedAt}} {
		if t.ms != 0 {
			*t.dst = fromMillis(t.ms)
		}
	}
	return &k, nil
}
