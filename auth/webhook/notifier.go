package webhook

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// Results a Metrics counts.
const (
	ResultDelivered    = "delivered"     // the receiver answered 2xx
	ResultRetried      = "retried"       // an attempt failed; another is scheduled
	ResultFailed       = "failed"        // retried until give_up_after; kept as failed
	ResultEnqueueError = "enqueue_error" // the event could not be queued (directory down)
)

// Metrics counts what happens to events; the gateway's Prometheus
// registry implements it (no user ids in labels: results only).
type Metrics interface {
	WebhookResult(result string)
	WebhookQueue(pending, failed int64)
}

// Users finds a user's name for the payload.
type Users interface {
	UserByID(ctx context.Context, id string) (*directory.User, error)
}

// enqueueTimeout bounds the queue write a recorded event waits for, as
// the audit recorder bounds its own append.
const enqueueTimeout = 2 * time.Second

// Notifier turns the audit events that end sessions into queued
// webhook events: register Observe on the audit.Recorder. It never
// talks to the CRM; a Sender does.
type Notifier struct {
	box     directory.Outbox
	users   Users
	log     *slog.Logger
	now     func() time.Time
	metrics atomic.Pointer[Metrics]
	wake    chan struct{}
}

// NewNotifier returns a Notifier writing to box; now (time.Now if nil)
// stamps when an event was queued, which the Sender's retry limit counts
// from.
func NewNotifier(box directory.Outbox, users Users, log *slog.Logger, now func() time.Time) *Notifier {
	if now == nil {
		now = time.Now
	}
	return &Notifier{box: box, users: users, log: log.With("component", "webhook"), now: now, wake: make(chan struct{}, 1)}
}

// SetMetrics counts enqueue errors in m from now on.
func (n *Notifier) SetMetrics(m Metrics) { n.metrics.Store(&m) }

// Wake is poked after every enqueue, so a Sender in this process sends at
// once instead of at its next poll.
func (n *Notifier) Wake() <-chan struct{} { return n.wake }

// Observe queues the notification e makes, if any. It runs in the
// recording request: the wait is one directory write, bounded; a failure
// is logged and counted, never returned, because refusing a logout
// because the CRM's queue is down would help nobody (the event itself is
// in the audit log).
func (n *Notifier) Observe(ctx context.Context, e audit.Event) {
	p, ok := Of(e)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), enqueueTimeout)
	defer cancel()
	p.ID = NewID()
	if u, err := n.users.UserByID(ctx, p.User.ID); err == nil {
		p.User.Username = u.Username
	}
	body, err := json.Marshal(p)
	if err == nil {
		err = n.box.EnqueueWebhook(ctx, directory.WebhookEvent{ID: p.ID, Type: p.Type, Body: body, Created: n.now()})
	}
	if err != nil {
		n.log.ErrorContext(ctx, "webhook event not queued; the CRM will not be told", "event_id", p.ID, "type", p.Type,
			"user_id", p.User.ID, "session", p.Session, "device", p.Device, "error", err)
		if m := n.metrics.Load(); m != nil {
			(*m).WebhookResult(ResultEnqueueError)
		}
		return
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
}
