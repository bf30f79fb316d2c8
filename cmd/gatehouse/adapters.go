package main

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/network"
	"github.com/gatehouse-auth/gatehouse/auth/password"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/auth/reset"
	"github.com/gatehouse-auth/gatehouse/auth/sms"
	"github.com/gatehouse-auth/gatehouse/proxy/account"
	"github.com/gatehouse-auth/gatehouse/proxy/console"
	"github.com/gatehouse-auth/gatehouse/proxy/login"
)

// passwordChanger gives the login pages' must-change step auth/admin's
// operation in the login package's terms (proxy/ sees no concrete auth
// package).
type passwordChanger struct{ ops *admin.Service }

func (p passwordChanger) ChangeOwnPassword(ctx context.Context, userID, pw string) error {
	err := p.ops.ChangeOwnPassword(ctx, userID, pw)
	var inv *admin.InvalidError
	switch {
	case errors.As(err, &inv):
		return &login.PasswordRefused{Reason: inv.Problems[0].Message}
	case errors.Is(err, admin.ErrNoUser), errors.Is(err, admin.ErrNoChangeOwed):
		return login.ErrNoChangeOwed
	}
	return err
}

// selfPasswords gives the account page auth/admin's own-password change
// in the account package's terms, and ends the user's other sessions
// (one audit event each, reason password_changed) once it is stored.
type selfPasswords struct {
	ops *admin.Service
	dir interface {
		UserByID(context.Context, string) (*directory.User, error)
	}
	endOthers func(ctx context.Context, userID, keep string) error
}

func (p selfPasswords) HasPassword(ctx context.Context, userID string) (bool, error) {
	u, err := p.dir.UserByID(ctx, userID)
	if err != nil {
		return false, err
	}
	return u.PasswordHash != "", nil
}

func (p selfPasswords) ChangePassword(ctx context.Context, userID, keep, pw string) error {
	err := p.ops.ChangePassword(ctx, userID, pw)
	var inv *admin.InvalidError
	switch {
	case errors.As(err, &inv):
		return &login.PasswordRefused{Reason: inv.Problems[0].Message}
	case errors.Is(err, admin.ErrChangedMeanwhile), errors.Is(err, admin.ErrNoUser), errors.Is(err, admin.ErrNoPassword):
		return account.ErrPasswordRace
	case err != nil:
		return err
	}
	return p.endOthers(ctx, userID, keep)
}

// texter gives auth/mfa an auth/sms sender in its terms.
type texter struct{ s sms.Sender }

func (t texter) Text(ctx context.Context, to, text string) error {
	return t.s.Send(ctx, sms.Message{To: to, Text: text})
}

// networkExplainer gives the admin API the running guard's explanation
// in the console package's terms.
type networkExplainer struct{ g *network.Guard }

func (n networkExplainer) Explain(addr netip.Addr, role, userID string, now time.Time) console.NetworkReport {
	r := n.g.Explain(addr, role, userID, now)
	return console.NetworkReport{
		Address: r.Addr.String(), Login: verdict(r.Login), Request: verdict(r.Request),
		PolicyVersion: r.PolicyVersion, BlockTor: r.BlockTor, BlockedAnonymous: flagNames(r.BlockedAnonymous),
		DenyListed: r.DenyListed, TorList: r.TorList, TorExit: r.Tor, AnonymousDB: r.AnonymousDB, Anonymous: flagNames(r.Anonymous),
		OrgAllowlist: r.OrgListed, RoleAllowlist: r.RoleListed, UserAllowlist: r.UserListed,
	}
}

func verdict(v policy.NetworkVerdict) console.Verdict {
	return console.Verdict{Allow: v.Allow, Rule: v.Rule, Detail: v.Detail}
}

func flagNames(f policy.AnonymousFlags) []string {
	out := []string{}
	for b := policy.AnonymousFlags(1); b != 0 && b <= f; b <<= 1 {
		if f&b != 0 {
			out = append(out, b.Name())
		}
	}
	return out
}

// resetPasswords lets auth/reset set the password through auth/admin,
// with admin's stale-link refusal in reset's terms.
type resetPasswords struct{ ops *admin.Service }

func (p resetPasswords) ResetPassword(ctx context.Context, userID string, stamp int64, pw string) error {
	err := p.ops.ResetPassword(ctx, userID, stamp, pw)
	if errors.Is(err, admin.ErrStaleReset) {
		return reset.ErrInvalidLink
	}
	return err
}

// resets gives the login pages auth/reset in the login package's terms.
type resets struct{ svc *reset.Service }

func (x resets) RequestReset(ctx context.Context, identifier, network string) error {
	err := x.svc.Request(ctx, identifier, network)
	if errors.Is(err, reset.ErrTooMany) {
		return login.ErrTooManyResets
	}
	return err
}

func (x resets) CheckReset(ctx context.Context, token string) (login.ResetAccount, error) {
	l, err := x.svc.Check(ctx, token)
	if errors.Is(err, reset.ErrInvalidLink) {
		return login.ResetAccount{}, login.ErrResetLink
	}
	if err != nil {
		return login.ResetAccount{}, err
	}
	return login.ResetAccount{UserID: l.User.ID, Username: l.User.Username, Role: l.User.Role, Require2FA: l.User.Require2FA, LinkID: l.ID()}, nil
}

func (x resets) CheckNewPassword(pw string) error {
	if err := password.CheckNew(pw); err != nil {
		return &login.PasswordRefused{Reason: err.Error()}
	}
	return nil
}

func (x resets) CompleteReset(ctx context.Context, token, pw string) error {
	l, err := x.svc.Check(ctx, token)
	if err == nil {
		err = x.svc.Complete(ctx, l, pw)
	}
	var inv *admin.InvalidError
	switch {
	case errors.Is(err, reset.ErrInvalidLink):
		return login.ErrResetLink
	case errors.As(err, &inv):
		return &login.PasswordRefused{Reason: inv.Problems[0].Message}
	}
	if err != nil && password.CheckNew(pw) != nil {
		return x.CheckNewPassword(pw)
	}
	return err
}
