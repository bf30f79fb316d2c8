package admin

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
)

// Erasure is what EraseUser did.
type Erasure struct {
	// Pseudonym replaces the user in the audit events kept: random, with
	// no mapping stored, so the log says that one (erased) person did
	// these things and never again who.
	Pseudonym string
	// Events is how many audit events were rewritten.
	Events int64
	// Webhooks is how many events queued for the CRM were rewritten.
	Webhooks int64
}

// EraseUser is the data-protection erasure: the user and everything of
// theirs the gateway holds (profile, factors, recovery codes, API keys,
// devices, group memberships, federated links, sessions on every
// gateway) go, as DeleteUser; their audit events stay — what happened
// and which admin did it — but no longer name them (user id, username
// and email as actor or detail, client addresses). The erasure itself is
// recorded under the pseudonym. Events appended after it (a session's
// revocation applied late by another replica) may still carry the old
// user id, which then leads to nobody: the user row is gone.
//
// The user's events queued for the CRM (auth/webhook) are kept and
// pseudonymized the same way, not deleted: user.id becomes the same
// pseudonym and the username is left out (as in an event whose user
// could not be read), while the event id, type, time, session, device
// and reason stay, as they stay in the audit log. A pending event is
// then still delivered, and one naming a session still tells the CRM
// which of its sessions ended — deleting it would leave that session
// live in the CRM for nobody's benefit. A failed one stays for the
// operator until it is purged. What the CRM can no longer do is tell
// whose sessions they were, including for the revocation DeleteUser
// itself just queued: by erasure the gateway stops telling anyone who
// the user was, and the CRM's own copy of the user is the CRM's to
// erase.
func (s *Service) EraseUser(ctx context.Context, actor, username string) (Erasure, error) {
	u, err := s.DeleteUser(ctx, actor, username)
	if err != nil {
		return Erasure{}, err
	}
	e := Erasure{Pseudonym: "erased:" + rand.Text()[:12]}
	names := []string{u.Username, u.Email}
	e.Events, err = s.dir.PseudonymizeAudit(ctx, u.ID, e.Pseudonym, names)
	if err != nil {
		return e, fmt.Errorf("user %s (id %s) is deleted, but the directory refused to rewrite their audit events, which still name them: %w", u.Username, u.ID, err)
	}
	e.Webhooks, err = s.dir.PseudonymizeWebhooks(ctx, u.ID, e.Pseudonym, names)
	if err != nil {
		return e, fmt.Errorf("user %s (id %s) is deleted and their audit events rewritten, but the directory refused to rewrite the events queued for the CRM, which still name them: %w", u.Username, u.ID, err)
	}
	s.audit.Record(ctx, audit.Event{Event: audit.UserErased, Actor: actor, UserID: e.Pseudonym,
		Detail: map[string]string{"events": strconv.FormatInt(e.Events, 10), "webhook_events": strconv.FormatInt(e.Webhooks, 10)}})
	return e, nil
}

// PruneAudit deletes the audit events older than retention (0: keep
// everything) and returns how many went. Login history is read from the
// audit log, so it ages out with it.
func (s *Service) PruneAudit(ctx context.Context, retention time.Duration) (int64, error) {
	if retention <= 0 {
		return 0, nil
	}
	return s.dir.DeleteAuditBefore(ctx, s.now().Add(-retention))
}
