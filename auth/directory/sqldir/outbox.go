package sqldir

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// EnqueueWebhook stores an event for the webhook sender.
func (db *DB) EnqueueWebhook(ctx context.Context, e directory.WebhookEvent) error {
	created := e.Created
	if created.IsZero() {
		created = db.timestamp()
	}
	next := e.NextAttempt
	if next.IsZero() {
		next = created
	}
	_, err := db.db.ExecContext(ctx, `INSERT INTO webhook_outbox (id, event_type, body, created_at, next_attempt)
		VALUES ($1, $2, $3, $4, $5)`, e.ID, e.Type, string(e.Body), toMillis(created), toMillis(next))
	return db.d.classify("enqueue webhook", err)
}

// ClaimWebhooks leases due events. One statement picks and leases them,
// so on SQLite (one writer at a time) two claims cannot overlap; on
// PostgreSQL the candidate rows are locked FOR UPDATE SKIP LOCKED, so a
// concurrent claim takes other rows instead of waiting for these and
// then leasing them a second time, and the outer conditions are checked
// again on the row it finally updates. The pick is a MATERIALIZED CTE:
// as an IN (subquery) PostgreSQL may run the LIMIT subquery more than
// once and lease more than limit rows (the conformance suite caught it).
func (db *DB) ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]directory.WebhookEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	lock := ""
	if db.d.name == postgresDialect.name {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	claim := rand.Text()
	at := toMillis(now)
	rows, err := db.db.QueryContext(ctx, `WITH picked AS MATERIALIZED (SELECT id FROM webhook_outbox
			WHERE failed_at = 0 AND next_attempt <= $3 AND lease_until <= $3
			ORDER BY next_attempt, created_at, id LIMIT $4`+lock+`)
		UPDATE webhook_outbox SET lease_until = $1, claim = $2
		WHERE id IN (SELECT id FROM picked) AND failed_at = 0 AND lease_until <= $3
		RETURNING `+webhookColumns,
		toMillis(now.Add(lease)), claim, at, limit)
	out, err := scanWebhooks(rows, err)
	if err != nil {
		return nil, db.d.classify("claim webhooks", err)
	}
	for i := range out {
		out[i].Claim = claim
	}
	// RETURNING keeps no order; the sender takes the oldest due first.
	slices.SortFunc(out, func(a, b directory.WebhookEvent) int {
		return cmp.Or(a.NextAttempt.Compare(b.NextAttempt), a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// CompleteWebhook deletes a delivered event.
func (db *DB) CompleteWebhook(ctx context.Context, id string) error {
	_, err := db.db.ExecContext(ctx, `DELETE FROM webhook_outbox WHERE id = $1`, id)
	return db.d.classify("complete webhook", err)
}

// RetryWebhook schedules the next attempt of an event held under claim.
func (db *DB) RetryWebhook(ctx context.Context, id, claim string, next time.Time, lastErr string) error {
	res, err := db.db.ExecContext(ctx, `UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt = $3,
		last_error = $4, lease_until = 0, claim = '' WHERE id = $1 AND claim = $2 AND failed_at = 0`,
		id, claim, toMillis(next), lastErr)
	return db.oneRow("retry webhook", res, err)
}

// FailWebhook gives up an event held under claim.
func (db *DB) FailWebhook(ctx context.Context, id, claim string, at time.Time, lastErr string) error {
	if at.IsZero() {
		at = db.timestamp()
	}
	res, err := db.db.ExecContext(ctx, `UPDATE webhook_outbox SET attempts = attempts + 1, failed_at = $3,
		last_error = $4, lease_until = 0, claim = '' WHERE id = $1 AND claim = $2 AND failed_at = 0`,
		id, claim, max(toMillis(at), 1), lastErr)
	return db.oneRow("fail webhook", res, err)
}

// WebhookQueue counts pending and given-up events.
func (db *DB) WebhookQueue(ctx context.Context) (pending, failed int64, err error) {
	err = db.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN failed_at = 0 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN failed_at <> 0 THEN 1 ELSE 0 END), 0)
		FROM webhook_outbox`).Scan(&pending, &failed)
	return pending, failed, db.d.classify("webhook queue", err)
}

// PurgeWebhooks deletes events given up before before.
func (db *DB) PurgeWebhooks(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.db.ExecContext(ctx, `DELETE FROM webhook_outbox WHERE failed_at <> 0 AND failed_at < $1`, toMillis(before))
	if err != nil {
		return 0, db.d.classify("purge webhooks", err)
	}
	n, err := res.RowsAffected()
	return n, db.d.classify("purge webhooks", err)
}

// webhookColumns are the columns scanWebhooks reads, in its order.
const webhookColumns = `id, event_type, body, created_at, attempts, next_attempt, last_error, failed_at, requeued_at`

// scanWebhooks reads the rows of a query selecting webhookColumns (err
// is the query's) and closes them.
func scanWebhooks(rows *sql.Rows, err error) ([]directory.WebhookEvent, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []directory.WebhookEvent
	for rows.Next() {
		var e directory.WebhookEvent
		var body string
		var created, next, failed, requeued int64
		if err := rows.Scan(&e.ID, &e.Type, &body, &created, &e.Attempts, &next, &e.LastError, &failed, &requeued); err != nil {
			return nil, err
		}
		e.Body, e.Created, e.NextAttempt = []byte(body), fromMillis(created), fromMillis(next)
		if failed != 0 {
			e.Failed = fromMillis(failed)
		}
		if requeued != 0 {
			e.Requeued = fromMillis(requeued)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ListWebhooks reads the events q selects. A user's events are found
// by a LIKE over the body, which over-selects ("_" is a wildcard, and
// the id might appear inside another value), and then checked exactly
// on the decoded body; their limit is applied after that check.
func (db *DB) ListWebhooks(ctx context.Context, q directory.WebhookQuery) ([]directory.WebhookEvent, error) {
	query, args := `SELECT `+webhookColumns+` FROM webhook_outbox WHERE 1 = 1`, []any{}
	if q.ID != "" {
		args = append(args, q.ID)
		query += ` AND id = $` + strconv.Itoa(len(args))
	}
	if q.UserID != "" {
		args = append(args, "%"+q.UserID+"%")
		query += ` AND body LIKE $` + strconv.Itoa(len(args))
	}
	if q.Failed {
		query += ` AND failed_at <> 0`
	}
	query += ` ORDER BY created_at DESC, id DESC`
	if q.Limit > 0 && q.UserID == "" {
		query += ` LIMIT ` + strconv.Itoa(q.Limit)
	}
	out, err := scanWebhooks(db.db.QueryContext(ctx, query, args...))
	if err != nil {
		return nil, db.d.classify("list webhooks", err)
	}
	if q.UserID != "" {
		out = slices.DeleteFunc(out, func(e directory.WebhookEvent) bool { return !ownedBy(e.Body, q.UserID) })
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
	}
	return out, nil
}

// ownedBy reports whether body is an event about userID: a JSON object
// whose "user" object has that id. Another user's event that merely
// holds the id somewhere else is not theirs.
func ownedBy(body []byte, userID string) bool {
	var v struct {
		User struct {
			ID *string `json:"id"`
		} `json:"user"`
	}
	return json.Unmarshal(body, &v) == nil && v.User.ID != nil && *v.User.ID == userID
}

// RequeueWebhook puts a given-up event back in the queue. Only a failed
// row is touched, so a pending one (possibly in flight under a lease)
// keeps its schedule; when nothing changed, a second read tells an
// unknown id from a pending one.
func (db *DB) RequeueWebhook(ctx context.Context, id string, now time.Time) error {
	at := toMillis(normTime(now))
	res, err := db.db.ExecContext(ctx, `UPDATE webhook_outbox SET failed_at = 0, attempts = 0, next_attempt = $2,
		requeued_at = $2, lease_until = 0, claim = '' WHERE id = $1 AND failed_at <> 0`, id, at)
	err = db.oneRow("requeue webhook", res, err)
	if !errors.Is(err, directory.ErrNotFound) {
		return err
	}
	var one int
	switch err := db.db.QueryRowContext(ctx, `SELECT 1 FROM webhook_outbox WHERE id = $1`, id).Scan(&one); {
	case err == nil:
		return fmt.Errorf("sqldir: requeue webhook %s: still pending: %w", id, directory.ErrConflict)
	default:
		return db.d.classify("requeue webhook", err)
	}
}
