package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/token"
)

// selfDevices adapts the directory and the token service to the account
// page's device self-service (proxy/account.DeviceService).
type selfDevices struct {
	dir    directory.Devices
	tokens *token.Service
}

func (d selfDevices) UserDevices(ctx context.Context, userID string) ([]directory.Device, error) {
	return d.dir.UserDevices(ctx, userID)
}

// SignOut checks ownership itself because EndDevices trusts its caller:
// it would end the session of any device id it is given.
func (d selfDevices) SignOut(ctx context.Context, userID, deviceID, actor, ip string) error {
	devs, err := d.dir.UserDevices(ctx, userID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(devs, func(dev directory.Device) bool { return dev.ID == deviceID })
	if i < 0 {
		return fmt.Errorf("%w: no such device", directory.ErrNotFound)
	}
	// Ending it again would record a second reason over the first (and
	// audit a revocation that did not happen); the user's wish is met.
	if !devs[i].RevokedAt.IsZero() {
		return nil
	}
	return d.tokens.EndDevices(ctx, userID, []string{deviceID}, token.ReasonRevoked, actor, ip)
}
