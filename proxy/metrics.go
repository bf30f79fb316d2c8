package proxy

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes counted per request; a fixed set so counting is one atomic add
// on the hot path and the exposition needs no locking.
const (
	outcomeProxied = iota
	outcomeUnauthenticated
	outcomeExpired
	outcomeUnavailable
	outcomeBadGateway
	outcomeForbidden
	numOutcomes
)

var outcomeLabels = [numOutcomes]string{"proxied", "unauthenticated", "session_expired", "unavailable", "bad_gateway", "forbidden"}

type metrics struct {
	counts [numOutcomes]atomic.Uint64
}

func (m *metrics) inc(o int) { m.counts[o].Add(1) }

// MetricsHandler serves the metrics in the Prometheus text format, for
// the separate metrics listener (metrics_listen): the registry's
// (latency histograms, security events by kind, Go and process
// collectors, build info), then the gateway's own counters and the
// components' state (invalidation channel, directory push, lists).
func (g *Gateway) MetricsHandler() http.Handler {
	reg := promhttp.HandlerFor(g.tele.reg, promhttp.HandlerOpts{DisableCompression: true})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The registry writes the text format, uncompressed; the rest is
		// appended to the same body, so neither another format nor gzip
		// may be negotiated.
		r.Header.Set("Accept", "text/plain")
		reg.ServeHTTP(w, r)
		fmt.Fprintln(w, "# HELP gatehouse_requests_total Requests for the upstream, by outcome.")
		fmt.Fprintln(w, "# TYPE gatehouse_requests_total counter")
		for i := range numOutcomes {
			fmt.Fprintf(w, "gatehouse_requests_total{outcome=%q} %d\n", outcomeLabels[i], g.metrics.counts[i].Load())
		}
		fmt.Fprintln(w, "# HELP gatehouse_policy_version Login policy version in force.")
		fmt.Fprintln(w, "# TYPE gatehouse_policy_version gauge")
		var v int64
		if cur := g.policy.Policy(); cur != nil {
			v = cur.Version
		}
		fmt.Fprintf(w, "gatehouse_policy_version %d\n", v)
		fresh := 0
		if g.policy.Fresh(g.maxStale) {
			fresh = 1
		}
		fmt.Fprintln(w, "# HELP gatehouse_directory_fresh 1 when the directory was polled recently enough to serve.")
		fmt.Fprintln(w, "# TYPE gatehouse_directory_fresh gauge")
		fmt.Fprintf(w, "gatehouse_directory_fresh %d\n", fresh)
		for _, s := range g.status {
			if s.Metrics != nil {
				s.Metrics(w)
			}
		}
		if m, ok := g.network.(interface{ WriteMetrics(io.Writer, time.Time) }); ok {
			m.WriteMetrics(w, time.Now())
		}
	})
}
