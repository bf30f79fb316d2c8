package proxy

import (
	"io"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkAccessLogWrite is the access log's cost per request: one line
// formatted and appended to the shared buffer (the flushes to the writer
// included, at their real rate). The load script's "memory" and
// "memory-quiet" targets measure the same difference end to end, where
// round-to-round noise on a shared machine is larger than it.
func BenchmarkAccessLogWrite(b *testing.B) {
	for _, format := range []struct {
		name string
		json bool
	}{{"json", true}, {"text", false}} {
		b.Run(format.name, func(b *testing.B) {
			l := newAccessLog(io.Discard, format.json)
			defer l.Close()
			ip := netip.MustParseAddr("203.0.113.9")
			methods := []string{"password", "totp"}
			now := time.Now()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l.write(now, "4f1c2a9b0d3e-1z", "GET", "/accounts/7/opportunities", 200, 1234*time.Microsecond, 5120, ip, "0b7d4c1e-user", methods)
				}
			})
		})
	}
}
