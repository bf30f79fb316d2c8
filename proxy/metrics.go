package proxy

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
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
	outcomeLoginSuccess
	outcomeLoginFailure
	outcomeLoginLockout
	numOutcomes
)

var outcomeNames = [numOutcomes]struct{ metric, label string }{
	{"gatehouse_requests_total", `outcome="proxied"`},
	{"gatehouse_requests_total", `outcome="unauthenticated"`},
	{"gatehouse_requests_total", `outcome="session_expired"`},
	{"gatehouse_requests_total", `outcome="unavailable"`},
	{"gatehouse_requests_total", `outcome="bad_gateway"`},
	{"gatehouse_requests_total", `outcome="forbidden"`},
	{"gatehouse_logins_total", `result="success"`},
	{"gatehouse_logins_total", `result="failure"`},
	{"gatehouse_logins_total", `result="lockout"`},
}

type metrics struct {
	counts [numOutcomes]atomic.Uint64
}

func (m *metrics) inc(o int) { m.counts[o].Add(1) }

// Login results, counted by the login pages with CountLogin.
const (
	LoginSuccess = outcomeLoginSuccess
	LoginFailure = outcomeLoginFailure
	LoginLockout = outcomeLoginLockout
)

// CountLogin counts a login attempt's result (LoginSuccess, LoginFailure,
// LoginLockout).
func (g *Gateway) CountLogin(result int) {
	if result >= outcomeLoginSuccess && result < numOutcomes {
		g.metrics.inc(result)
	}
}

// MetricsHandler serves the counters in the Prometheus text format, for
// the separate metrics listener (metrics_listen).
func (g *Gateway) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintln(w, "# HELP gatehouse_requests_total Requests for the upstream, by outcome.")
		fmt.Fprintln(w, "# TYPE gatehouse_requests_total counter")
		for i := range outcomeLoginSuccess {
			fmt.Fprintf(w, "%s{%s} %d\n", outcomeNames[i].metric, outcomeNames[i].label, g.metrics.counts[i].Load())
		}
		fmt.Fprintln(w, "# HELP gatehouse_logins_total Password login attempts, by result.")
		fmt.Fprintln(w, "# TYPE gatehouse_logins_total counter")
		for i := outcomeLoginSuccess; i < numOutcomes; i++ {
			fmt.Fprintf(w, "%s{%s} %d\n", outcomeNames[i].metric, outcomeNames[i].label, g.metrics.counts[i].Load())
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
