package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// ErrNoDevice means the user has no device with the given id.
var ErrNoDevice = errors.New("admin: no such device")

// ReasonAdmin is the revoke reason of a device an admin signed out.
const ReasonAdmin = "revoked"

// Devices lists the user's mobile devices, newest first, live and
// revoked.
func (s *Service) Devices(ctx context.Context, username string) (*directory.User, []directory.Device, error) {
	u, err := s.User(ctx, username)
	if err != nil {
		return nil, nil, err
	}
	d, err := s.dir.UserDevices(ctx, u.ID)
	return u, d, err
}

// RevokeDevices signs out the user's devices ids (nil: every live one).
// The directory tells every gateway, which ends the devices' sessions
// within a second; it reports the ids revoked now. An id that is not the
// user's is ErrNoDevice, so nothing is revoked by a typo.
func (s *Service) RevokeDevices(ctx context.Context, actor, username string, ids []string) (*directory.User, []string, error) {
	u, devs, err := s.Devices(ctx, username)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		if !slices.ContainsFunc(devs, func(d directory.Device) bool { return d.ID == id }) {
			return u, nil, fmt.Errorf("%w: %q", ErrNoDevice, id)
		}
	}
	done, err := s.dir.RevokeDevices(ctx, u.ID, ids, s.now(), ReasonAdmin)
	if err != nil {
		return u, nil, err
	}
	for _, id := range done {
		s.audit.Record(ctx, audit.Event{Event: audit.DeviceRevoked, Actor: actor, UserID: u.ID, Detail: map[string]string{"device": id, "reason": ReasonAdmin}})
	}
	return u, done, nil
}
