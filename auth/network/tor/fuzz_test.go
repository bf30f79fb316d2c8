package tor

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// FuzzParse feeds both formats (the seeds in testdata/fuzz/FuzzParse hold
// real snippets of each and stem's malformed entries). Whatever Parse
// accepts must list every address the input names and nothing else.
func FuzzParse(f *testing.F) {
	f.Add([]byte("192.0.2.1\n2001:db8::1\n"))
	f.Add([]byte("@type tordnsel 1.0\nExitNode 003A71137D959748C8157C4A76ECA639CEF5E33E\nExitAddress ::ffff:192.0.2.1 2013-08-19 03:18:51\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(bytes.NewReader(data))
		if err != nil {
			var pe *ParseError
			if l != nil || !errors.As(err, &pe) || pe.Line < 0 || pe.Line > bytes.Count(data, []byte{'\n'})+1 {
				t.Fatalf("got list %v and error %v, want nil and a ParseError within the input", l, err)
			}
			return
		}
		if l.Len() <= 0 {
			t.Fatalf("accepted a list with Len() %d", l.Len())
		}
		named := namedAddrs(t, data, l.Format())
		for a := range named {
			if !l.Contains(a) {
				t.Errorf("Contains(%s) = false for a listed address", a)
			}
		}
		if len(named) != l.Len() || len(addrsOf(l)) != l.Len() {
			t.Errorf("got Len() %d and %d addresses in the set, want %d", l.Len(), len(addrsOf(l)), len(named))
		}
	})
}

// namedAddrs reads the addresses out of an accepted input the simple way,
// as a cross-check on the parser.
func namedAddrs(t *testing.T, data []byte, format string) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for line := range strings.SplitSeq(string(data), "\n") {
		fields := strings.Fields(line)
		var s string
		switch {
		case len(fields) == 0, strings.HasPrefix(fields[0], "#"):
			continue
		case format == FormatBulk:
			s = fields[0]
		case fields[0] == "ExitAddress":
			s = fields[1]
		default:
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatalf("accepted input names %q, which is no address", s)
		}
		out[a.Unmap()] = true
	}
	return out
}
