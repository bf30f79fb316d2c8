package sqldir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
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
