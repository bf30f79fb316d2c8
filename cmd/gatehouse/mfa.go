package main

import (
	"context"
	"fmt"
)

// userLogout ends every session of a user on every replica (ASVS 7.4.5).
func userLogout(ctx context.Context, e *env, args []string) error {
	a, svc, username, rest, err := oneUser(ctx, e, "user logout", args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 0 {
		return fmt.Errorf("%w: user logout USERNAME", errUsage)
	}
	u, err := svc.Logout(ctx, cliActor(e), username)
	if err != nil {
		return cliError(err, username)
	}
	fmt.Fprintf(e.stdout, "every session of %s ends within a few seconds\n", u.Username)
	return nil
}

// userReset2FA removes the user's factor and recovery codes, forgets
// their remembered devices and ends their sessions: what an admin does
// when a phone is lost.
func userReset2FA(ctx context.Context, e *env, args []string) error {
	a, svc, username, rest, err := oneUser(ctx, e, "user reset-2fa", args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 0 {
		return fmt.Errorf("%w: user reset-2fa USERNAME", errUsage)
	}
	u, err := svc.Reset2FA(ctx, cliActor(e), username)
	if err != nil {
		return cliError(err, username)
	}
	fmt.Fprintf(e.stdout, "two-factor authentication of %s reset; their sessions end within a few seconds and they enrol again at next login if policy requires it\n", u.Username)
	return nil
}

// userRequire2FA sets the per-user 2FA mandate; turning it on ends the
// user's sessions, so the next login asks for the factor.
func userRequire2FA(ctx context.Context, e *env, args []string) error {
	a, svc, username, rest, err := oneUser(ctx, e, "user require-2fa", args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 1 || (rest[0] != "on" && rest[0] != "off") {
		return fmt.Errorf("%w: user require-2fa USERNAME on|off", errUsage)
	}
	u, err := svc.Require2FA(ctx, cliActor(e), username, rest[0] == "on")
	if err != nil {
		return cliError(err, username)
	}
	when := "applies at their next login"
	if rest[0] == "on" {
		when = "their sessions end within a few seconds, and their next login asks for it"
	}
	fmt.Fprintf(e.stdout, "2FA for %s: required %s (%s)\n", u.Username, rest[0], when)
	return nil
}
