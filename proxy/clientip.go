package proxy

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP resolves the address of the client behind any trusted proxies.
// X-Forwarded-For is read only when the TCP peer is a trusted proxy, and
// then right to left: each trusted hop appended the address it saw, so the
// first untrusted address from the right is the client. Entries left of it
// were written by the client and are ignored; Forwarded and X-Real-IP are
// never read.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP returns a resolver trusting the given proxy networks.
func NewClientIP(trusted []netip.Prefix) ClientIP { return ClientIP{trusted: trusted} }

// Resolve returns the client address for r.
func (c ClientIP) Resolve(r *http.Request) netip.Addr {
	peer := parseHostAddr(r.RemoteAddr)
	if !c.isTrusted(peer) {
		return peer
	}
	return c.walk(peer, r.Header.Values("X-Forwarded-For"))
}

// walk goes right to left through the X-Forwarded-For values (several
// header lines count as one comma-joined list, in order).
// FromTrustedProxy reports whether the TCP peer is a trusted proxy, whose
// forwarded headers (X-Request-Id too) are believed.
func (c ClientIP) FromTrustedProxy(r *http.Request) bool {
	return len(c.trusted) > 0 && c.isTrusted(parseHostAddr(r.RemoteAddr))
}

func (c ClientIP) walk(peer netip.Addr, lines []string) netip.Addr {
	client := peer
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for line != "" {
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				entry, line = line, ""
			}
			a := parseForwardedAddr(strings.TrimSpace(entry))
			if !a.IsValid() {
				// Garbage can only come from the client: stop at the last
				// address a trusted hop vouched for.
				return client
			}
			client = a
			if !c.isTrusted(a) {
				return a
			}
		}
	}
	return client
}

func (c ClientIP) isTrusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHostAddr parses a RemoteAddr ("1.2.3.4:5", "[::1]:5").
func parseHostAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr())
	}
	a, _ := netip.ParseAddr(s)
	return normalize(a)
}

// parseForwardedAddr accepts an address with or without a port, and
// bracketed IPv6.
func parseForwardedAddr(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return normalize(a)
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr())
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		a, _ := netip.ParseAddr(s[1 : len(s)-1])
		return normalize(a)
	}
	return netip.Addr{}
}

// normalize matches IPv4-mapped IPv6 as IPv4 and drops zones, so lists and
// rate-limit keys see one form of each address.
func normalize(a netip.Addr) netip.Addr {
	if !a.IsValid() {
		return a
	}
	return a.Unmap().WithZone("")
}
