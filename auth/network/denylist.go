package network

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"go4.org/netipx"
)

// maxDenyEntries bounds a deny file; the guard builds one IPSet from it.
const maxDenyEntries = 1_000_000

// ParseCIDRList reads one CIDR or address per line; blank lines and text
// after '#' are ignored. Any other line is an error naming it, so a
// broken file never silently shrinks the list.
func ParseCIDRList(r io.Reader) (*netipx.IPSet, int, error) {
	var b netipx.IPSetBuilder
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	n, line := 0, 0
	for sc.Scan() {
		line++
		text, _, _ := strings.Cut(sc.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		p, err := policy.ParsePrefix(text)
		if err != nil {
			return nil, 0, fmt.Errorf("line %d: %w", line, err)
		}
		if n++; n > maxDenyEntries {
			return nil, 0, fmt.Errorf("more than %d entries", maxDenyEntries)
		}
		b.AddPrefix(p)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("line %d: %w", line+1, err)
	}
	set, err := b.IPSet()
	return set, n, err
}
