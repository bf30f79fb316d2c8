package tor

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestContains(t *testing.T) {
	l, err := Parse(strings.NewReader("192.0.2.1\n2001:db8::7\nfe80::1\n::ffff:198.51.100.9\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"192.0.2.1", true},
		{"::ffff:192.0.2.1", true}, // a v4 client on a dual-stack listener
		{"192.0.2.2", false},
		{"::ffff:192.0.2.2", false},
		{"2001:db8::7", true},
		{"2001:db8::7%eth0", true}, // zones ignored
		{"fe80::1%2", true},
		{"2001:db8::8", false},
		{"198.51.100.9", true}, // listed in mapped form
		{"::ffff:198.51.100.9", true},
		{"::c000:201", false}, // the IPv4-compatible form is a different address
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := l.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
	if l.Contains(netip.Addr{}) {
		t.Error("Contains(zero Addr) = true, want false")
	}
}

func TestNilList(t *testing.T) {
	var l *List
	if l.Contains(netip.MustParseAddr("192.0.2.1")) || l.Len() != 0 || l.Format() != "" || !l.Published().IsZero() {
		t.Errorf("nil list: got Contains true or Len %d, Format %q, Published %v; want false, 0, \"\", zero",
			l.Len(), l.Format(), l.Published())
	}
}

func TestContainsDoesNotAllocate(t *testing.T) {
	l := benchList(t, 2000)
	addrs := []netip.Addr{
		netip.MustParseAddr("10.0.3.7"),
		netip.MustParseAddr("::ffff:10.0.3.7"),
		netip.MustParseAddr("2001:db8::1%eth0"),
		netip.MustParseAddr("8.8.8.8"),
	}
	for _, a := range addrs {
		if got := testing.AllocsPerRun(1000, func() { l.Contains(a) }); got != 0 {
			t.Errorf("Contains(%s) allocates %v times per call, want 0", a, got)
		}
	}
}

// benchList is a bulk list of n addresses spread over 10.0.0.0/8 with gaps,
// so the set has n ranges like a real list rather than one merged block.
func benchList(tb testing.TB, n int) *List {
	tb.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "10.%d.%d.%d\n", i/8192, i/32%256, i%32*7+1)
	}
	l, err := Parse(strings.NewReader(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	if l.Len() != n || len(l.set.Ranges()) != n {
		tb.Fatalf("got %d addresses in %d ranges, want %d in %d", l.Len(), len(l.set.Ranges()), n, n)
	}
	return l
}

func BenchmarkContains(b *testing.B) {
	l := benchList(b, 2000)
	addrs := []netip.Addr{
		netip.MustParseAddr("10.0.3.8"),         // listed
		netip.MustParseAddr("::ffff:10.0.40.1"), // listed, mapped
		netip.MustParseAddr("10.0.3.9"),         // not listed
		netip.MustParseAddr("2001:db8::1"),      // not listed, v6
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Contains(addrs[i%len(addrs)])
	}
}
