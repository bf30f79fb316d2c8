package anonip_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"testing"

	"go4.org/netipx"

	"github.com/gatehouse-auth/gatehouse/auth/network/anonip"
)

// flagsOf reads the is_* booleans of a MaxMind JSON record, ignoring the
// other fields (the Anonymous Plus database's provider_name, say) and the
// "ip" key of expected_lookups.json.
func flagsOf(t *testing.T, rec map[string]any) anonip.Flags {
	t.Helper()
	var f anonip.Flags
	for key, v := range rec {
		b, ok := v.(bool)
		if !ok {
			continue
		}
		bit, err := anonip.ParseFlag(key)
		if err != nil {
			t.Fatalf("fixture field %q: %v", key, err)
		}
		if b {
			f |= bit
		}
	}
	return f
}

func openFile(t *testing.T, path string) *anonip.DB {
	t.Helper()
	db, err := anonip.Open(path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestLookupMaxMindTestDB checks MaxMind's own test database against the
// answers another reader (geoip2-golang) gave for it; see testdata/SOURCE.md.
func TestLookupMaxMindTestDB(t *testing.T) {
	raw, err := os.ReadFile("testdata/expected_lookups.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Lookups []map[string]any `json:"lookups"`
	}
	if err := json.Unmarshal(raw, &fixture); err != nil {
		t.Fatal(err)
	}
	db := openFile(t, "testdata/GeoIP2-Anonymous-IP-Test.mmdb")
	for _, l := range fixture.Lookups {
		addr := netip.MustParseAddr(l["ip"].(string))
		want := flagsOf(t, l)
		forms := []netip.Addr{addr}
		if addr.Is4() {
			forms = append(forms, netip.AddrFrom16(addr.As16())) // ::ffff:a.b.c.d
		} else {
			forms = append(forms, addr.WithZone("eth0"))
		}
		for _, a := range forms {
			if got := lookup(t, db, a.String()); got != want {
				t.Errorf("Lookup(%s): got %v, want %v", a, got, want)
			}
		}
	}
}

// TestLookupMaxMindSourceNetworks checks the first and last address of every
// network in the JSON the test databases were built from, including the
// Anonymous Plus database, whose records carry extra non-flag fields.
func TestLookupMaxMindSourceNetworks(t *testing.T) {
	for _, name := range []string{"GeoIP2-Anonymous-IP-Test", "GeoIP-Anonymous-Plus-Test"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/" + name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			var source []map[string]map[string]any
			if err := json.Unmarshal(raw, &source); err != nil {
				t.Fatal(err)
			}
			db := openFile(t, "testdata/"+name+".mmdb")
			for _, item := range source {
				for network, rec := range item {
					p := ipv4InIPv6(netip.MustParsePrefix(network))
					want := flagsOf(t, rec)
					for _, a := range []netip.Addr{p.Addr(), netipx.PrefixLastIP(p)} {
						if got := lookup(t, db, a.String()); got != want {
							t.Errorf("%s: Lookup(%s): got %v, want %v", network, a, got, want)
						}
					}
				}
			}
		})
	}
}

// ipv4InIPv6 turns MaxMind's source notation for IPv4 networks, ::a.b.c.d/n
// with n ≥ 96, into the IPv4 prefix a client address would fall in.
func ipv4InIPv6(p netip.Prefix) netip.Prefix {
	a := p.Addr().As16()
	if p.Addr().Is4() || p.Bits() < 96 || [12]byte(a[:12]) != [12]byte{} {
		return p
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte(a[12:])), p.Bits()-96)
}

// generated is the database most lookup tests use: one network per flag,
// adjacent networks with different flags, and IPv6 networks.
var generated = dbSpec{entries: []entry{
	flagged("192.0.2.0/24", anonip.Anonymous|anonip.AnonymousVPN),
	flagged("198.51.100.7/32", anonip.Anonymous|anonip.PublicProxy),
	flagged("203.0.113.0/25", anonip.Anonymous|anonip.TorExitNode),
	flagged("203.0.113.128/26", anonip.Anonymous|anonip.HostingProvider),
	flagged("100.64.0.0/10", anonip.Anonymous|anonip.ResidentialProxy),
	flagged("2001:db8:1::/48", anonip.Anonymous|anonip.AnonymousVPN|anonip.TorExitNode),
	flagged("2001:db8:2::1/128", anonip.Anonymous|anonip.AnonymousVPN|anonip.PublicProxy|
		anonip.TorExitNode|anonip.HostingProvider|anonip.ResidentialProxy),
}}

