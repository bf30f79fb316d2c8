package policy

import (
	"net/netip"
	"testing"

	"go4.org/netipx"
)

func mustSet(t *testing.T, cidrs ...string) *netipx.IPSet {
	t.Helper()
	s, err := BuildSet(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecideNetwork(t *testing.T) {
	office := mustSet(t, "10.0.0.0/8", "2001:db8:1::/48")
	admins := mustSet(t, "10.1.0.0/16")
	alice := mustSet(t, "10.1.2.3")
	deny := mustSet(t, "10.66.0.0/16")
	vpn := AnonymousFlag("is_anonymous_vpn")
	proxy := AnonymousFlag("is_public_proxy")
	blocked := vpn | AnonymousFlag("is_tor_exit_node")
	addr := netip.MustParseAddr

	tests := []struct {
		name string
		in   NetworkInput
		want NetworkVerdict
	}{
		{"no lists: allowed", NetworkInput{Addr: addr("203.0.113.9"), Login: true, BlockTor: "login"}, NetworkVerdict{Allow: true}},
		{"invalid address refused", NetworkInput{BlockTor: "login"}, NetworkVerdict{Rule: RuleInvalidAddr}},
		{"org list: inside", NetworkInput{Addr: addr("10.9.9.9"), Org: office}, NetworkVerdict{Allow: true}},
		{"org list: outside", NetworkInput{Addr: addr("203.0.113.9"), Org: office}, NetworkVerdict{Rule: RuleOrgAllowlist}},
		{"org list: ipv6 inside", NetworkInput{Addr: addr("2001:db8:1::5"), Org: office}, NetworkVerdict{Allow: true}},
		{"org list: ipv4-mapped matched as ipv4", NetworkInput{Addr: addr("::ffff:10.1.1.1"), Org: office}, NetworkVerdict{Allow: true}},
		{"org list: zone ignored", NetworkInput{Addr: addr("2001:db8:1::5%eth0"), Org: office}, NetworkVerdict{Allow: true}},
		{"role list not applied before the user is known", NetworkInput{Addr: addr("10.9.9.9"), Org: office, Role: admins}, NetworkVerdict{Allow: true}},
		{"role list: outside", NetworkInput{Addr: addr("10.9.9.9"), Known: true, Org: office, Role: admins}, NetworkVerdict{Rule: RuleRoleAllowlist}},
		{"role list: inside", NetworkInput{Addr: addr("10.1.9.9"), Known: true, Org: office, Role: admins}, NetworkVerdict{Allow: true}},
		{"every level with a list must pass: user", NetworkInput{Addr: addr("10.1.9.9"), Known: true, Org: office, Role: admins, User: alice}, NetworkVerdict{Rule: RuleUserAllowlist}},
		{"every level passes", NetworkInput{Addr: addr("10.1.2.3"), Known: true, Org: office, Role: admins, User: alice}, NetworkVerdict{Allow: true}},
		{"user list alone", NetworkInput{Addr: addr("198.51.100.1"), Known: true, User: alice}, NetworkVerdict{Rule: RuleUserAllowlist}},
		{"deny list wins over allowlists", NetworkInput{Addr: addr("10.66.1.1"), Known: true, Org: office, Deny: deny}, NetworkVerdict{Rule: RuleDenyList}},
		{"tor at login, block_tor login", NetworkInput{Addr: addr("185.220.101.4"), Login: true, BlockTor: "login", Tor: true}, NetworkVerdict{Rule: RuleTor}},
		{"tor on a request, block_tor login", NetworkInput{Addr: addr("185.220.101.4"), BlockTor: "login", Tor: true}, NetworkVerdict{Allow: true}},
		{"tor on a request, block_tor all", NetworkInput{Addr: addr("185.220.101.4"), BlockTor: "all", Tor: true}, NetworkVerdict{Rule: RuleTor}},
		{"tor at login, block_tor off", NetworkInput{Addr: addr("185.220.101.4"), Login: true, BlockTor: "off", Tor: true}, NetworkVerdict{Allow: true}},
		{"blocked anonymizer at login", NetworkInput{Addr: addr("198.51.100.7"), Login: true, BlockTor: "login", Blocked: blocked, Anonymous: vpn | proxy}, NetworkVerdict{Rule: RuleAnonymous, Detail: "is_anonymous_vpn"}},
		{"anonymizer flag not chosen by the policy", NetworkInput{Addr: addr("198.51.100.7"), Login: true, BlockTor: "login", Blocked: blocked, Anonymous: proxy}, NetworkVerdict{Allow: true}},
		{"anonymizer on a request, block_tor login", NetworkInput{Addr: addr("198.51.100.7"), BlockTor: "login", Blocked: blocked, Anonymous: vpn}, NetworkVerdict{Allow: true}},
		{"anonymizer on a request, block_tor all", NetworkInput{Addr: addr("198.51.100.7"), BlockTor: "all", Blocked: blocked, Anonymous: vpn}, NetworkVerdict{Rule: RuleAnonymous, Detail: "is_anonymous_vpn"}},
		{"tor list not loaded: login refused as unverifiable", NetworkInput{Addr: addr("198.51.100.7"), Login: true, BlockTor: "login", TorUnknown: true}, NetworkVerdict{Rule: RuleUnverifiable, Detail: "tor_exit_list"}},
		{"tor list not loaded: requests go on under block_tor login", NetworkInput{Addr: addr("198.51.100.7"), BlockTor: "login", TorUnknown: true}, NetworkVerdict{Allow: true}},
		{"tor list not loaded, block_tor off: nothing to check", NetworkInput{Addr: addr("198.51.100.7"), Login: true, BlockTor: "off", TorUnknown: true}, NetworkVerdict{Allow: true}},
		{"anonymous db failed: login refused as unverifiable", NetworkInput{Addr: addr("198.51.100.7"), Login: true, BlockTor: "login", Blocked: blocked, AnonymousUnknown: true}, NetworkVerdict{Rule: RuleUnverifiable, Detail: "anonymous_ip_db"}},
		{"anonymous db failed but no flag blocks: allowed", NetworkInput{Addr: addr("198.51.100.7"), Login: true, BlockTor: "login", AnonymousUnknown: true}, NetworkVerdict{Allow: true}},
		{"anonymizer at login with block_tor off still checked", NetworkInput{Addr: addr("198.51.100.7"), Login: true, BlockTor: "off", Blocked: blocked, Anonymous: vpn}, NetworkVerdict{Rule: RuleAnonymous, Detail: "is_anonymous_vpn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecideNetwork(tt.in); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecideNetworkAllocatesNothing(t *testing.T) {
	in := NetworkInput{Addr: netip.MustParseAddr("10.1.2.3"), Login: true, Known: true, BlockTor: "login",
		Org: mustSet(t, "10.0.0.0/8"), Role: mustSet(t, "10.1.0.0/16"), User: mustSet(t, "10.1.2.3"), Deny: mustSet(t, "192.0.2.0/24")}
	if n := testing.AllocsPerRun(100, func() { DecideNetwork(in) }); n != 0 {
		t.Fatalf("DecideNetwork allocates %v times per call, want 0", n)
	}
}

func TestAnonymousFlags(t *testing.T) {
	p := Policy{Network: Network{BlockAnonymous: []string{"is_public_proxy", "is_tor_exit_node"}}}
	b := p.BlockedAnonymous()
	if b&AnonymousFlag("is_public_proxy") == 0 || b&AnonymousFlag("is_tor_exit_node") == 0 || b&AnonymousFlag("is_anonymous_vpn") != 0 {
		t.Fatalf("BlockedAnonymous = %08b", b)
	}
	if AnonymousFlag("nonsense") != 0 {
		t.Fatal("unknown flag name has a bit")
	}
	if got := (AnonymousFlag("is_hosting_provider") | AnonymousFlag("is_residential_proxy")).Name(); got != "is_hosting_provider" {
		t.Fatalf("Name = %q", got)
	}
}

func TestBuildSet(t *testing.T) {
	if s, err := BuildSet(nil); s != nil || err != nil {
		t.Fatalf("empty list: %v %v, want nil (no restriction)", s, err)
	}
	s, err := BuildSet([]string{"192.0.2.7", "::ffff:198.51.100.0/120", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{"192.0.2.7": true, "192.0.2.8": false, "198.51.100.200": true, "2001:db8::1": true, "2001:db9::1": false} {
		if got := s.Contains(netip.MustParseAddr(a)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
	if _, err := BuildSet([]string{"10.0.0.0/33"}); err == nil {
		t.Fatal("bad CIDR accepted")
	}
}
