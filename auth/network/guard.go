// Package network is the network guard: it decides, for a client address,
// whether a login or a request may proceed under the login policy's
// network rules — organisation, role and user allowlists, a CIDR deny
// list, Tor exit nodes and anonymizers from a MaxMind anonymous-IP
// database. The decision itself is policy.DecideNetwork (pure); the guard
// keeps the lists current and the sets prebuilt, so a check is a few
// allocation-free set lookups.
package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/network/anonip"
	"github.com/gatehouse-auth/gatehouse/auth/network/tor"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"go4.org/netipx"
)

// Guard answers network decisions. Safe for concurrent use; every list is
// swapped atomically when it changes.
type Guard struct {
	log *slog.Logger
	cfg Config

	tor  *tor.Loader // nil when no Tor list is configured
	anon *anonip.DB  // nil when no database is configured

	deny  atomic.Pointer[denyList]
	pol   atomic.Pointer[policySets]
	users atomic.Pointer[map[string]*netipx.IPSet]

	blocks [len(rules)]atomic.Uint64
}

// rules are the refusal rules counted for metrics, in a fixed order.
var rules = [...]string{policy.RuleDenyList, policy.RuleTor, policy.RuleAnonymous, policy.RuleOrgAllowlist,
	policy.RuleRoleAllowlist, policy.RuleUserAllowlist, policy.RuleUnverifiable, policy.RuleInvalidAddr, policy.RuleAPIAllowlist}

type denyList struct {
	set     *netipx.IPSet
	entries int
	mtime   time.Time
	size    int64
}

// policySets is the policy's network section, built into sets once per
// policy version.
type policySets struct {
	version  int64
	org      *netipx.IPSet
	api      *netipx.IPSet // nil: API-key requests use the org, role and user lists
	roles    map[string]*netipx.IPSet
	blockTor string
	blocked  policy.AnonymousFlags
}

// New opens the configured lists. A Tor list given as a file, the
// anonymous-IP database and the deny file must load, or New fails: they
// are local configuration. A Tor list from a URL that cannot be fetched
// yet only logs: logins are then refused as unverifiable while the policy
// blocks Tor, until a refresh succeeds.
func New(ctx context.Context, cfg Config, log *slog.Logger, client *http.Client, now func() time.Time) (*Guard, error) {
	g := &Guard{log: log.With("component", "network"), cfg: cfg}
	g.users.Store(&map[string]*netipx.IPSet{})
	g.pol.Store(&policySets{blockTor: "off"})
	if t := cfg.TorExitList; t.File != "" || t.URL != "" {
		g.tor = tor.NewLoader(t.source(), client, g.log, now)
		if err := g.tor.Load(ctx); err != nil {
			if t.File != "" {
				return nil, fmt.Errorf("network.tor_exit_list.file: %w", err)
			}
			g.log.ErrorContext(ctx, "Tor exit list not loaded; logins are refused while the policy blocks Tor, until a refresh succeeds", "error", err)
		}
	}
	if f := cfg.AnonymousIPDB.File; f != "" {
		db, err := anonip.Open(f, g.log)
		if err != nil {
			return nil, fmt.Errorf("network.anonymous_ip_db.file: %w", err)
		}
		g.anon = db
	}
	if cfg.DenyFile != "" {
		if _, err := g.reloadDeny(); err != nil {
			g.Close()
			return nil, fmt.Errorf("network.deny_file: %w", err)
		}
	}
	return g, nil
}

// Close releases the anonymous-IP database.
func (g *Guard) Close() error {
	if g.anon != nil {
		return g.anon.Close()
	}
	return nil
}

// Run refreshes the Tor list, reloads the database and the deny file when
// they change, until ctx ends.
func (g *Guard) Run(ctx context.Context) {
	if g.tor != nil {
		go g.tor.Run(ctx)
	}
	if g.anon != nil {
		go g.anon.Run(ctx, g.cfg.AnonymousIPDB.Reload)
	}
	if g.cfg.DenyFile == "" {
		return
	}
	t := time.NewTicker(g.cfg.AnonymousIPDB.Reload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := g.reloadDeny(); err != nil {
				g.log.WarnContext(ctx, "deny file reload failed; keeping the previous list", "file", g.cfg.DenyFile, "error", err)
			}
		}
	}
}

