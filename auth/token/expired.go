package token

import (
	"context"
	"errors"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/session"
)

// recordExpired audits a device login the policy's idle timeout or
// absolute lifetime ended, found when the app next came (an access token
// or a refresh): the session_expired event a browser session's end gets,
// naming the device.
func (s *Service) recordExpired(ctx context.Context, err error) {
	var e *session.ExpiredError
	if errors.As(err, &e) && e.UserID != "" && !e.Again {
		s.o.Audit.Record(ctx, audit.Event{Event: audit.SessionExpired, UserID: e.UserID,
			Detail: map[string]string{"reason": string(e.Reason), "device": e.ID}})
	}
}
