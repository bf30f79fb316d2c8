package policy

import (
	"net/netip"

	"go4.org/netipx"
)

// AnonymousFlags is the set of anonymizer flags an address has in the
// anonymous-IP database, as a bitmask in the order of anonymousFlags.
type AnonymousFlags uint8

// AnonymousFlag returns the bit for a flag name (is_anonymous_vpn, …), or 0.
func AnonymousFlag(name string) AnonymousFlags {
	for i, n := range anonymousFlags {
		if n == name {
			return 1 << i
		}
	}
	return 0
}

// Name returns the name of the lowest flag set in f.
func (f AnonymousFlags) Name() string {
	for i, n := range anonymousFlags {
		if f&(1<<i) != 0 {
			return n
		}
	}
	return ""
}

// BlockedAnonymous is the policy's block_anonymous list as a bitmask.
func (p *Policy) BlockedAnonymous() AnonymousFlags {
	var f AnonymousFlags
	for _, n := range p.Network.BlockAnonymous {
		f |= AnonymousFlag(n)
	}
	return f
}

// NetworkInput is everything a network decision looks at. The sets are
// built once per list version by the caller; lookups in them do not
// allocate. A nil allowlist means "no restriction at this level".
type NetworkInput struct {
	Addr  netip.Addr // the client address, already resolved through trusted proxies
	Login bool       // a login attempt rather than a request of an existing session
	// Known is true once the user is known (after the first factor, or a
	// session's request); only then do the role and user lists apply.
	Known bool

	Org  *netipx.IPSet // policy.network.allow
	Role *netipx.IPSet // policy.network.allow_roles[role]
	User *netipx.IPSet // the user's own list
	Deny *netipx.IPSet // network.deny_file

	BlockTor string // policy.network.block_tor: login | all | off
	Tor      bool   // Addr is on the Tor exit list
	// TorUnknown means a Tor list is configured but none has loaded yet,
	// so the Tor rule cannot be checked.
	TorUnknown bool
	Blocked    AnonymousFlags
	Anonymous  AnonymousFlags // what the anonymous-IP database says of Addr
	// AnonymousUnknown means the database could not answer for Addr.
	AnonymousUnknown bool
}

// Network rule names; stable, because audit events and metrics carry them.
const (
	RuleDenyList      = "deny_list"
	RuleTor           = "tor_exit"
	RuleAnonymous     = "anonymous_ip"
	RuleOrgAllowlist  = "org_allowlist"
	RuleRoleAllowlist = "role_allowlist"
	RuleUserAllowlist = "user_allowlist"
	RuleAPIAllowlist  = "api_allowlist"
	RuleInvalidAddr   = "invalid_address"
	// RuleUnverifiable refuses when a list the policy relies on could not
	// be consulted: fail closed, and tell the client to retry (503).
	RuleUnverifiable = "list_unavailable"
)

// NetworkVerdict is a network decision and, when it refuses, the rule
// that refused (Detail adds the anonymizer flag for RuleAnonymous).
type NetworkVerdict struct {
	Allow  bool
	Rule   string
	Detail string
}

// DecideNetwork applies the network rules in a fixed order: the deny list,
// Tor exits, anonymizers, then the allowlists, every one of which that
// has entries must contain the address (organisation, role, user). Tor and
// anonymizer blocks apply to logins, and to every request when block_tor
// is "all". The function is pure: same input, same verdict.
func DecideNetwork(in NetworkInput) NetworkVerdict {
	a := in.Addr.Unmap().WithZone("")
	if !a.IsValid() {
		return NetworkVerdict{Rule: RuleInvalidAddr}
	}
	if in.Deny != nil && in.Deny.Contains(a) {
		return NetworkVerdict{Rule: RuleDenyList}
	}
	suspectChecked := in.BlockTor == "all" || in.Login
	if suspectChecked && in.BlockTor != "off" {
		if in.TorUnknown {
			return NetworkVerdict{Rule: RuleUnverifiable, Detail: "tor_exit_list"}
		}
		if in.Tor {
			return NetworkVerdict{Rule: RuleTor}
		}
	}
	if suspectChecked && in.Blocked != 0 {
		if in.AnonymousUnknown {
			return NetworkVerdict{Rule: RuleUnverifiable, Detail: "anonymous_ip_db"}
		}
		if hit := in.Anonymous & in.Blocked; hit != 0 {
			return NetworkVerdict{Rule: RuleAnonymous, Detail: hit.Name()}
		}
	}
	if in.Org != nil && !in.Org.Contains(a) {
		return NetworkVerdict{Rule: RuleOrgAllowlist}
	}
	if in.Known && in.Role != nil && !in.Role.Contains(a) {
		return NetworkVerdict{Rule: RuleRoleAllowlist}
	}
	if in.Known && in.User != nil && !in.User.Contains(a) {
		return NetworkVerdict{Rule: RuleUserAllowlist}
	}
	return NetworkVerdict{Allow: true}
}

// BuildSet turns CIDR strings (validated already) into an IPSet; an empty
// list gives nil, meaning no restriction.
func BuildSet(cidrs []string) (*netipx.IPSet, error) {
	if len(cidrs) == 0 {
		return nil, nil
	}
	var b netipx.IPSetBuilder
	for _, c := range cidrs {
		p, err := ParsePrefix(c)
		if err != nil {
			return nil, err
		}
		b.AddPrefix(p)
	}
	return b.IPSet()
}
