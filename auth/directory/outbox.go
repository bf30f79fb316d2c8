package directory

import (
	"context"
	"time"
)

// WebhookEvent is one notification waiting in the outbox for the
// upstream's webhook (auth/webhook): the body is fixed when the event is
// enqueued, so every attempt sends the same bytes under the same id.
type WebhookEvent struct {
	// ID is the event id, sent as webhook-id and in the body: unique, and
	// the receiver's de-duplication key across retries.
	ID   string
	Type string // logout, idle_timeout, …: for the operator's queries
	Body []byte // the JSON payload
	// Created is when the event was enqueued (zero on Enqueue means now);
	// the sender gives up on an event older than its limit.
	Created time.Time
	// Requeued is when an operator last put the given-up event back in
	// the queue (RequeueWebhook); zero if never. The sender's limit then
	// counts from it, and Created still says when the event was made.
	Requeued    time.Time
	Attempts    int       // delivery attempts made so far
	NextAttempt time.Time // when it is due (zero on Enqueue means Created)
	LastError   string    // why the last attempt failed, for the operator
	// Failed is when the sender gave up (zero: still pending). A failed
	// event is kept, never claimed again, until PurgeWebhooks.
	Failed time.Time
	// Claim names the lease ClaimWebhooks took; RetryWebhook and
	// FailWebhook act only under it.
	Claim string
}

// Outbox is the durable queue of webhook events. Senders on any number
// of replicas share it: ClaimWebhooks leases rows so that no two senders
// hold the same event at the same time, and an event leaves the queue
// only through CompleteWebhook (the receiver answered 2xx) or, given up,
// through PurgeWebhooks — delivery is at least once.
type Outbox interface {
	// EnqueueWebhook stores e, due at e.NextAttempt; ErrConflict when its
	// id exists.
	EnqueueWebhook(ctx context.Context, e WebhookEvent) error
	// ClaimWebhooks leases up to limit pending events that are due at now
	// and not leased (or whose lease ended), oldest due first, until
	// now+lease under a fresh claim each call, atomically: concurrent
	// calls, from this process or another, never return the same event
	// while its lease holds.
	ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]WebhookEvent, error)
	// CompleteWebhook removes a delivered event, whoever holds it;
	// removing one already gone is not an error.
	CompleteWebhook(ctx context.Context, id string) error
	// RetryWebhook records a failed attempt under claim: one more
	// attempt, due again at next, lease released. ErrNotFound when the
	// event is gone or claimed by someone else since.
	RetryWebhook(ctx context.Context, id, claim string, next time.Time, lastErr string) error
	// FailWebhook gives the event up under claim at at (kept for the
	// operator, never claimed again). ErrNotFound as RetryWebhook.
	FailWebhook(ctx context.Context, id, claim string, at time.Time, lastErr string) error
	// WebhookQueue counts the pending and the given-up events.
	WebhookQueue(ctx context.Context) (pending, failed int64, err error)
	// PurgeWebhooks deletes the events given up before before and
	// returns how many.
	PurgeWebhooks(ctx context.Context, before time.Time) (int64, error)
	// ListWebhooks returns the events q selects, the most recently
	// queued first, without their claims.
	ListWebhooks(ctx context.Context, q WebhookQuery) ([]WebhookEvent, error)
	// RequeueWebhook puts a given-up event back in the queue as if it
	// were new — due at now, no attempts, Requeued now, so it is retried
	// for as long as a new one — keeping its id (the receiver's
	// de-duplication key), body, Created and LastError. ErrNotFound when
	// no event has id; ErrConflict when it is still pending.
	RequeueWebhook(ctx context.Context, id string, now time.Time) error
	// PseudonymizeWebhooks rewrites the queued events about the user,
	// pending or given up: in a body (a JSON object) whose "user"
	// object has id userID, that object becomes {"id": pseudonym}; every
	// other body stays as it is, and a body that is not JSON and holds
	// userID or one of names (the username, the email) goes. It returns
	// how many events changed.
	PseudonymizeWebhooks(ctx context.Context, userID, pseudonym string, names []string) (int64, error)
}

// WebhookQuery selects events for ListWebhooks.
type WebhookQuery struct {
	ID string // when set, only the event with this id
	// UserID, when set, keeps the events about that user: bodies whose
	// "user" object has this id.
	UserID string
	Failed bool // only the events given up
	Limit  int  // at most this many; <= 0 means all
}
