package policy_test

import (
	"net/netip"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// FuzzParsePrefix: whatever an admin types into an allowlist either is
// refused or becomes a canonical prefix: masked, without a zone, and IPv4
// rather than IPv4-mapped IPv6, so that a check against a client address
// cannot miss by representation.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::1", "::ffff:1.2.3.4", "::ffff:0:0/96",
		"fe80::1%eth0", "fe80::1%eth0/64", "::ffff:10.0.0.0/104", "1.2.3.4/0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := policy.ParsePrefix(s)
		if err != nil {
			return
		}
		a := p.Addr()
		switch {
		case !p.IsValid():
			t.Errorf("ParsePrefix(%q): got invalid prefix %v", s, p)
		case p != p.Masked():
			t.Errorf("ParsePrefix(%q): got %v, want it masked", s, p)
		case a.Zone() != "":
			t.Errorf("ParsePrefix(%q): got zone %q, want none", s, a.Zone())
		case a.Is4In6():
			t.Errorf("ParsePrefix(%q): got IPv4-mapped %v, want plain IPv4", s, p)
		}
		if back, err := netip.ParsePrefix(p.String()); err != nil || back != p {
			t.Errorf("ParsePrefix(%q) = %v does not round-trip: %v, %v", s, p, back, err)
		}
	})
}

// FuzzParse: a document either is refused or is a valid policy that
// survives Marshal and Parse unchanged (what the directory stores is what
// the watcher reads back).
func FuzzParse(f *testing.F) {
	f.Add([]byte(designExample))
	f.Add([]byte("mfa: {mode: required}\n"))
	f.Add([]byte("methods: {password: false, google: true}\nnetwork: {allow: [::ffff:1.2.3.4]}\n"))
	f.Add([]byte("session: {idle_timeout: 13h}\n"))
	f.Add([]byte("network: {allow: [10.0.0.0/8, {cidr: 10.1.0.0/16, description: Bangalore office}], allow_roles: {admin: [{cidr: 192.0.2.1}]}}\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := policy.Parse(doc)
		if err != nil {
			return
		}
		if err := p.Validate("policy"); err != nil {
			t.Fatalf("Parse(%q) accepted an invalid policy: %v", doc, err)
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := policy.Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(%q))): %v\n%s", doc, err, out)
		}
		if !policy.Equal(back, p) {
			t.Errorf("round trip of %q: got %+v, want %+v", doc, back, p)
		}
	})
}
