package network

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/network/anonip"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

const testDB = "anonip/testdata/GeoIP2-Anonymous-IP-Test.mmdb"

func write(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newGuard(t testing.TB, cfg Config, p policy.Policy) *Guard {
	t.Helper()
	cfg.SetDefaults()
	g, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	p.SetDefaults()
	if err := p.Validate("policy"); err != nil {
		t.Fatal(err)
	}
	if err := g.SetPolicy(&policy.Versioned{Policy: p, Version: 1}); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGuardCombinesLists(t *testing.T) {
	g := newGuard(t, Config{
		TorExitList:   TorExitList{File: write(t, "tor.txt", "185.220.101.4\n")},
		AnonymousIPDB: AnonymousIPDB{File: testDB},
		DenyFile:      write(t, "deny.txt", "203.0.113.0/24\n"),
	}, policy.Policy{Network: policy.Network{
		Allow: policy.AllowList{{CIDR: "0.0.0.0/0"}, {CIDR: "::/0", Description: "every IPv6 address"}}, AllowRoles: map[string]policy.AllowList{"admin": {{CIDR: "10.1.0.0/16", Description: "Bangalore office"}}},
		BlockTor: "login", BlockAnonymous: []string{"is_public_proxy"},
	}})
	g.SetUserLists(map[string][]string{"u-alice": {"192.0.2.0/24"}, "u-broken": {"not a cidr"}})
	a := netip.MustParseAddr
	tests := []struct {
		addr         string
		login        bool
		role, user   string
		allow        bool
		rule, detail string
	}{
		{"198.51.100.1", true, "", "", true, "", ""},
		{"203.0.113.5", false, "sales", "u-x", false, policy.RuleDenyList, ""},
		{"185.220.101.4", true, "", "", false, policy.RuleTor, ""},
		{"185.220.101.4", false, "sales", "u-x", true, "", ""},
		{"6.1.0.3", true, "", "", false, policy.RuleAnonymous, "is_public_proxy"},
		{"6.1.0.1", true, "", "", true, "", ""}, // vpn: not chosen
		{"10.1.2.3", true, "admin", "u-root", true, "", ""},
		{"10.2.2.3", false, "admin", "u-root", false, policy.RuleRoleAllowlist, ""},
		{"192.0.2.9", false, "sales", "u-alice", true, "", ""},
		{"198.51.100.1", false, "sales", "u-alice", false, policy.RuleUserAllowlist, ""},
		{"192.0.2.9", false, "sales", "u-broken", false, policy.RuleUserAllowlist, ""}, // a corrupt list restricts
	}
	for _, tt := range tests {
		v := g.Check(a(tt.addr), tt.login, tt.role, tt.user)
		if v.Allow != tt.allow || v.Rule != tt.rule || v.Detail != tt.detail {
			t.Errorf("Check(%s, login=%v, %s, %s) = %+v, want allow=%v rule=%q detail=%q", tt.addr, tt.login, tt.role, tt.user, v, tt.allow, tt.rule, tt.detail)
		}
	}
	var m strings.Builder
	g.WriteMetrics(&m, time.Now())
	for _, want := range []string{`gatehouse_network_blocks_total{rule="deny_list"} 1`, `gatehouse_network_blocks_total{rule="user_allowlist"} 2`, "gatehouse_tor_exit_list_entries 1"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, m.String())
		}
	}
}

// TestAnonymousFlagBitsAgree: the guard hands the database's bitmask to the
// policy as is, so both must number the flags alike.
func TestAnonymousFlagBitsAgree(t *testing.T) {
	for _, name := range []string{"is_anonymous", "is_anonymous_vpn", "is_public_proxy", "is_tor_exit_node", "is_hosting_provider", "is_residential_proxy"} {
		f, err := anonip.ParseFlag(name)
		if err != nil {
			t.Fatal(err)
		}
		if policy.AnonymousFlags(f) != policy.AnonymousFlag(name) {
			t.Errorf("%s: anonip bit %08b, policy bit %08b", name, f, policy.AnonymousFlag(name))
		}
	}
}

// TestGuardCheckDoesNotAllocate: the guard runs on every request.
func TestGuardCheckDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this without it")
	}
	g := newGuard(t, Config{
		TorExitList:   TorExitList{File: write(t, "tor.txt", "185.220.101.4\n")},
		AnonymousIPDB: AnonymousIPDB{File: testDB},
		DenyFile:      write(t, "deny.txt", "203.0.113.0/24\n"),
	}, policy.Policy{Network: policy.Network{Allow: policy.AllowList{{CIDR: "0.0.0.0/0"}}, AllowRoles: map[string]policy.AllowList{"admin": {{CIDR: "10.0.0.0/8"}}},
		BlockTor: "all", BlockAnonymous: []string{"is_public_proxy"}}})
	g.SetUserLists(map[string][]string{"u1": {"198.51.100.0/24"}})
	a := netip.MustParseAddr("198.51.100.7")
	if n := testing.AllocsPerRun(200, func() { g.Check(a, false, "sales", "u1") }); n != 0 {
		t.Fatalf("Check allocates %v times per call, want 0", n)
	}
}

