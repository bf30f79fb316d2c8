package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
)

const webhookUse = `webhook list [--failed] [--limit N] | webhook retry ID`

// webhookListLimit is list's default --limit: a screenful.
const webhookListLimit = 50

// cmdWebhook shows the queue of session-end events for the CRM
// (docs/webhooks.md) and re-queues one given up. Nothing it prints is
// secret: the queue holds no signing secret, events are signed as sent.
func cmdWebhook(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, webhookUse)
	}
	fs, cfgPath := e.flags("webhook " + args[0])
	failed := fs.Bool("failed", false, "only the events given up after upstream_notify.give_up_after")
	limit := fs.Int("limit", webhookListLimit, "at most N events, newest first")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case args[0] == "list" && len(pos) != 0,
		args[0] == "retry" && (len(pos) != 1 || flagSet(fs, "failed") || flagSet(fs, "limit")),
		args[0] != "list" && args[0] != "retry":
		return fmt.Errorf("%w: %s", errUsage, webhookUse)
	case *limit <= 0:
		return fmt.Errorf("%w: --limit: must be a positive number of events, not %d", errUsage, *limit)
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	if args[0] == "list" {
		return webhookList(ctx, e, svc, *failed, *limit)
	}
	r, err := svc.RequeueWebhook(ctx, cliActor(e), pos[0])
	switch {
	case errors.Is(err, admin.ErrNoWebhook):
		return fmt.Errorf("no webhook event %q in the queue: delivered, purged 30 days after it failed, or never queued (see gatehouse webhook list)", pos[0])
	case errors.Is(err, admin.ErrWebhookPending):
		return fmt.Errorf("webhook event %s has not failed: it is still queued and retried on its own (see gatehouse webhook list)", r.ID)
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "webhook event %s (%s of %s) re-queued under the same id; a gateway sending webhooks tries it within a second, for up to give_up_after again\n",
		r.ID, r.Type, termSafe(webhookUser(r)))
	if !a.cfg.UpstreamNotify.Enabled() {
		fmt.Fprintln(e.stderr, "note: upstream_notify.url is not set in this configuration; only gateways that set it send events")
	}
	return nil
}

// webhookList prints the queue, newest first; a note on stderr says
// when --limit cut it short.
func webhookList(ctx context.Context, e *env, svc *admin.Service, failed bool, limit int) error {
	// One event more than asked tells whether --limit cut the list.
	rs, err := svc.Webhooks(ctx, admin.WebhookFilter{Failed: failed, Limit: limit + 1})
	if err != nil {
		return err
	}
	more := len(rs) > limit
	rs = rs[:min(len(rs), limit)]
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tUSER\tCREATED\tATTEMPTS\tSTATUS\tLAST ERROR")
	for _, r := range rs {
		status := "pending, next " + r.NextAttempt.Format(time.DateTime)
		if r.Status == admin.WebhookFailed {
			status = "failed " + r.FailedAt.Format(time.DateTime)
		}
		if !r.Requeued.IsZero() {
			status += ", re-queued " + r.Requeued.Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", termSafe(r.ID), termSafe(r.Type), termSafe(webhookUser(r)),
			r.Queued.Format(time.DateTime), strconv.Itoa(r.Attempts), status, termSafe(r.LastError))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if more {
		fmt.Fprintf(e.stderr, "showing the newest %d events; there are more (raise --limit)\n", limit)
	}
	return nil
}

// webhookUser names the event's user: the username the payload carries,
// else the user id (an erased user's pseudonym, or a user who could not
// be read when the event was queued).
func webhookUser(r admin.WebhookRecord) string {
	if u := r.Payload.User; u.Username != "" {
		return u.Username
	}
	return r.Payload.User.ID
}
