package proxy

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
)

// telemetry is the gateway's Prometheus registry: request and upstream
// latency, requests in flight, and the security events of the audit
// stream counted by kind. Label values come from small fixed sets (status
// classes, login methods, rule names, configured provider ids, reasons);
// never a user id, an address or a path.
type telemetry struct {
	reg       *prometheus.Registry
	requests  *prometheus.HistogramVec
	inflight  prometheus.Gauge
	upstream  *prometheus.HistogramVec
	logins    *prometheus.CounterVec
	second    *prometheus.CounterVec
	federated *prometheus.CounterVec
	blocks    *prometheus.CounterVec
	created   prometheus.Counter
	ended     *prometheus.CounterVec
	storeErrs prometheus.Counter
	providers map[string]bool
}

// latencyBuckets span a cached request (well under a millisecond) to a
// slow upstream.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newTelemetry(version string, providers []string) *telemetry {
	t := &telemetry{reg: prometheus.NewRegistry(), providers: map[string]bool{}}
	for _, p := range providers {
		t.providers[p] = true
	}
	t.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_request_duration_seconds",
		Help: "Time to answer a request, by route (upstream or gateway) and status class.", Buckets: latencyBuckets}, []string{"route", "code"})
	t.inflight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "gatehouse_requests_in_flight", Help: "Requests being answered now."})
	t.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_upstream_duration_seconds",
		Help: "Time to the upstream's response headers, by status class (requests that got no response are not counted here).", Buckets: latencyBuckets}, []string{"code"})
	t.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_logins_total",
		Help: "Login attempts (first factor), by method and result."}, []string{"method", "result"})
	t.second = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_second_factor_total",
		Help: "Second-factor attempts, by type and result."}, []string{"type", "result"})
	t.federated = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_federated_logins_total",
		Help: "Logins through an identity provider, by provider and result."}, []string{"provider", "result"})
	t.blocks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_network_blocks_total",
		Help: "Requests and logins the network guard refused, by rule."}, []string{"rule"})
	t.created = prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_sessions_created_total", Help: "Logins that created a session."})
	t.ended = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_sessions_ended_total",
		Help: "Sessions ended, by reason (logout, idle_timeout, absolute_lifetime, revoked, …)."}, []string{"reason"})
	t.storeErrs = prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_store_unavailable_total",
		Help: "Requests refused because the session store or directory could not be reached."})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_build_info", Help: "The running build (value 1)."}, []string{"version"})
	build.WithLabelValues(version).Set(1)
	t.reg.MustRegister(t.requests, t.inflight, t.upstream, t.logins, t.second, t.federated, t.blocks, t.created, t.ended, t.storeErrs, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return t
}

// classOf is a status class label ("2xx").
func classOf(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// observeRequest records one answered request.
func (t *telemetry) observeRequest(r *http.Request, status int, d time.Duration) {
	route := "upstream"
	if strings.HasPrefix(r.URL.Path, "/.gatehouse/") {
		route = "gateway"
	}
	t.requests.WithLabelValues(route, classOf(status)).Observe(d.Seconds())
}

// bounded keeps a label value to a known set.
func bounded(v string, known ...string) string {
	for _, k := range known {
		if v == k {
			return v
		}
	}
	return "other"
}

var (
	loginMethods  = []string{"password", "google", "oidc", "saml", "api", "api_key"}
	factorTypes   = []string{"totp", "recovery_code", "remembered_device"}
	blockRules    = []string{"deny_list", "tor", "anonymizer", "org_allowlist", "role_allowlist", "user_allowlist", "api_allowlist", "unverifiable", "allowlist"}
	endedReasons  = []string{"logout", "idle_timeout", "absolute_lifetime", "revoked", "mfa_required", "user_disabled", "revocation", "admin_logout"}
	loginResults  = map[string]string{audit.LoginSuccess: "success", audit.LoginFailure: "failure", audit.LoginLockout: "lockout"}
	secondResults = map[string]string{audit.MFASuccess: "success", audit.MFAFailure: "failure", audit.MFALockout: "lockout"}
)

// Observe counts a security event from the audit stream (the audit
// recorder calls it for every event).
func (t *telemetry) Observe(_ context.Context, e audit.Event) {
	switch {
	case loginResults[e.Event] != "":
		result := loginResults[e.Event]
		first, _, _ := strings.Cut(e.Detail["method"], "+")
		if p := e.Detail["provider"]; p != "" {
			t.federated.WithLabelValues(t.provider(p), result).Inc()
			if first == "" {
				first = "oidc"
			}
		}
		if first == "" {
			first = "password"
		}
		t.logins.WithLabelValues(bounded(first, loginMethods...), result).Inc()
		if e.Event == audit.LoginSuccess {
			t.created.Inc()
		}
	case secondResults[e.Event] != "":
		t.second.WithLabelValues(bounded(e.Detail["method"], factorTypes...), secondResults[e.Event]).Inc()
	case e.Event == audit.NetworkBlocked:
		t.blocks.WithLabelValues(bounded(e.Detail["rule"], blockRules...)).Inc()
	case e.Event == audit.Logout:
		t.ended.WithLabelValues("logout").Inc()
	case e.Event == audit.SessionExpired, e.Event == audit.SessionRevoked:
		t.ended.WithLabelValues(bounded(e.Detail["reason"], endedReasons...)).Inc()
	case e.Event == audit.StoreOutage:
		t.storeErrs.Inc()
	}
}

func (t *telemetry) provider(p string) string {
	if t.providers[p] {
		return p
	}
	return "other"
}

// instrumentUpstream times the upstream round trip.
func (t *telemetry) instrumentUpstream(next http.RoundTripper) http.RoundTripper {
	return promhttp.InstrumentRoundTripperDuration(t.upstreamObserver(), next)
}

// upstreamObserver adapts the histogram to promhttp's "code" label,
// reduced to a class so the label set stays small.
func (t *telemetry) upstreamObserver() prometheus.ObserverVec { return classVec{t.upstream} }

// classVec maps promhttp's code label ("200") to a class ("2xx").
type classVec struct{ *prometheus.HistogramVec }

func (c classVec) With(l prometheus.Labels) prometheus.Observer {
	code, _ := strconv.Atoi(l["code"])
	return c.HistogramVec.WithLabelValues(classOf(code))
}

func (c classVec) GetMetricWith(l prometheus.Labels) (prometheus.Observer, error) {
	return c.With(l), nil
}
func (c classVec) WithLabelValues(v ...string) prometheus.Observer {
	code := 0
	if len(v) > 0 {
		code, _ = strconv.Atoi(v[0])
	}
	return c.HistogramVec.WithLabelValues(classOf(code))
}
func (c classVec) GetMetricWithLabelValues(v ...string) (prometheus.Observer, error) {
	return c.WithLabelValues(v...), nil
}
func (c classVec) CurryWith(prometheus.Labels) (prometheus.ObserverVec, error) { return c, nil }
func (c classVec) MustCurryWith(prometheus.Labels) prometheus.ObserverVec      { return c }