func TestDenyFileReloadKeepsLastGood(t *testing.T) {
	path := write(t, "deny.txt", "203.0.113.0/24\n")
	g := newGuard(t, Config{DenyFile: path}, policy.Policy{})
	a := netip.MustParseAddr("203.0.113.5")
	if g.Check(a, true, "", "").Allow {
		t.Fatal("denied address allowed")
	}
	os.WriteFile(path, []byte("203.0.113.0/24\nthis is not a cidr\n"), 0o600)
	os.Chtimes(path, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	if _, err := g.reloadDeny(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("reload of a broken file: %v, want an error naming line 2", err)
	}
	if g.Check(a, true, "", "").Allow {
		t.Fatal("a broken reload dropped the deny list")
	}
	os.WriteFile(path, []byte("198.51.100.0/24\n"), 0o600)
	os.Chtimes(path, time.Now().Add(2*time.Minute), time.Now().Add(2*time.Minute))
	if changed, err := g.reloadDeny(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if !g.Check(a, true, "", "").Allow || g.Check(netip.MustParseAddr("198.51.100.1"), true, "", "").Allow {
		t.Fatal("the new deny list is not in force")
	}
}

func TestNewRefusesBrokenLocalLists(t *testing.T) {
	for name, cfg := range map[string]Config{
		"tor file missing":    {TorExitList: TorExitList{File: "/nonexistent/tor.txt"}},
		"tor file garbage":    {TorExitList: TorExitList{File: write(t, "t", "not an address\n")}},
		"mmdb missing":        {AnonymousIPDB: AnonymousIPDB{File: "/nonexistent/db.mmdb"}},
		"deny file malformed": {DenyFile: write(t, "d", "10.0.0.0/33\n")},
	} {
		cfg.SetDefaults()
		if g, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), nil, time.Now); err == nil {
			g.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestParseCIDRList(t *testing.T) {
	set, n, err := ParseCIDRList(strings.NewReader("# comment\n10.0.0.0/8\n\n192.0.2.7  # one host\n::ffff:198.51.100.0/120\n2001:db8::/32\n"))
	if err != nil || n != 4 {
		t.Fatalf("got %d entries, %v", n, err)
	}
	for a, want := range map[string]bool{"10.9.9.9": true, "192.0.2.7": true, "192.0.2.8": false, "198.51.100.9": true, "2001:db8::1": true} {
		if got := set.Contains(netip.MustParseAddr(a)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
	if _, _, err := ParseCIDRList(strings.NewReader("10.0.0.0/8\n10.0.0.0/40\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad line: %v", err)
	}
}

func FuzzParseCIDRList(f *testing.F) {
	f.Add("10.0.0.0/8\n# c\n2001:db8::/32 # x\n")
	f.Add("::ffff:1.2.3.4/128\n")
	f.Fuzz(func(t *testing.T, s string) {
		set, n, err := ParseCIDRList(strings.NewReader(s))
		if err == nil && n > 0 && set == nil {
			t.Fatal("entries but no set")
		}
	})
}

// BenchmarkGuardCheck is the figure: a check against 2,000 Tor
// exits, 100,000 deny CIDRs, an organisation allowlist and the mmdb lookup.
// Target: at most 1 µs and 0 allocations per check.
func BenchmarkGuardCheck(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tor, deny strings.Builder
	for range 2000 {
		fmt.Fprintf(&tor, "%d.%d.%d.%d\n", 1+rng.IntN(222), rng.IntN(256), rng.IntN(256), rng.IntN(256))
	}
	for range 100_000 {
		fmt.Fprintf(&deny, "%d.%d.%d.0/24\n", 1+rng.IntN(222), rng.IntN(256), rng.IntN(256))
	}
	g := newGuard(b, Config{
		TorExitList:   TorExitList{File: write(b, "tor.txt", tor.String())},
		AnonymousIPDB: AnonymousIPDB{File: testDB},
		DenyFile:      write(b, "deny.txt", deny.String()),
	}, policy.Policy{Network: policy.Network{Allow: policy.AllowList{{CIDR: "0.0.0.0/0"}, {CIDR: "::/0"}}, BlockTor: "all", BlockAnonymous: []string{"is_anonymous_vpn", "is_public_proxy"}}})
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{byte(1 + rng.IntN(222)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		g.Check(addrs[i&1023], false, "sales", "u1")
		i++
	}
}
