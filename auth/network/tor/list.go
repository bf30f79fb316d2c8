// Package tor holds the Tor exit node list used by the network guard to
// refuse logins (or every request) coming out of Tor. It reads both formats
// the Tor Project publishes, the bulk list (one address per line) and the
// TorDNSEL exit-addresses records, and keeps the list fresh from a file or an
// HTTPS URL.
//
// A refresh that fails or looks malformed never replaces a good list: a
// truncated download or an error page must not silently switch Tor blocking
// off. Instead the failure is counted and a list that has grown older than
// its configured age is reported stale, so an operator notices.
package tor

import (
	"net/netip"
	"slices"
	"time"

	"go4.org/netipx"
)

// Formats reported by List.Format.
const (
	FormatBulk          = "bulk"
	FormatExitAddresses = "exit-addresses"
)

// List is one parsed version of the exit list. It is immutable, so the
// loader can hand it to any number of request goroutines and swap in the
// next version atomically.
type List struct {
	set       *netipx.IPSet
	n         int
	published time.Time
	format    string
}

// newList builds the lookup set. addrs must be unmapped and zone-free; it
// is sorted in place.
func newList(addrs []netip.Addr, published time.Time, format string) (*List, error) {
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	var b netipx.IPSetBuilder
	for _, a := range addrs {
		b.Add(a)
	}
	set, err := b.IPSet()
	if err != nil {
		return nil, err
	}
	return &List{set: set, n: len(addrs), published: published, format: format}, nil
}

// Contains reports whether a is a listed exit address. It does not
// allocate: it runs on every guarded request. An IPv4-mapped IPv6 address
// matches as its IPv4 form and a zone is ignored, because a client can
// reach a dual-stack listener either way. A nil list contains nothing.
func (l *List) Contains(a netip.Addr) bool {
	if l == nil || l.set == nil {
		return false
	}
	return l.set.Contains(a.Unmap().WithZone(""))
}

// Len is the number of distinct addresses on the list.
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return l.n
}

// Published is when the list was produced according to its own content:
// the newest Downloaded, Published or ExitAddress time of an exit-addresses
// list. It is zero for the bulk format, which carries no date; the loader
// then falls back to when the list was fetched.
func (l *List) Published() time.Time {
	if l == nil {
		return time.Time{}
	}
	return l.published
}

// Format is FormatBulk or FormatExitAddresses.
func (l *List) Format() string {
	if l == nil {
		return ""
	}
	return l.format
}
