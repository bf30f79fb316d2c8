package anonip_test

import (
	"net/netip"
	"os"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/gatehouse-auth/gatehouse/auth/network/anonip"
)

// FuzzOpenBytes: the database file comes from a download an attacker may
// have tampered with. Whatever its bytes, loading it either fails or yields
// a database whose lookups return; nothing panics or hangs.
//
// Run it with a short minimisation budget: the seeds are whole databases,
// and the default minute spent shrinking each new input looks like a stall.
//
//	go test -run '^$' -fuzz FuzzOpenBytes -fuzzminimizetime 10x ./auth/network/anonip/
func FuzzOpenBytes(f *testing.F) {
	for _, name := range []string{"GeoIP2-Anonymous-IP-Test.mmdb", "GeoIP-Anonymous-Plus-Test.mmdb"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(build(f, generated))
	f.Add(build(f, dbSpec{ipVersion: 4, entries: []entry{flagged("192.0.2.0/24", anonip.Anonymous)}}))
	f.Add(build(f, dbSpec{entries: []entry{{"192.0.2.0/24", mmdbtype.Map{
		"is_anonymous": mmdbtype.Slice{mmdbtype.Bool(true)},
	}}}}))
	f.Add([]byte("\xab\xcd\xefMaxMind.com"))
	f.Add([]byte{})
	probes := []netip.Addr{
		mustAddr("192.0.2.1"), mustAddr("81.2.69.142"), mustAddr("::ffff:1.2.0.1"),
		mustAddr("2001:db8:2::1"), mustAddr("::"), mustAddr("255.255.255.255"),
		mustAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := anonip.OpenBytes(data)
		if err != nil {
			return
		}
		for _, a := range probes {
			_, _ = db.Lookup(a) // an error is a fine answer; a panic is not
		}
		_ = db.Status()
	})
}
