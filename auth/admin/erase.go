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
func (s *Service) EraseUser(ctx context.Context, actor, username string) (Erasure, error) {
	u, err := s.DeleteUser(ctx, actor, username)
	if err != nil {
		return Erasure{}, err
	}
	e := Erasure{Pseudonym: "erased:" + rand.Text()[:12]}
	e.Events, err = s.dir.PseudonymizeAudit(ctx, u.ID, e.Pseudonym, []string{u.Username, u.Email})
	if err != nil {
		return e, fmt.Errorf("user %s (id %s) is deleted, but the directory refused to rewrite their audit events, which still name them: %w", u.Username, u.ID, err)
	}
	s.audit.Record(ctx, audit.Event{Event: audit.UserErased, Actor: actor, UserID: e.Pseudonym,
		Detail: map[string]string{"events": strconv.FormatInt(e.Events, 10)}})
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
