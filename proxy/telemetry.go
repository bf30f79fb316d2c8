package proxy

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
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
	webhooks  *prometheus.CounterVec
	whQueue   *prometheus.GaugeVec
	providers map[string]bool
	// reqObs and upObs are the histograms' series, resolved once:
	// [route: upstream, gateway][status class].
	reqObs [2][len(statusClasses)]prometheus.Observer
	upObs  [len(statusClasses)]prometheus.Observer
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
	t.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_webhook_events_total",
		Help: "Session-end notifications to the upstream (upstream_notify), by result: delivered, retried (an attempt failed), failed (given up), enqueue_error (not queued)."}, []string{"result"})
	t.whQueue = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_webhook_queue",
		Help: "Session-end notifications in the directory's outbox, by state (pending, failed), as a sender last counted them."}, []string{"state"})
	for i, class := range statusClasses {
		t.reqObs[0][i] = t.requests.WithLabelValues("upstream", class)
		t.reqObs[1][i] = t.requests.WithLabelValues("gateway", class)
		t.upObs[i] = t.upstream.WithLabelValues(class)
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_build_info", Help: "The running build (value 1)."}, []string{"version"})
	build.WithLabelValues(version).Set(1)
	t.reg.MustRegister(t.requests, t.inflight, t.upstream, t.logins, t.second, t.federated, t.blocks, t.created, t.ended, t.storeErrs, t.webhooks, t.whQueue, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return t
}

// statusClasses are the code label's values; classIndex picks one
// without formatting a string per request.
var statusClasses = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func classIndex(code int) int {
	if code < 100 || code > 599 {
		return 0
	}
	return code / 100
}

// observeRequest records one answered request through an observer
// resolved at start: no label formatting or lookup on the hot path.
func (t *telemetry) observeRequest(r *http.Request, status int, d time.Duration) {
	route := 0
	if strings.HasPrefix(r.URL.Path, "/.gatehouse/") {
		route = 1
	}
	t.reqObs[route][classIndex(status)].Observe(d.Seconds())
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
	loginMethods = []string{"password", "google", "oidc", "saml", "api", "api_key"}
	factorTypes  = []string{"totp", "email_otp", "sms_otp", "recovery_code", "remembered_device"}
	blockRules   = []string{policy.RuleDenyList, policy.RuleTor, policy.RuleAnonymous, policy.RuleOrgAllowlist, policy.RuleRoleAllowlist,
		policy.RuleUserAllowlist, policy.RuleAPIAllowlist, policy.RuleUnverifiable, policy.RuleInvalidAddr}
	endedReasons  = []string{"logout", "idle_timeout", "absolute_lifetime", "revoked", "mfa_required", "user_disabled", "revocation", "admin_logout", "logout_all", "backchannel_logout"}
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

// webhookResults are the result label's values (auth/webhook's results).
var webhookResults = []string{"delivered", "retried", "failed", "enqueue_error"}

// WebhookMetrics counts the upstream's session-end notifications; it
// satisfies auth/webhook's Metrics.
type WebhookMetrics interface {
	WebhookResult(result string)
	WebhookQueue(pending, failed int64)
}

type webhookMetrics struct{ t *telemetry }

func (m webhookMetrics) WebhookResult(result string) {
	m.t.webhooks.WithLabelValues(bounded(result, webhookResults...)).Inc()
}

func (m webhookMetrics) WebhookQueue(pending, failed int64) {
	m.t.whQueue.WithLabelValues("pending").Set(float64(pending))
	m.t.whQueue.WithLabelValues("failed").Set(float64(failed))
}

// WebhookMetrics is where the upstream notifications are counted.
func (g *Gateway) WebhookMetrics() WebhookMetrics { return webhookMetrics{g.tele} }

func (t *telemetry) provider(p string) string {
	if t.providers[p] {
		return p
	}
	return "other"
}

// instrumentUpstream times the upstream round trip (to its response
// headers) by status class; a trip that got no response is not counted.
func (t *telemetry) instrumentUpstream(next http.RoundTripper) http.RoundTripper {
	return timedTransport{next: next, obs: &t.upObs}
}

type timedTransport struct {
	next http.RoundTripper
	obs  *[len(statusClasses)]prometheus.Observer
}

func (tt timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := tt.next.RoundTrip(r)
	if err == nil {
		tt.obs[classIndex(resp.StatusCode)].Observe(time.Since(start).Seconds())
	}
	return resp, err
}