// reloadDeny reads the deny file when its size or mtime changed.
func (g *Guard) reloadDeny() (bool, error) {
	st, err := os.Stat(g.cfg.DenyFile)
	if err != nil {
		return false, err
	}
	if cur := g.deny.Load(); cur != nil && cur.mtime.Equal(st.ModTime()) && cur.size == st.Size() {
		return false, nil
	}
	f, err := os.Open(g.cfg.DenyFile)
	if err != nil {
		return false, err
	}
	defer f.Close()
	set, n, err := ParseCIDRList(f)
	if err != nil {
		return false, err
	}
	g.deny.Store(&denyList{set: set, entries: n, mtime: st.ModTime(), size: st.Size()})
	return true, nil
}

// SetPolicy builds the sets of a new policy version. The policy was
// validated, so its CIDRs parse.
func (g *Guard) SetPolicy(v *policy.Versioned) error {
	n := v.Policy.Network
	ps := &policySets{version: v.Version, roles: map[string]*netipx.IPSet{}, blockTor: n.BlockTor, blocked: v.Policy.BlockedAnonymous()}
	var err error
	if ps.org, err = policy.BuildSet(n.Allow.CIDRs()); err != nil {
		return fmt.Errorf("policy.network.allow: %w", err)
	}
	if ps.api, err = policy.BuildSet(n.APIAllowCIDRs()); err != nil {
		return fmt.Errorf("policy.network.allow_api: %w", err)
	}
	for role, list := range n.AllowRoles {
		if ps.roles[role], err = policy.BuildSet(list.CIDRs()); err != nil {
			return fmt.Errorf("policy.network.allow_roles.%s: %w", role, err)
		}
	}
	g.pol.Store(ps)
	return nil
}

// empty contains nothing: the list of a user whose stored entries do not
// parse, so a corrupt row restricts rather than frees.
var empty = &netipx.IPSet{}

// SetUserLists replaces every user's allowlist.
func (g *Guard) SetUserLists(lists map[string][]string) {
	sets := make(map[string]*netipx.IPSet, len(lists))
	for id, cidrs := range lists {
		s, err := policy.BuildSet(cidrs)
		if err != nil {
			g.log.Error("user allowlist does not parse; refusing that user from every address until it is fixed", "user_id", id, "error", err)
			s = empty
		}
		sets[id] = s
	}
	g.users.Store(&sets)
}

// Check decides for addr. login is true for a login attempt; role and
// userID are empty until the user is known.
func (g *Guard) Check(addr netip.Addr, login bool, role, userID string) policy.NetworkVerdict {
	v := policy.DecideNetwork(g.input(addr, login, role, userID))
	if !v.Allow {
		g.count(v.Rule)
	}
	return v
}

// CheckAPI decides for an API-key request: with network.allow_api set,
// that list replaces the organisation's, the role's and the user's; the
// deny file, Tor and anonymizer rules apply as to any request.
func (g *Guard) CheckAPI(addr netip.Addr, role, userID string) policy.NetworkVerdict {
	in := g.input(addr, false, role, userID)
	if api := g.pol.Load().api; api != nil {
		in.Org, in.Role, in.User = api, nil, nil
	}
	v := policy.DecideNetwork(in)
	if !v.Allow {
		if v.Rule == policy.RuleOrgAllowlist && in.Role == nil && in.User == nil && g.pol.Load().api != nil {
			v.Rule = policy.RuleAPIAllowlist
		}
		g.count(v.Rule)
	}
	return v
}

func (g *Guard) input(addr netip.Addr, login bool, role, userID string) policy.NetworkInput {
	a := addr.Unmap().WithZone("")
	p := g.pol.Load()
	in := policy.NetworkInput{
		Addr: a, Login: login, Known: role != "" || userID != "",
		Org: p.org, Role: p.roles[role], User: (*g.users.Load())[userID],
		BlockTor: p.blockTor, Blocked: p.blocked,
	}
	if d := g.deny.Load(); d != nil {
		in.Deny = d.set
	}
	if g.tor != nil {
		if l := g.tor.List(); l != nil {
			in.Tor = l.Contains(a)
		} else {
			in.TorUnknown = true
		}
	}
	if g.anon != nil {
		f, err := g.anon.Lookup(a)
		in.Anonymous, in.AnonymousUnknown = policy.AnonymousFlags(f), err != nil
	}
	return in
}

func (g *Guard) count(rule string) {
	for i, r := range rules {
		if r == rule {
			g.blocks[i].Add(1)
			return
		}
	}
}

// ErrNotConfigured is returned by Explain parts that have no list.
var ErrNotConfigured = errors.New("not configured")
