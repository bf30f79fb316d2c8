package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/network"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// cmdCheckIP prints what the network guard decides for an address and
// why: the tool for "I can't log in".
func cmdCheckIP(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("check-ip")
	username := fs.String("user", "", "also apply this user's role and own allowlist")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: check-ip ADDR [--user U]", errUsage)
	}
	addr, err := netip.ParseAddr(pos[0])
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address", errUsage, pos[0])
	}
	a, err := openApp(ctx, e, *cfgPath, false, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	g, err := network.New(ctx, a.cfg.Network, a.log, &http.Client{Timeout: 30 * time.Second}, a.now)
	if err != nil {
		return err
	}
	defer g.Close()
	pv, err := a.dir.CurrentPolicy(ctx)
	if err != nil {
		return fmt.Errorf("read the login policy: %w", err)
	}
	p, err := policy.Parse(pv.Document)
	if err != nil {
		return err
	}
	if err := g.SetPolicy(&policy.Versioned{Policy: p, Version: pv.Version}); err != nil {
		return err
	}
	var role, userID string
	if *username != "" {
		u, err := a.dir.UserByUsername(ctx, *username)
		if errors.Is(err, directory.ErrNotFound) {
			return fmt.Errorf("no user %q", *username)
		}
		if err != nil {
			return err
		}
		role, userID = u.Role, u.ID
		if len(u.AllowedCIDRs) > 0 {
			g.SetUserLists(map[string][]string{u.ID: u.AllowedCIDRs})
		}
		fmt.Fprintf(e.stdout, "user:             %s (role %s)\n", u.Username, u.Role)
	}
	_, err = g.Explain(addr, role, userID, a.now()).WriteTo(e.stdout)
	return err
}

// userAllowIPs sets or clears a user's own network allowlist.
func userAllowIPs(ctx context.Context, e *env, args []string) error {
	var clearList *bool
	a, svc, username, cidrs, err := oneUser(ctx, e, "user allow-ips", args, func(fs *flag.FlagSet) {
		clearList = fs.Bool("clear", false, "remove the user's allowlist (no per-user restriction)")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if *clearList == (len(cidrs) > 0) {
		return fmt.Errorf("%w: user allow-ips USERNAME CIDR... | user allow-ips USERNAME --clear", errUsage)
	}
	u, clean, err := svc.SetAllowedIPs(ctx, cliActor(e), username, cidrs)
	if err != nil {
		return cliError(err, username)
	}
	if len(clean) == 0 {
		fmt.Fprintf(e.stdout, "%s may connect from any address the policy allows\n", u.Username)
	} else {
		fmt.Fprintf(e.stdout, "%s may connect only from %v; running gateways apply it within a few seconds, to existing sessions too\n", u.Username, clean)
	}
	return nil
}
