package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// Retry schedule: the first retry after about a second, doubling to an
// hour, each with jitter (half the delay, plus up to the other half at
// random) so that replicas and events retried together spread out.
const (
	BaseBackoff = time.Second
	MaxBackoff  = time.Hour
)

// Sender tuning.
const (
	batchSize    = 10
	pollInterval = time.Second
	// queueEvery is how often the queue depth gauge is refreshed.
	queueEvery = 15 * time.Second
	// purgeAfter is how long a failed event is kept for the operator.
	purgeAfter = 30 * 24 * time.Hour
	// maxError bounds the last_error kept per event.
	maxError = 300
)

// SenderOptions are the Sender's collaborators; every field is optional.
type SenderOptions struct {
	Client  *http.Client     // default: one with the config's timeout, redirects not followed
	Now     func() time.Time // default time.Now
	Log     *slog.Logger     // default slog.Default()
	Metrics Metrics          // nil: not counted
	// Wake, when it receives, makes Run send at once (Notifier.Wake).
	Wake <-chan struct{}
	// Jitter returns a random duration in [0, max]; tests make it fixed.
	Jitter func(max time.Duration) time.Duration
	// Poll is how often Run looks for due events; default 1s.
	Poll time.Duration
}

// Sender delivers queued events to the configured URL. Every replica
// runs one; the outbox's leases keep them from sending one event
// concurrently.
type Sender struct {
	box     directory.Outbox
	url     string
	keys    [][]byte
	timeout time.Duration
	giveUp  time.Duration
	lease   time.Duration
	o       SenderOptions
}

