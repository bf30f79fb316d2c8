package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gatehouse-auth/gatehouse/configs/preflight"
	"github.com/gatehouse-auth/gatehouse/session/redis"
)

// cmdCheckConfig runs serve's start-up validation (configs/preflight)
// and, unless --offline, asks the servers the configuration names. It
// creates and writes nothing; "configuration ok" means serve would start
// on this configuration.
func cmdCheckConfig(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("check-config")
	offline := fs.Bool("offline", false, "leave the network out: no Redis or PostgreSQL ping, no OIDC discovery, no SAML metadata or Tor list URL fetched")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if !*offline {
		// A Redis that does not answer is reported once, with its key;
		// the client's own log lines would only repeat it.
		redis.SetLogger(slog.New(slog.DiscardHandler))
	}
	res, err := preflight.Check(ctx, *cfgPath, e.vars, preflight.Options{Online: !*offline})
	if res.Valid {
		for _, w := range res.Config.Warnings() {
			fmt.Fprintln(e.stdout, "warning:", w)
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintln(e.stdout, "note:", n)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "configuration ok")
	return nil
}

// startupCheck is check-config's validation as serve runs it, before
// anything listens: offline, so a store that is down does not stop the
// start (the gateway starts unready), and every file refused here is one
// check-config refuses too.
func startupCheck(ctx context.Context, e *env, path string) error {
	_, err := preflight.Check(ctx, path, e.vars, preflight.Options{})
	return err
}