func TestLookupGenerated(t *testing.T) {
	const (
		vpn  = anonip.Anonymous | anonip.AnonymousVPN
		tor  = anonip.Anonymous | anonip.TorExitNode
		host = anonip.Anonymous | anonip.HostingProvider
		res  = anonip.Anonymous | anonip.ResidentialProxy
		v6   = anonip.Anonymous | anonip.AnonymousVPN | anonip.TorExitNode
		all  = anonip.Anonymous | anonip.AnonymousVPN | anonip.PublicProxy | anonip.TorExitNode |
			anonip.HostingProvider | anonip.ResidentialProxy
	)
	db, _ := openSpec(t, generated)
	tests := []struct {
		addr string
		want anonip.Flags
	}{
		{"192.0.1.255", 0}, // just below
		{"192.0.2.0", vpn},
		{"192.0.2.77", vpn},
		{"192.0.2.255", vpn},
		{"192.0.3.0", 0}, // just above
		{"::ffff:192.0.2.77", vpn},
		{"::ffff:c000:24d", vpn}, // the same, written in hex
		{"198.51.100.6", 0},
		{"198.51.100.7", anonip.Anonymous | anonip.PublicProxy},
		{"198.51.100.8", 0},
		{"203.0.113.127", tor},
		{"203.0.113.128", host}, // adjacent networks keep their own flags
		{"203.0.113.191", host},
		{"203.0.113.192", 0},
		{"100.64.0.0", res},
		{"100.127.255.255", res},
		{"100.128.0.0", 0},
		{"2001:db8:1::", v6},
		{"2001:db8:1:ffff:ffff:ffff:ffff:ffff", v6},
		{"2001:db8:1::1%eth0", v6}, // zones are ignored
		{"2001:db8:0:ffff:ffff:ffff:ffff:ffff", 0},
		{"2001:db8:2::", 0},
		{"2001:db8:2::1", all},
		{"2001:db8:2::2", 0},
		// 6to4 addresses alias the IPv4 tree, as in MaxMind's databases.
		{"2002:c000:0201::1", vpn},
		{"8.8.8.8", 0},
		{"0.0.0.0", 0},
		{"255.255.255.255", 0},
		{"::", 0},
		{"::1", 0},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0},
	}
	// The first pass decodes records, the second answers from the cache.
	for _, pass := range []string{"cold", "warm"} {
		for _, tt := range tests {
			if got := lookup(t, db, tt.addr); got != tt.want {
				t.Errorf("%s: Lookup(%s): got %v, want %v", pass, tt.addr, got, tt.want)
			}
		}
	}
}

// TestLookupIPv4OnlyDatabase: an IPv6 client is simply not listed in a
// database that has no IPv6 tree; the library's error for it is not ours.
func TestLookupIPv4OnlyDatabase(t *testing.T) {
	db, _ := openSpec(t, dbSpec{ipVersion: 4, entries: []entry{
		flagged("192.0.2.0/24", anonip.Anonymous|anonip.PublicProxy),
	}})
	tests := []struct {
		addr string
		want anonip.Flags
	}{
		{"192.0.2.1", anonip.Anonymous | anonip.PublicProxy},
		{"::ffff:192.0.2.1", anonip.Anonymous | anonip.PublicProxy},
		{"192.0.3.1", 0},
		{"2001:db8::1", 0},
	}
	for _, tt := range tests {
		if got := lookup(t, db, tt.addr); got != tt.want {
			t.Errorf("Lookup(%s): got %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestLookupInvalidAddr(t *testing.T) {
	db, _ := openSpec(t, generated)
	if got, err := db.Lookup(netip.Addr{}); !errors.Is(err, anonip.ErrInvalidAddr) || got != 0 {
		t.Errorf("Lookup(zero Addr): got %v, %v; want 0, ErrInvalidAddr", got, err)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so lookups allocate under -race")
	}
	db, _ := openSpec(t, generated)
	for _, addr := range []string{"192.0.2.1", "::ffff:192.0.2.1", "8.8.8.8", "2001:db8:2::1", "2001:db8:1::1%eth0", "::1"} {
		a := netip.MustParseAddr(addr)
		if got := testing.AllocsPerRun(1000, func() { _, _ = db.Lookup(a) }); got != 0 {
			t.Errorf("Lookup(%s): got %v allocations, want 0", addr, got)
		}
	}
}
