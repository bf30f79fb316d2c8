package proxy

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIPResolve(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	c := NewClientIP(trusted)
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"no proxy", "203.0.113.9:5555", nil, "203.0.113.9"},
		{"trusted proxy, client appended", "10.0.0.2:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"chain read right to left", "10.0.0.2:80", []string{"6.6.6.6, 198.51.100.7, 10.0.0.5"}, "198.51.100.7"},
		{"several header lines in order", "10.0.0.2:80", []string{"6.6.6.6", "198.51.100.7", "10.1.1.1"}, "198.51.100.7"},
		{"all trusted: leftmost", "10.0.0.2:80", []string{"10.9.9.9, 10.0.0.5"}, "10.9.9.9"},
		{"garbage stops at last trusted", "10.0.0.2:80", []string{"nonsense, 10.0.0.5"}, "10.0.0.5"},
		{"port in entry", "10.0.0.2:80", []string{"198.51.100.7:4444"}, "198.51.100.7"},
		{"bracketed ipv6 with port", "10.0.0.2:80", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"ipv4-mapped peer", "[::ffff:203.0.113.9]:80", nil, "203.0.113.9"},
		{"ipv6 zone dropped", "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"trusted ipv6 proxy", "[fd00::1]:80", []string{"2001:db8::7"}, "2001:db8::7"},
		{"empty header", "10.0.0.2:80", []string{""}, "10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := c.Resolve(r).String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSpoofedForwardedForFromUntrustedPeer: a client talking to the
// gateway directly cannot choose its address with any forwarding header.
func TestSpoofedForwardedForFromUntrustedPeer(t *testing.T) {
	c := NewClientIP([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	r := &http.Request{RemoteAddr: "203.0.113.9:5555", Header: http.Header{
		"X-Forwarded-For": {"10.0.0.1, 127.0.0.1"},
		"X-Real-Ip":       {"127.0.0.1"},
		"Forwarded":       {"for=127.0.0.1"},
	}}
	if got := c.Resolve(r).String(); got != "203.0.113.9" {
		t.Fatalf("got %s, want the TCP peer 203.0.113.9", got)
	}
}

func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4, 10.0.0.1", "[::1]:80, x", ",,,", "::ffff:1.2.3.4%eth0"} {
		f.Add("10.0.0.2:80", s)
	}
	c := NewClientIP([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := c.Resolve(r)
		peer := parseHostAddr(remote)
		if !c.isTrusted(peer) && got != peer {
			t.Fatalf("untrusted peer %q: got %v, want the peer", remote, got)
		}
		if got.IsValid() && (got.Is4In6() || got.Zone() != "") {
			t.Fatalf("got non-normalized %v", got)
		}
	})
}
