package admin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

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
		if _, err := s.dir.TOTP(ctx, u.ID); errors.Is(err, directory.ErrNotFound) {
			im.ForcedEnrolment = append(im.ForcedEnrolment, u.Username)
		} else if err != nil {
			return im, err
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
		before, err1 := decideAllowlists(old, u, addr)
		after, err2 := decideAllowlists(p, u, addr)
		if err1 != nil || err2 != nil {
			return nil, errors.Join(err1, err2)
		}
		if before.Allow && !after.Allow {
			out = append(out, NetworkLoss{Username: u.Username, Address: e.ClientIP, Rule: after.Rule})
		}
	}
	slices.SortFunc(out, func(a, b NetworkLoss) int {
		if a.Username != b.Username {
			return compare(a.Username, b.Username)
		}
		return compare(a.Address, b.Address)
	})
	return out, nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func equalRoleLists(a, b map[string]policy.AllowList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v.CIDRs(), b[k].CIDRs()) {
			return false
		}
	}
	return true
}

// decideAllowlists is the network decision for a known user's request
// from addr, allowlists only.
func decideAllowlists(p *policy.Policy, u *directory.User, addr netip.Addr) (policy.NetworkVerdict, error) {
	org, err := policy.BuildSet(p.Network.Allow.CIDRs())
	if err != nil {
		return policy.NetworkVerdict{}, err
	}
	role, err := policy.BuildSet(p.Network.AllowRoles[u.Role].CIDRs())
	if err != nil {
		return policy.NetworkVerdict{}, err
	}
	user, err := policy.BuildSet(u.AllowList.CIDRs())
	if err != nil {
		return policy.NetworkVerdict{}, fmt.Errorf("user %s: allowed CIDRs: %w", u.Username, err)
	}
	return policy.DecideNetwork(policy.NetworkInput{Addr: addr, Known: true, Org: org, Role: role, User: user, BlockTor: "off"}), nil
}

// sessionsEnding counts live sessions the old lifetimes keep and the new
// ones end.
func (s *Service) sessionsEnding(ctx context.Context, old, p *policy.Policy, users []directory.User) (int, error) {
	if old.Session == p.Session {
		return 0, nil
	}
	now := s.now()
	lim := func(q *policy.Policy) session.Limits {
		return session.Limits{Absolute: q.Session.AbsoluteLifetime, Idle: q.Session.IdleTimeout}
	}
	n := 0
	for _, u := range users {
		recs, err := s.sessions.ListUser(ctx, u.ID)
		if err != nil {
			return -1, err
		}
		for _, r := range recs {
			if session.Check(r.Created, r.LastSeen, now, false, lim(old)) == "" && session.Check(r.Created, r.LastSeen, now, false, lim(p)) != "" {
				n++
			}
		}
	}
	return n, nil
}
