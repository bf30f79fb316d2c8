package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/webhook"
)

var (
	// ErrNoWebhook means no queued webhook event has the id: it was
	// delivered (and deleted), purged 30 days after it failed, or never
	// existed.
	ErrNoWebhook = errors.New("admin: no such webhook event")
	// ErrWebhookPending means the event is still in the queue: the
	// sender tries it again on its own schedule.
	ErrWebhookPending = errors.New("admin: the webhook event is still pending")
)

// States of a queued webhook event.
const (
	WebhookPending = "pending" // waiting for its next attempt
	WebhookFailed  = "failed"  // given up after give_up_after; kept 30 days
)

// WebhookFilter selects the events Webhooks lists.
type WebhookFilter struct {
	Failed bool // only the given-up ones
	Limit  int  // at most this many, newest first; <= 0 means all
}

// WebhookRecord is a webhook event still in the queue, as the operator
// and the user it is about see it. It holds no signing secret: the queue
// has none, since an event is signed as it is sent.
type WebhookRecord struct {
	ID     string    `json:"id"`
	Type   string    `json:"type"`
	Status string    `json:"status"` // WebhookPending or WebhookFailed
	Queued time.Time `json:"queued"`
	// Requeued is when an admin last put it back in the queue.
	Requeued    time.Time `json:"requeued,omitzero"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"` // pending only
	FailedAt    time.Time `json:"failed_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Payload is the body the CRM receives: when the session ended, the
	// user's id and username, the session, device and reason.
	Payload webhook.Payload `json:"payload"`
}

// NewWebhookRecord describes a queued event. A body that is not a
// payload (none is written so) leaves Payload empty rather than fail a
// whole listing.
func NewWebhookRecord(e directory.WebhookEvent) WebhookRecord {
	r := WebhookRecord{ID: e.ID, Type: e.Type, Status: WebhookPending, Queued: e.Created, Requeued: e.Requeued,
		Attempts: e.Attempts, NextAttempt: e.NextAttempt, LastError: e.LastError}
	if !e.Failed.IsZero() {
		r.Status, r.FailedAt, r.NextAttempt = WebhookFailed, e.Failed, time.Time{}
	}
	_ = json.Unmarshal(e.Body, &r.Payload)
	return r
}

// Webhooks lists the events in the webhook queue, newest first.
func (s *Service) Webhooks(ctx context.Context, f WebhookFilter) ([]WebhookRecord, error) {
	return s.webhooks(ctx, directory.WebhookQuery{Failed: f.Failed, Limit: f.Limit})
}

func (s *Service) webhooks(ctx context.Context, q directory.WebhookQuery) ([]WebhookRecord, error) {
	events, err := s.dir.ListWebhooks(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]WebhookRecord, len(events))
	for i, e := range events {
		out[i] = NewWebhookRecord(e)
	}
	return out, nil
}

// RequeueWebhook puts a given-up event back in the queue, due now and
// retried for give_up_after again, under its own id, so the CRM still
// drops it if an earlier attempt did reach it. The audit event names the
// event's user, so it is part of their history and of their erasure.
func (s *Service) RequeueWebhook(ctx context.Context, actor, id string) (WebhookRecord, error) {
	found, err := s.webhooks(ctx, directory.WebhookQuery{ID: id})
	switch {
	case err != nil:
		return WebhookRecord{}, err
	case len(found) == 0:
		return WebhookRecord{}, ErrNoWebhook
	case found[0].Status != WebhookFailed:
		return found[0], ErrWebhookPending
	}
	r, now := found[0], s.now()
	// Looked up first for the audit event and the answer; the directory
	// checks the state again, as a sender or another admin may have
	// acted since.
	switch err := s.dir.RequeueWebhook(ctx, id, now); {
	case errors.Is(err, directory.ErrNotFound):
		return r, ErrNoWebhook
	case errors.Is(err, directory.ErrConflict):
		return r, ErrWebhookPending
	case err != nil:
		return r, fmt.Errorf("requeue webhook event %s: %w", id, err)
	}
	s.audit.Record(ctx, audit.Event{Event: audit.WebhookRequeued, Actor: actor, UserID: r.Payload.User.ID,
		Detail: map[string]string{"event_id": r.ID, "type": r.Type, "attempts": fmt.Sprint(r.Attempts)}})
	now = now.UTC().Truncate(time.Millisecond)
	r.Status, r.Requeued, r.NextAttempt, r.FailedAt, r.Attempts = WebhookPending, now, now, time.Time{}, 0
	return r, nil
}
