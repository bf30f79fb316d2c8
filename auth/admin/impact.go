package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go4.org/netipx"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/session"
)

// SessionLister reads a user's live sessions (the session store), so a
// dry run can count the sessions a new lifetime would end.
type SessionLister interface {
	ListUser(ctx context.Context, userID string) ([]session.Record, error)
}

// WithSessions lets dry runs count sessions in the store; without it they
// say the count is unknown (the CLI, which reads no session store).
func (s *Service) WithSessions(l SessionLister) *Service {
	s.sessions = l
	return s
}

// Impact is what a new policy would do to people, worked out before it
// is stored.
type Impact struct {
	// NetworkLoss lists users refused, by the new allowlists, from an
	// address they logged in from in the last impactWindow (the old
	// policy allowed it). Tor and anonymizer rules need the live lists
	// and are left out.
	NetworkLoss []NetworkLoss `json:"network_loss"`
	// ForcedEnrolment lists users the new policy requires a second
	// factor of, who have none and were not required before: their next
	// login asks them to enrol.
	ForcedEnrolment []string `json:"forced_enrolment"`
	// SessionsEnding counts live sessions (browsers and devices) that
	// the new lifetimes end at their next request; -1 when the session
	// store was not read.
	SessionsEnding int `json:"sessions_ending"`
}

// NetworkLoss is one user and address a new policy refuses.
type NetworkLoss struct {
	Username string `json:"username"`
	Address  string `json:"address"`
	Rule     string `json:"rule"`
}

// impactWindow is how far back logins are read for the network check.
const impactWindow = 30 * 24 * time.Hour

// maxImpactEvents bounds the logins read for the network check.
const maxImpactEvents = 20000

// impact compares the policy in force with p.
// notCounted is an Impact nobody worked out: empty lists, sessions -1.
func notCounted() Impact {
	return Impact{NetworkLoss: []NetworkLoss{}, ForcedEnrolment: []string{}, SessionsEnding: -1}
}

func (s *Service) impact(ctx context.Context, old, p *policy.Policy) (Impact, error) {
	im := notCounted()
	users, err := s.dir.ListUsers(ctx)
	if err != nil {
		return im, err
	}
	byID := map[string]*directory.User{}
	for i := range users {
		u := &users[i]
		byID[u.ID] = u
		if u.Disabled {
			continue
		}
		in := policy.MFAInput{Role: u.Role, UserRequires: u.Require2FA}
		if !p.MFARequired(in) || old.MFARequired(in) {
			continue
		}
		switch has, err := s.hasFactor(ctx, u.ID); {
		case err != nil:
			return im, err
		case !has:
			im.ForcedEnrolment = append(im.ForcedEnrolment, u.Username)
		}
	}
	if im.NetworkLoss, err = s.networkLoss(ctx, old, p, byID); err != nil {
		return im, err
	}
	if s.sessions != nil {
		if im.SessionsEnding, err = s.sessionsEnding(ctx, old, p, users); err != nil {
			return im, err
		}
	}
	return im, nil
}

func (s *Service) networkLoss(ctx context.Context, old, p *policy.Policy, byID map[string]*directory.User) ([]NetworkLoss, error) {
	out := []NetworkLoss{}
	if slices.Equal(old.Network.Allow.CIDRs(), p.Network.Allow.CIDRs()) && equalRoleLists(old.Network.AllowRoles, p.Network.AllowRoles) {
		return out, nil // the allowlists' CIDRs did not change (descriptions admit no one)
	}
	logins, err := s.AuditAll(ctx, AuditFilter{Event: audit.LoginSuccess, Since: s.now().Add(-impactWindow)}, maxImpactEvents)
	if err != nil {
		var inv *InvalidError
		if errors.As(err, &inv) {
			return out, nil // no audit query in this directory
		}
		return nil, err
	}
	before, err := newAllowlists(old)
	if err != nil {
		return nil, err
	}
	after, err := newAllowlists(p)
	if err != nil {
		return nil, err
	}
	users := map[string]*netipx.IPSet{} // user id → their own list, built once
	seen := map[string]bool{}
	for _, e := range logins {
		u := byID[e.UserID]
		key := e.UserID + " " + e.ClientIP
		if u == nil || u.Disabled || seen[key] {
			continue
		}
		seen[key] = true
		addr, err := netip.ParseAddr(e.ClientIP)
		if err != nil {
			continue
		}
		own, ok := users[u.ID]
		if !ok {
			if own, err = policy.BuildSet(u.AllowList.CIDRs()); err != nil {
				return nil, fmt.Errorf("user %s: allowed CIDRs: %w", u.Username, err)
			}
			users[u.ID] = own
		}
		if before.decide(u.Role, own, addr).Allow {
			if v := after.decide(u.Role, own, addr); !v.Allow {
				out = append(out, NetworkLoss{Username: u.Username, Address: e.ClientIP, Rule: v.Rule})
			}
		}
	}
	slices.SortFunc(out, func(a, b NetworkLoss) int {
		return cmp.Or(strings.Compare(a.Username, b.Username), strings.Compare(a.Address, b.Address))
	})
	return out, nil
}

// equalRoleLists compares the role allowlists' CIDRs (descriptions
// admit no one).
func equalRoleLists(a, b map[string]policy.AllowList) bool {
	return maps.EqualFunc(a, b, func(x, y policy.AllowList) bool { return slices.Equal(x.CIDRs(), y.CIDRs()) })
}

// allowlists are one policy's organisation and role allowlists, built
// once for a whole impact scan rather than per login event.
type allowlists struct {
	org   *netipx.IPSet
	roles map[string]*netipx.IPSet
}

func newAllowlists(p *policy.Policy) (*allowlists, error) {
	org, err := policy.BuildSet(p.Network.Allow.CIDRs())
	if err != nil {
		return nil, err
	}
	a := &allowlists{org: org, roles: map[string]*netipx.IPSet{}}
	for role, l := range p.Network.AllowRoles {
		if a.roles[role], err = policy.BuildSet(l.CIDRs()); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// decide is the network decision for a known user's request from addr,
// allowlists only.
func (a *allowlists) decide(role string, own *netipx.IPSet, addr netip.Addr) policy.NetworkVerdict {
	return policy.DecideNetwork(policy.NetworkInput{Addr: addr, Known: true, Org: a.org, Role: a.roles[role], User: own, BlockTor: "off"})
}

// sessionsEnding counts live sessions the old lifetimes keep and the new
// ones end.
func (s *Service) sessionsEnding(ctx context.Context, old, p *policy.Policy, users []directory.User) (int, error) {
	if old.Session == p.Session {
		return 0, nil
	}
	now := s.now()
	was := session.Limits{Absolute: old.Session.AbsoluteLifetime, Idle: old.Session.IdleTimeout}
	will := session.Limits{Absolute: p.Session.AbsoluteLifetime, Idle: p.Session.IdleTimeout}
	n := 0
	for _, u := range users {
		recs, err := s.sessions.ListUser(ctx, u.ID)
		if err != nil {
			return -1, err
		}
		for _, r := range recs {
			if session.Check(r.Created, r.LastSeen, now, false, was) == "" && session.Check(r.Created, r.LastSeen, now, false, will) != "" {
				n++
			}
		}
	}
	return n, nil
}
