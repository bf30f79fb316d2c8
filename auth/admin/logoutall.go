package admin

import (
	"context"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
)

// LogoutAllResult says what "log out everyone" ended.
type LogoutAllResult struct {
	Users   int // users whose sessions and devices end
	APIKeys int // keys revoked (only when asked)
}

// LogoutAll ends every user's sessions and mobile devices on every
// replica (the product's "Force Logout All Users", for a suspected
// compromise), and with includeKeys revokes every live API key too. It is
// a revocation per user through the directory, the path `user logout`
// takes, so it reaches every gateway whatever the session store; the
// acting admin is logged out as well and logs in again.
func (s *Service) LogoutAll(ctx context.Context, actor string, includeKeys bool) (LogoutAllResult, error) {
	var res LogoutAllResult
	users, err := s.dir.ListUsers(ctx)
	if err != nil {
		return res, err
	}
	for _, u := range users {
		if _, err := s.dir.RevokeUserSessions(ctx, u.ID); err != nil {
			return res, fmt.Errorf("log out %s: %w", u.Username, err)
		}
		res.Users++
		if !u.Disabled {
			// One event per user, as `user logout` records: the user's
			// own history shows it, and the upstream's webhook is told
			// whose sessions ended (auth/webhook).
			s.audit.Record(ctx, audit.Event{Event: audit.SessionRevoked, Actor: actor, UserID: u.ID,
				Detail: map[string]string{"reason": "logout_all"}})
		}
	}
	if includeKeys {
		keys, err := s.dir.ListAPIKeys(ctx, "")
		if err != nil {
			return res, err
		}
		now := s.now()
		for _, k := range keys {
			if !k.RevokedAt.IsZero() {
				continue
			}
			if err := s.dir.RevokeAPIKey(ctx, k.ID, now); err != nil {
				return res, fmt.Errorf("revoke API key %s: %w", k.ID, err)
			}
			res.APIKeys++
		}
	}
	s.audit.Record(ctx, audit.Event{Event: audit.LogoutAll, Actor: actor,
		Detail: map[string]string{"users": fmt.Sprint(res.Users), "api_keys": fmt.Sprint(res.APIKeys), "include_api_keys": fmt.Sprint(includeKeys)}})
	return res, nil
}

// Record audits an event through the service's recorder: the admin API's
// own events (each call, each refusal) land where the operations' do.
func (s *Service) Record(ctx context.Context, e audit.Event) { s.audit.Record(ctx, e) }
