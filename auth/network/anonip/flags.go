package anonip

import (
	"errors"
	"fmt"
	"strings"
)

// Flags is the set of anonymity flags a database holds for an address, one
// bit per boolean field of a GeoIP2 Anonymous IP record. A bitmask rather
// than a struct so that the guard can test a policy's blocked set against a
// lookup with one AND and no allocation.
type Flags uint8

// The flags, in the order of the record fields MaxMind documents. Names
// reports them in this order.
const (
	Anonymous        Flags = 1 << iota // is_anonymous: any of the others
	AnonymousVPN                       // is_anonymous_vpn
	PublicProxy                        // is_public_proxy
	TorExitNode                        // is_tor_exit_node
	HostingProvider                    // is_hosting_provider
	ResidentialProxy                   // is_residential_proxy
)

// ErrUnknownFlag is returned by ParseFlag for a name that is not a record
// field of the anonymous-IP database.
var ErrUnknownFlag = errors.New("unknown anonymous-IP flag")

// flagNames is indexed by bit position; the names are the database's field
// names, which are also what the policy's block_anonymous list holds.
var flagNames = [...]string{
	"is_anonymous",
	"is_anonymous_vpn",
	"is_public_proxy",
	"is_tor_exit_node",
	"is_hosting_provider",
	"is_residential_proxy",
}

// ParseFlag returns the flag for a database field name such as
// "is_anonymous_vpn". Names are matched exactly: the policy file and the
// database spell them the same way, so a near miss is a typo worth reporting.
func ParseFlag(name string) (Flags, error) {
	for i, n := range flagNames {
		if n == name {
			return 1 << i, nil
		}
	}
	return 0, fmt.Errorf("%w %q; valid names: %s", ErrUnknownFlag, name, strings.Join(flagNames[:], ", "))
}

// ParseFlags returns the union of the named flags. Every unknown name is
// reported, not just the first, so a config check lists them all at once.
func ParseFlags(names []string) (Flags, error) {
	var (
		all  Flags
		errs []error
	)
	for _, name := range names {
		f, err := ParseFlag(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all |= f
	}
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	return all, nil
}

// Names returns the database field names of the flags that are set, in the
// fixed order of the constants, or nil when none is.
func (f Flags) Names() []string {
	var names []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return names
}

// String joins Names with commas, or says "none", for logs and check-ip.
func (f Flags) String() string {
	names := f.Names()
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}
