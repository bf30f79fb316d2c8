package main

import (
	"context"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// oneUser parses "CMD USERNAME [flags]" and opens the stores.
func oneUser(ctx context.Context, e *env, name string, args []string) (*app, *directory.User, []string, error) {
	fs, cfgPath := e.flags(name)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(pos) < 1 {
		return nil, nil, nil, fmt.Errorf("%w: %s USERNAME", errUsage, name)
	}
	a, err := openApp(ctx, e, *cfgPath, false, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	u, err := lookupUser(ctx, a, pos[0])
	if err != nil {
		a.Close()
		return nil, nil, nil, err
	}
	return a, u, pos[1:], nil
}

// userLogout ends every session of a user on every replica (ASVS 7.4.5).
func userLogout(ctx context.Context, e *env, args []string) error {
	a, u, rest, err := oneUser(ctx, e, "user logout", args)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 0 {
		return fmt.Errorf("%w: user logout USERNAME", errUsage)
	}
	revokeNow(ctx, e, a, u.ID)
	fmt.Fprintf(e.stdout, "every session of %s ends within a few seconds\n", u.Username)
	return nil
}

// userReset2FA removes the user's factor and recovery codes, forgets
// their remembered devices and ends their sessions: what an admin does
// when a phone is lost.
func userReset2FA(ctx context.Context, e *env, args []string) error {
	a, u, rest, err := oneUser(ctx, e, "user reset-2fa", args)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 0 {
		return fmt.Errorf("%w: user reset-2fa USERNAME", errUsage)
	}
	if err := a.dir.RemoveTOTP(ctx, u.ID); err != nil {
		return err
	}
	if _, err := a.dir.BumpSecurityStamp(ctx, u.ID); err != nil {
		return err
	}
	revokeNow(ctx, e, a, u.ID)
	a.audit.Record(ctx, directory.AuditEvent{Event: audit.MFAReset, Actor: cliActor(e), UserID: u.ID})
	fmt.Fprintf(e.stdout, "two-factor authentication of %s reset; their sessions end within a few seconds and they enrol again at next login if policy requires it\n", u.Username)
	return nil
}

// userRequire2FA sets the per-user 2FA mandate.
func userRequire2FA(ctx context.Context, e *env, args []string) error {
	a, u, rest, err := oneUser(ctx, e, "user require-2fa", args)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 1 || (rest[0] != "on" && rest[0] != "off") {
		return fmt.Errorf("%w: user require-2fa USERNAME on|off", errUsage)
	}
	u.Require2FA = rest[0] == "on"
	if err := a.dir.UpdateUser(ctx, u); err != nil {
		return err
	}
	a.audit.Record(ctx, directory.AuditEvent{Event: audit.MFARequirement, Actor: cliActor(e), UserID: u.ID,
		Detail: map[string]string{"required": rest[0]}})
	fmt.Fprintf(e.stdout, "2FA for %s: required %s (applies at their next login)\n", u.Username, rest[0])
	return nil
}
