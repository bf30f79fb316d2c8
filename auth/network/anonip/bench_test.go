package anonip_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/network/anonip"
)

// benchSpec is a database of realistic depth: 20,000 scattered IPv4
// networks of /16 to /32 and 2,000 IPv6 /48s, with assorted flag sets, plus
// the fixed networks the lookups below aim at.
func benchSpec() dbSpec {
	rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: the same tree every run
	spec := dbSpec{entries: []entry{
		flagged("192.0.2.0/24", anonip.Anonymous|anonip.AnonymousVPN),
		flagged("2001:db8:1::/48", anonip.Anonymous|anonip.TorExitNode),
	}}
	for range 20000 {
		a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(222)), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
		p := netip.PrefixFrom(a, 16+rng.IntN(17)).Masked()
		spec.entries = append(spec.entries, flagged(p.String(), anonip.Anonymous|anonip.Flags(1<<(1+rng.IntN(5)))))
	}
	for range 2000 {
		var b [16]byte
		b[0], b[1] = 0x2a, byte(rng.Uint32())
		b[2], b[3], b[4], b[5] = byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())
		p := netip.PrefixFrom(netip.AddrFrom16(b), 48)
		spec.entries = append(spec.entries, flagged(p.String(), anonip.Anonymous|anonip.HostingProvider))
	}
	return spec
}

func BenchmarkLookup(b *testing.B) {
	db, _ := openSpec(b, benchSpec())
	for _, bc := range []struct{ name, addr string }{
		{"ipv4_hit", "192.0.2.77"},
		{"ipv4_miss", "10.1.2.3"},
		{"ipv4_mapped_hit", "::ffff:192.0.2.77"},
		{"ipv6_hit", "2001:db8:1::5"},
		{"ipv6_miss", "2001:db8:9::5"},
	} {
		a := netip.MustParseAddr(bc.addr)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.Lookup(a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLookupParallel: lookups from every core share one reader and one
// pool of decode targets.
func BenchmarkLookupParallel(b *testing.B) {
	db, _ := openSpec(b, benchSpec())
	a := netip.MustParseAddr("192.0.2.77")
	b.ReportAllocs()
	b.ResetTimer() // building the database above is not the measurement
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.Lookup(a); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkOpenBytes is the CPU cost of a reload besides reading the file:
// parsing, Reader.Verify over the whole tree and data, and the shape probe.
func BenchmarkOpenBytes(b *testing.B) {
	data := build(b, benchSpec())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := anonip.OpenBytes(data); err != nil {
			b.Fatal(err)
		}
	}
}
