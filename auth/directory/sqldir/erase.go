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
