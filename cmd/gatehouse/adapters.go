package main

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/network"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
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
