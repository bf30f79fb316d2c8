package sqldir

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// AppendAudit stores e. A zero e.Time means now; e.ID is ignored (the
// database assigns it).
func (db *DB) AppendAudit(ctx context.Context, e audit.Event) error {
	if e.Event == "" {
		return errors.New("sqldir: append audit: event name is required")
	}
	at := normTime(e.Time)
	if e.Time.IsZero() {
		at = db.timestamp()
	}
	detail := []byte("{}")
	if len(e.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(e.Detail); err != nil {
			return fmt.Errorf("sqldir: append audit: encode detail: %w", err)
		}
	}
	const q = `INSERT INTO audit_events (time, event, actor, user_id, client_ip, detail)
		VALUES ($1, $2, $3, $4, $5, $6)`
	_, err := db.db.ExecContext(ctx, q, toMillis(at), e.Event, e.Actor, e.UserID, e.ClientIP, string(detail))
	return db.d.classify("append audit", err)
}

// ListAudit returns at most limit events, newest (by Time, then by
// insertion) first. A limit of zero or less returns none.
func (db *DB) ListAudit(ctx context.Context, limit int) ([]audit.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	const q = `SELECT id, time, event, actor, user_id, client_ip, detail
		FROM audit_events ORDER BY time DESC, id DESC LIMIT $1`
	rows, err := db.db.QueryContext(ctx, q, limit)
	if err != nil {
		return nil, db.d.classify("list audit", err)
	}
	defer rows.Close()
	var events []audit.Event
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, db.d.classify("list audit", err)
		}
		events = append(events, e)
	}
	return events, db.d.classify("list audit", rows.Err())
}

// QueryAudit returns one page of the events q selects, newest first. The
// cursor is a (time, id) position, looked up from the Before event, so
// the query walks the (time, id) index backwards from there; the event
// filter has its own index (migration 0014), the user filter 0001's.
func (db *DB) QueryAudit(ctx context.Context, q directory.AuditQuery) ([]audit.Event, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = directory.AuditPageDefault
	case limit > directory.AuditPageMax:
		limit = directory.AuditPageMax
	}
	var (
		where []string
		args  []any
	)
	// cond adds a condition, numbering its ? placeholders after the
	// ones before it.
	cond := func(expr string, vals ...any) {
		for _, v := range vals {
			args = append(args, v)
			expr = strings.Replace(expr, "?", "$"+strconv.Itoa(len(args)), 1)
		}
		where = append(where, expr)
	}
	if q.UserID != "" {
		cond("user_id = ?", q.UserID)
	}
	if q.Event != "" {
		cond("event = ?", q.Event)
	}
	if !q.Since.IsZero() {
		cond("time >= ?", ceilMillis(q.Since))
	}
	if !q.Until.IsZero() {
		cond("time < ?", ceilMillis(q.Until))
	}
	if q.Before != 0 {
		var at int64
		err := db.db.QueryRowContext(ctx, `SELECT time FROM audit_events WHERE id = $1`, q.Before).Scan(&at)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cond("id < ?", q.Before)
		case err != nil:
			return nil, db.d.classify("query audit", err)
		default:
			// "time <= at" bounds the index range in both dialects;
			// an OR alone would be a filter on a scan from the newest.
			cond("time <= ? AND (time < ? OR id < ?)", at, at, q.Before)
		}
	}
	query := `SELECT id, time, event, actor, user_id, client_ip, detail FROM audit_events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	query += " ORDER BY time DESC, id DESC LIMIT $" + strconv.Itoa(len(args))
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, db.d.classify("query audit", err)
	}
	defer rows.Close()
	var events []audit.Event
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, db.d.classify("query audit", err)
		}
		events = append(events, e)
	}
	return events, db.d.classify("query audit", rows.Err())
}

// ceilMillis is t in unix milliseconds rounded up: times are stored in
// whole milliseconds, so an event is at or after a bound in between
// exactly when it is at or after the next millisecond.
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

func scanAudit(s scanner) (audit.Event, error) {
	var (
		e      audit.Event
		at     int64
		detail string
	)
	if err := s.Scan(&e.ID, &at, &e.Event, &e.Actor, &e.UserID, &e.ClientIP, &detail); err != nil {
		return e, err
	}
	if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
		return e, fmt.Errorf("decode detail of audit event %d: %w", e.ID, err)
	}
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	e.Time = fromMillis(at)
	return e, nil
}
