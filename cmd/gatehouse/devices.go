package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
)

const deviceUse = `device list U | device revoke U DEVICE... | device revoke U --all`

// cmdDevice lists and signs out a user's mobile devices. Revocation goes
// through the directory, so it reaches every gateway whatever the session
// store (the gateways end the devices' sessions within a second).
func cmdDevice(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, deviceUse)
	}
	fs, cfgPath := e.flags("device " + args[0])
	all := fs.Bool("all", false, "every device of the user")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case args[0] == "list" && len(pos) != 1,
		args[0] == "revoke" && (len(pos) < 1 || *all == (len(pos) > 1)),
		args[0] != "list" && args[0] != "revoke":
		return fmt.Errorf("%w: %s", errUsage, deviceUse)
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	if args[0] == "list" {
		_, devs, err := svc.Devices(ctx, pos[0])
		if err != nil {
			return cliError(err, pos[0])
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DEVICE\tCLIENT\tFIRST SEEN\tLAST SEEN\tLAST ADDRESS\tUSER AGENT\tSTATE")
		for _, d := range devs {
			state := "signed in"
			if !d.RevokedAt.IsZero() {
				state = "signed out " + d.RevokedAt.Format(time.DateTime) + " (" + d.RevokeReason + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.ClientID, d.FirstSeen.Format(time.DateTime),
				d.LastSeen.Format(time.DateTime), d.LastIP, d.UserAgent, state)
		}
		return tw.Flush()
	}
	var ids []string
	if !*all {
		ids = pos[1:]
	}
	_, done, err := svc.RevokeDevices(ctx, cliActor(e), pos[0], ids)
	if errors.Is(err, admin.ErrNoDevice) {
		return fmt.Errorf("%s has no such device (see: gatehouse device list %s)", pos[0], pos[0])
	}
	if err != nil {
		return cliError(err, pos[0])
	}
	if len(done) == 0 {
		fmt.Fprintf(e.stdout, "nothing to sign out: %s has no such device signed in\n", pos[0])
		return nil
	}
	for _, id := range done {
		fmt.Fprintf(e.stdout, "device %s signed out; every gateway refuses its tokens within a second\n", id)
	}
	return nil
}
