package network

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"go4.org/netipx"
)

// Report is what `gatehouse check-ip` prints: the facts the guard found
// for an address and the decisions for a login and a request.
type Report struct {
	Addr             netip.Addr
	DenyListed       bool
	TorList          string // "not configured", "not loaded", or "N exits, age …"
	Tor              bool
	AnonymousDB      string
	Anonymous        policy.AnonymousFlags
	OrgListed        string // "no list", "inside", "outside"
	RoleListed       string
	UserListed       string
	Login, Request   policy.NetworkVerdict
	PolicyVersion    int64
	BlockTor         string
	BlockedAnonymous policy.AnonymousFlags
}

// Explain reports on addr for a user of the given role and id (both may
// be empty), without counting anything as a block.
func (g *Guard) Explain(addr netip.Addr, role, userID string, now time.Time) Report {
	in := g.input(addr, true, role, userID)
	p := g.pol.Load()
	r := Report{Addr: in.Addr, Tor: in.Tor, Anonymous: in.Anonymous, PolicyVersion: p.version, BlockTor: p.blockTor, BlockedAnonymous: p.blocked,
		OrgListed: listed(in.Org, in.Addr), RoleListed: listed(in.Role, in.Addr), UserListed: listed(in.User, in.Addr),
		DenyListed: in.Deny != nil && in.Deny.Contains(in.Addr)}
	switch {
	case g.tor == nil:
		r.TorList = "not configured"
	case g.tor.List() == nil:
		r.TorList = "not loaded"
	default:
		st := g.tor.Status(now)
		r.TorList = fmt.Sprintf("%d exits, age %s", st.Count, st.Age.Round(time.Second))
		if st.Stale {
			r.TorList += " (STALE)"
		}
	}
	r.AnonymousDB = "not configured"
	if g.anon != nil {
		r.AnonymousDB = "loaded"
		if in.AnonymousUnknown {
			r.AnonymousDB = "lookup failed"
		}
	}
	r.Login = policy.DecideNetwork(in)
	in.Login = false
	r.Request = policy.DecideNetwork(in)
	return r
}

func listed(s *netipx.IPSet, a netip.Addr) string {
	switch {
	case s == nil:
		return "no list"
	case s.Contains(a):
		return "inside"
	}
	return "outside"
}

// WriteTo prints the report for an admin.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	verdict := func(v policy.NetworkVerdict) string {
		if v.Allow {
			return "ALLOW"
		}
		if v.Detail != "" {
			return "DENY (" + v.Rule + ": " + v.Detail + ")"
		}
		return "DENY (" + v.Rule + ")"
	}
	flags := func(f policy.AnonymousFlags) string {
		s := ""
		for b := policy.AnonymousFlags(1); b != 0 && b <= f; b <<= 1 {
			if f&b != 0 {
				if s != "" {
					s += ","
				}
				s += b.Name()
			}
		}
		if s == "" {
			return "none"
		}
		return s
	}
	n, err := fmt.Fprintf(w, `address:          %s
login:            %s
request:          %s
policy:           version %d, block_tor %s, block_anonymous %s
deny list:        %v
tor exit list:    %s; listed: %v
anonymous ip db:  %s; flags: %s
org allowlist:    %s
role allowlist:   %s
user allowlist:   %s
`, r.Addr, verdict(r.Login), verdict(r.Request), r.PolicyVersion, r.BlockTor, flags(r.BlockedAnonymous),
		r.DenyListed, r.TorList, r.Tor, r.AnonymousDB, flags(r.Anonymous), r.OrgListed, r.RoleListed, r.UserListed)
	return int64(n), err
}

// WriteMetrics appends the guard's counters in the Prometheus text format.
func (g *Guard) WriteMetrics(w io.Writer, now time.Time) {
	fmt.Fprintln(w, "# HELP gatehouse_network_blocks_total Logins and requests refused by the network guard, by rule.")
	fmt.Fprintln(w, "# TYPE gatehouse_network_blocks_total counter")
	for i, r := range rules {
		fmt.Fprintf(w, "gatehouse_network_blocks_total{rule=%q} %d\n", r, g.blocks[i].Load())
	}
	if g.tor != nil {
		st := g.tor.Status(now)
		stale := 0
		if st.Stale || g.tor.List() == nil {
			stale = 1
		}
		fmt.Fprintln(w, "# HELP gatehouse_tor_exit_list_age_seconds Age of the Tor exit list in use.")
		fmt.Fprintln(w, "# TYPE gatehouse_tor_exit_list_age_seconds gauge")
		fmt.Fprintf(w, "gatehouse_tor_exit_list_age_seconds %.0f\n", st.Age.Seconds())
		fmt.Fprintf(w, "gatehouse_tor_exit_list_entries %d\n", st.Count)
		fmt.Fprintf(w, "gatehouse_tor_exit_list_stale %d\n", stale)
		fmt.Fprintf(w, "gatehouse_tor_exit_list_refresh_failures_total %d\n", st.Failures)
	}
	if g.anon != nil {
		fmt.Fprintf(w, "gatehouse_anonymous_ip_db_reload_failures_total %d\n", g.anon.Status().Failures)
	}
}
