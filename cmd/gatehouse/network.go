package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
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
		if len(u.AllowList) > 0 {
			g.SetUserLists(map[string][]string{u.ID: u.AllowList.CIDRs()})
		}
		fmt.Fprintf(e.stdout, "user:             %s (role %s)\n", u.Username, u.Role)
	}
	_, err = g.Explain(addr, role, userID, a.now()).WriteTo(e.stdout)
	return err
}

// allowIPsUsage is user allow-ips' syntax, in the usage and its --help.
const allowIPsUsage = `user allow-ips U CIDR[=DESCRIPTION]... | user allow-ips U --clear`

// userAllowIPs sets or clears a user's own network allowlist. Each
// argument is a CIDR or address, optionally followed by "=" and what it
// is: "10.1.0.0/16=Bangalore office" (quoted for the shell).
func userAllowIPs(ctx context.Context, e *env, args []string) error {
	var clearList *bool
	a, svc, username, specs, err := oneUser(ctx, e, "user allow-ips", args, func(fs *flag.FlagSet) {
		clearList = fs.Bool("clear", false, "remove the user's allowlist (no per-user restriction)")
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "usage: gatehouse %s\n\n"+
				"Replaces the user's own network allowlist. Each entry is a CIDR or an address,\n"+
				"optionally followed by = and a description of at most 200 characters:\n"+
				"  gatehouse user allow-ips alice \"10.1.0.0/16=Bangalore office\" 192.0.2.7\n\n", allowIPsUsage)
			fs.PrintDefaults()
		}
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if *clearList == (len(specs) > 0) {
		return fmt.Errorf("%w: %s", errUsage, allowIPsUsage)
	}
	var list directory.AllowList
	for _, spec := range specs {
		cidr, desc, _ := strings.Cut(spec, "=")
		list = append(list, directory.AllowEntry{CIDR: cidr, Description: desc})
	}
	u, clean, err := svc.SetAllowedIPs(ctx, cliActor(e), username, list)
	if err != nil {
		return cliError(err, username)
	}
	if len(clean) == 0 {
		fmt.Fprintf(e.stdout, "%s may connect from any address the policy allows\n", u.Username)
	} else {
		fmt.Fprintf(e.stdout, "%s may connect only from %s; running gateways apply it within a few seconds, to existing sessions too\n", u.Username, allowListText(clean))
	}
	return nil
}

// allowListText writes a user's allowlist on one line for a terminal:
// "10.1.0.0/16 (Bangalore office), 192.0.2.7/32".
func allowListText(l directory.AllowList) string {
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = e.CIDR
		if e.Description != "" {
			out[i] += " (" + termSafe(e.Description) + ")"
		}
	}
	return strings.Join(out, ", ")
}