// NewSender returns a Sender for cfg, which must have passed Validate.
func NewSender(box directory.Outbox, cfg Config, o SenderOptions) (*Sender, error) {
	if cfg.URLParsed == nil || cfg.keys == nil {
		return nil, errors.New("webhook: configuration not validated")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	o.Log = o.Log.With("component", "webhook")
	if o.Jitter == nil {
		o.Jitter = func(max time.Duration) time.Duration { return rand.N(max + 1) }
	}
	if o.Poll == 0 {
		o.Poll = pollInterval
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: cfg.Timeout,
			// A redirect is not a delivery: following one would send the
			// signed event somewhere the operator did not configure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Sender{box: box, url: cfg.URLParsed.String(), keys: cfg.keys.k, timeout: cfg.Timeout, giveUp: cfg.GiveUpAfter,
		// A batch is sent one event after the other; the lease outlasts
		// the slowest batch, so no other sender takes an event in flight.
		lease: batchSize*(cfg.Timeout+time.Second) + 30*time.Second, o: o}, nil
}

// Run sends due events until ctx ends: at every poll, and at once when
// woken.
func (s *Sender) Run(ctx context.Context) {
	tick := time.NewTicker(s.o.Poll)
	defer tick.Stop()
	var lastQueue, lastPurge time.Time
	for {
		if _, err := s.Drain(ctx); err != nil && ctx.Err() == nil {
			s.o.Log.WarnContext(ctx, "webhook queue unreadable; retrying", "error", err)
		}
		if now := time.Now(); now.Sub(lastQueue) >= queueEvery {
			lastQueue = now
			s.reportQueue(ctx)
		}
		if now := time.Now(); now.Sub(lastPurge) >= time.Hour {
			lastPurge = now
			if n, err := s.box.PurgeWebhooks(ctx, s.o.Now().Add(-purgeAfter)); err == nil && n > 0 {
				s.o.Log.InfoContext(ctx, "failed webhook events older than 30 days deleted", "events", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.o.Wake:
		}
	}
}

// Drain sends every event due now, a batch at a time, and reports how
// many were delivered. It stops at the first queue error.
func (s *Sender) Drain(ctx context.Context) (int, error) {
	delivered := 0
	for ctx.Err() == nil {
		batch, err := s.box.ClaimWebhooks(ctx, s.o.Now(), s.lease, batchSize)
		if err != nil || len(batch) == 0 {
			return delivered, err
		}
		for _, e := range batch {
			if s.deliver(ctx, e) {
				delivered++
			}
		}
	}
	return delivered, nil
}

func (s *Sender) reportQueue(ctx context.Context) {
	if s.o.Metrics == nil {
		return
	}
	if pending, failed, err := s.box.WebhookQueue(ctx); err == nil {
		s.o.Metrics.WebhookQueue(pending, failed)
	}
}

func (s *Sender) count(result string) {
	if s.o.Metrics != nil {
		s.o.Metrics.WebhookResult(result)
	}
}

// deliver makes one attempt and records its outcome; it reports whether
// the receiver took the event.
func (s *Sender) deliver(ctx context.Context, e directory.WebhookEvent) bool {
	retryAfter, err := s.post(ctx, e)
	// The outcome is written even when ctx ended during the attempt
	// (shutdown): the event is then due again at once, for whoever is
	// still running, rather than when the lease runs out.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	log := s.o.Log.With("event_id", e.ID, "type", e.Type, "attempt", e.Attempts+1)
	if err == nil {
		if err := s.box.CompleteWebhook(wctx, e.ID); err != nil {
			// Delivered, but still queued: it will be sent again, and the
			// receiver drops the duplicate by its id.
			log.WarnContext(ctx, "webhook delivered but not removed from the queue", "error", err)
		}
		s.count(ResultDelivered)
		return true
	}
	now := s.o.Now()
	msg := truncate(err.Error(), maxError)
	if ctx.Err() != nil {
		s.box.RetryWebhook(wctx, e.ID, e.Claim, now, "interrupted by shutdown")
		return false
	}
	// An event an operator re-queued is retried for give_up_after again,
	// counted from the re-queue.
	since := e.Created
	if e.Requeued.After(since) {
		since = e.Requeued
	}
	if now.Sub(since) >= s.giveUp {
		if ferr := s.box.FailWebhook(wctx, e.ID, e.Claim, now, msg); ferr != nil && !errors.Is(ferr, directory.ErrNotFound) {
			log.WarnContext(ctx, "record failed webhook", "error", ferr)
		}
		log.ErrorContext(ctx, "webhook event given up after give_up_after; kept as failed in webhook_outbox", "error", msg,
			"give_up_after", s.giveUp.String())
		s.count(ResultFailed)
		return false
	}
	delay := s.backoff(e.Attempts + 1)
	if retryAfter > delay {
		delay = min(retryAfter, MaxBackoff)
	}
	if rerr := s.box.RetryWebhook(wctx, e.ID, e.Claim, now.Add(delay), msg); rerr != nil && !errors.Is(rerr, directory.ErrNotFound) {
		log.WarnContext(ctx, "schedule webhook retry", "error", rerr)
	}
	log.WarnContext(ctx, "webhook delivery failed; will retry", "error", msg, "retry_in", delay.String())
	s.count(ResultRetried)
	return false
}

// backoff is the delay after the nth failed attempt: BaseBackoff doubled
// n-1 times, capped at MaxBackoff, then jittered to between half and all
// of it.
func (s *Sender) backoff(n int) time.Duration {
	d := MaxBackoff
	if n < 32 {
		d = min(BaseBackoff<<(n-1), MaxBackoff)
	}
	return d/2 + s.o.Jitter(d/2)
}

// post sends the event once. A non-2xx answer is an error, with the
// Retry-After it asked for, if any.
func (s *Sender) post(ctx context.Context, e directory.WebhookEvent) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(e.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhook/1")
	Sign(req.Header, s.keys, e.ID, s.o.Now(), e.Body)
	resp, err := s.o.Client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may carry a token of the CRM's;
		// the cause alone is enough.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	var after time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		after = time.Duration(secs) * time.Second
	}
	return after, fmt.Errorf("status %d", resp.StatusCode)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
