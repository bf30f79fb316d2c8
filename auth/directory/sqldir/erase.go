package sqldir

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PseudonymizeAudit rewrites every event about userID, and every event
// one of names acted in, so that none names the user: user_id and such an
// actor become pseudonym, a detail value equal to one of names becomes
// pseudonym, and the client address is cleared. The events themselves
// stay (what happened, when, by which admin). The rows are read and
// written in one transaction, since detail is JSON each dialect would
// edit differently.
func (db *DB) PseudonymizeAudit(ctx context.Context, userID, pseudonym string, names []string) (int64, error) {
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "" })
	var changed int64
	err := db.inTx(ctx, lockErase, func(tx *sql.Tx) error {
		type row struct {
			id                    int64
			actor, user, ip, data string
		}
		var rows []row
		// Candidates: the user's events, the ones they acted in, and any
		// whose detail mentions a name (LIKE over-selects — "_" is a
		// wildcard — so each row is checked exactly below, and only rows
		// that name the user are rewritten).
		q, args := `SELECT id, actor, user_id, client_ip, detail FROM audit_events WHERE user_id = $1`, []any{userID}
		for _, n := range names {
			args = append(args, n, "%"+n+"%")
			q += ` OR actor = $` + strconv.Itoa(len(args)-1) + ` OR detail LIKE $` + strconv.Itoa(len(args))
		}
		res, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		for res.Next() {
			var r row
			if err := res.Scan(&r.id, &r.actor, &r.user, &r.ip, &r.data); err != nil {
				res.Close()
				return err
			}
			rows = append(rows, r)
		}
		if err := res.Close(); err != nil {
			return err
		}
		for _, r := range rows {
			named := false
			if r.user == userID {
				r.user, named = pseudonym, true
			}
			if slices.Contains(names, r.actor) {
				r.actor, named = pseudonym, true
			}
			detail := map[string]string{}
			if err := json.Unmarshal([]byte(r.data), &detail); err != nil {
				detail, named = map[string]string{}, named || strings.Contains(r.data, userID) // unreadable: dropped if it might name them
			}
			for k, v := range detail {
				if slices.Contains(names, v) || v == userID {
					detail[k], named = pseudonym, true
				}
			}
			if !named {
				continue
			}
			data, err := json.Marshal(detail)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE audit_events SET actor = $2, user_id = $3, client_ip = '', detail = $4 WHERE id = $1`,
				r.id, r.actor, r.user, string(data)); err != nil {
				return err
			}
			changed++
		}
		return nil
	})
	return changed, db.d.classify("pseudonymize audit", err)
}

// PseudonymizeWebhooks rewrites the queued webhook events that name the
// user (directory.Outbox). Candidates are found as PseudonymizeAudit
// finds them, by LIKE, and each decoded body is checked and rewritten
// exactly; the rows are read and written in one transaction under the
// erasure's lock. A sender may hold one of the rows under a lease
// meanwhile: its attempt sends the body it already read, and its
// outcome (retry, give up, delete) leaves the new body in place.
func (db *DB) PseudonymizeWebhooks(ctx context.Context, userID, pseudonym string, names []string) (int64, error) {
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "" })
	var changed int64
	err := db.inTx(ctx, lockErase, func(tx *sql.Tx) error {
		q, args := `SELECT id, body FROM webhook_outbox WHERE body LIKE $1`, []any{"%" + userID + "%"}
		for _, n := range names {
			args = append(args, "%"+n+"%")
			q += ` OR body LIKE $` + strconv.Itoa(len(args))
		}
		res, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		bodies := map[string]string{}
		for res.Next() {
			var id, body string
			if err := res.Scan(&id, &body); err != nil {
				res.Close()
				return err
			}
			bodies[id] = body
		}
		if err := res.Close(); err != nil {
			return err
		}
		for id, body := range bodies {
			// UseNumber: numbers are written back as they were read.
			dec := json.NewDecoder(strings.NewReader(body))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				// Unreadable, so not rewritable: a body that might name
				// the user goes with its row rather than stay.
				if strings.Contains(body, userID) || slices.ContainsFunc(names, func(n string) bool { return strings.Contains(body, n) }) {
					if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_outbox WHERE id = $1`, id); err != nil {
						return err
					}
					changed++
				}
				continue
			}
			if !rewriteOwner(v, userID, pseudonym) {
				continue
			}
			out, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_outbox SET body = $2 WHERE id = $1`, id, string(out)); err != nil {
				return err
			}
			changed++
		}
		return nil
	})
	return changed, db.d.classify("pseudonymize webhooks", err)
}

// rewriteOwner replaces the user object of an event body that is about
// userID with one naming only pseudonym, and says whether it did. Only
// that object names the user: every other member (type, reason, session)
// is the gateway's vocabulary, and a body about someone else stays byte
// for byte even when one of its values happens to equal her username.
func rewriteOwner(v any, userID, pseudonym string) bool {
	body, ok := v.(map[string]any)
	if !ok {
		return false
	}
	user, ok := body["user"].(map[string]any)
	if !ok || user["id"] != userID {
		return false
	}
	body["user"] = map[string]any{"id": pseudonym}
	return true
}

// DeleteAuditBefore removes the events older than t (the retention job),
// in batches so a large first run does not hold one long transaction.
func (db *DB) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		res, err := db.db.ExecContext(ctx,
			`DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE time < $1 ORDER BY time LIMIT 5000)`, toMillis(t))
		if err != nil {
			return total, db.d.classify("delete old audit events", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, db.d.classify("delete old audit events", err)
		}
		total += n
		if n < 5000 {
			return total, nil
		}
	}
}
