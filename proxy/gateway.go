// Package proxy is Gatehouse's request pipeline. Every request goes through
// the same steps, once: client address (trusted proxies only) → network
// guard → authenticate (an ordered list of auth.Authenticator, today the
// session cookie) → session rules (disabled user, a second factor the
// policy now demands, a step still owed) → authorize (auth/access: the
// route rules against the caller's permission template) → forward to the
// upstream with verified identity headers and a signed assertion. Any check
// that cannot be made refuses the request.
//
// The gateway's own pages are not here: route sets (proxy/login,
// proxy/account) mount themselves on the gateway's Mux, declaring for each
// route what the pipeline must have established first (Access), and read
// the result as the request's Caller. This package never imports them;
// cmd/gatehouse mounts them. It depends on interfaces (sessions, policy
// source, audit, network guard) and the pure policy package, never on a
// concrete login method or backend.
package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/proxy/assertion"
	"github.com/gatehouse-auth/gatehouse/proxy/brand"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
	"github.com/gatehouse-auth/gatehouse/session"
)

// PolicySource says which login policy is in force and which users are
// disabled, as last read from the directory.
type PolicySource interface {
	Policy() *policy.Versioned
	// Access is the access table in force (route rules and templates);
	// nil means none could be read, and requests are refused.
	Access() *access.Table
	Disabled(userID string) bool
	// RevokedBefore is the time before which the user's sessions should
	// have ended by a revocation not yet applied to the session store
	// (zero when none is pending).
	RevokedBefore(userID string) time.Time
	// Fresh reports whether the view is recent enough to act on.
	Fresh(maxAge time.Duration) bool
}

// Auditor records security events.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// NetworkGuard decides whether a client address may log in or make a
// request (allowlists, deny list, Tor, anonymizers). role and userID are
// empty before the user is known.
type NetworkGuard interface {
	Check(addr netip.Addr, login bool, role, userID string) policy.NetworkVerdict
	// CheckAPI decides for an API-key request (network.allow_api).
	CheckAPI(addr netip.Addr, role, userID string) policy.NetworkVerdict
}

// Sessions is the session manager: what the pipeline and the login pages
// need of it.
type Sessions interface {
	Create(ctx context.Context, s *session.Session, l session.Limits) (session.Ticket, error)
	Load(ctx context.Context, cookie string, l session.Limits) (*session.Session, error)
	Revoke(ctx context.Context, id string) error
}

// Check is a named readiness probe (a store ping).
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Status is a component whose state /readyz shows and /metrics exports
// without deciding readiness: the invalidation channel, for one, degrades
// to reading the store when it is down, which is slower but correct.
type Status struct {
	Name    string
	Detail  func() string
	Metrics func(io.Writer)
}

// Options configure a Gateway. Every field without a stated default is
// required.
type Options struct {
	Logger         *slog.Logger
	PublicURL      *url.URL
	Upstream       *url.URL
	Transport      http.RoundTripper // default: NewTransport()
	TrustedProxies []netip.Prefix
	Sessions       Sessions
	Policy         PolicySource
	Audit          Auditor
	// Assertions signs the X-Gatehouse-Assertion once per session. A
	// concrete type, not an interface: through an interface the claims
	// callback would escape and cost an allocation per request.
	Assertions *assertion.Issuer
	Network    NetworkGuard // nil: no network rules
	// Authenticators run in order after the session cookie; each passes
	// with auth.ErrNoCredentials to the next.
	Authenticators []auth.Authenticator
	// Authorize decides whether a caller may make a request to the
	// upstream; nil allows every authenticated caller. An error that is
	// a *web.Error is shown as it is; any other refuses with 403.
	Authorize func(c *Caller, r *http.Request) error
	Ready     []Check
	Status    []Status
	// MaxStale is how old the policy view may get before authenticated
	// requests are refused (directory outage); default 10s.
	MaxStale time.Duration
	// PendingLifetime bounds half-authenticated sessions; default 5m.
	PendingLifetime time.Duration
	// TunnelCheck is how often an open WebSocket re-checks its session;
	// default 1s, the revocation bound.
	TunnelCheck time.Duration
	// PageTimeout bounds reading a gateway page's request (a login form
	// trickled a byte at a time is cut off); the response gets three
	// times as long. Default 10s.
	PageTimeout time.Duration
	// Version is the build's version (gatehouse_build_info).
	Version string
	// Providers are the configured identity provider ids, the only values
	// the federated-login metric's provider label takes.
	Providers []string
	// AccessLog, when set, receives one line per request (request id,
	// method, path without the query, status, duration, bytes, client,
	// user, login method), as JSON when AccessJSON is set, else in the
	// text handler's key=value form. Close flushes it.
	AccessLog  io.Writer
	AccessJSON bool
	// MaxPages bounds gateway page requests in flight (all but the
	// health, key and static routes); past it they are answered 503 at
	// once, so a flood of slow logins cannot starve the process. Default
	// 256.
	MaxPages int
	// Brand is what the gateway's pages show (name, logo, colour, footer
	// links); nil: the default branding.
	Brand *brand.Brand
}

// Gateway is the HTTP handler: the pipeline and the mux its route sets
// mount on.
type Gateway struct {
	log            *slog.Logger
	public         *url.URL
	upstream       *url.URL
	sessions       Sessions
	policy         PolicySource
	audit          Auditor
	assertions     *assertion.Issuer
	network        NetworkGuard
	authenticators []auth.Authenticator
	// narrowed remembers scope-narrowed grants for table narrowGen.
	narrowMu        sync.RWMutex
	narrowed        map[narrowKey]*access.Grants
	narrowGen       uint64
	draining        atomic.Bool
	authorize       func(*Caller, *http.Request) error
	ready           []Check
	status          []Status
	maxStale        time.Duration
	pendingLifetime time.Duration
	tunnelCheck     time.Duration
	pageTimeout     time.Duration
	pages           chan struct{}

	clientIP ClientIP
	cookies  web.Cookies
	render   *web.Renderer
	proxy    *httputil.ReverseProxy
	metrics  metrics

	access     *accessLog // nil: off
	tele       *telemetry
	requestIDs *requestIDs

	own     *http.ServeMux
	root    *http.ServeMux
	handler http.Handler
}

// New builds the gateway. Route sets are added with Mount before it
// serves.
func New(o Options) *Gateway {
	g := &Gateway{
		log: o.Logger.With("component", "gateway"), public: o.PublicURL, upstream: o.Upstream,
		sessions: o.Sessions, policy: o.Policy, audit: o.Audit, assertions: o.Assertions, network: o.Network,
		authorize: o.Authorize, ready: o.Ready, status: o.Status, maxStale: o.MaxStale, pendingLifetime: o.PendingLifetime,
		tunnelCheck: o.TunnelCheck, pageTimeout: o.PageTimeout,
		clientIP:   NewClientIP(o.TrustedProxies),
		cookies:    web.NewCookies(o.PublicURL),
		requestIDs: newRequestIDs(),
	}
	if o.AccessLog != nil {
		g.access = newAccessLog(o.AccessLog, o.AccessJSON)
	}
	g.tele = newTelemetry(o.Version, o.Providers)
	if g.maxStale == 0 {
		g.maxStale = 10 * time.Second
	}
	if g.pendingLifetime == 0 {
		g.pendingLifetime = 5 * time.Minute
	}
	if g.tunnelCheck == 0 {
		g.tunnelCheck = time.Second
	}
	if g.pageTimeout == 0 {
		g.pageTimeout = 10 * time.Second
	}
	if o.MaxPages == 0 {
		o.MaxPages = 256
	}
	g.pages = make(chan struct{}, o.MaxPages)
	transport := o.Transport
	if transport == nil {
		transport = NewTransport()
	}
	g.render = web.NewRenderer(g.log, g.clientIP.Resolve, o.Brand)
	g.authenticators = append([]auth.Authenticator{&sessionCookie{g: g}}, o.Authenticators...)
	g.proxy = g.newReverseProxy(g.tele.instrumentUpstream(transport))
	g.own = http.NewServeMux()
	g.handler = g.routes()
	(&Mux{g: g}).mountBuiltin()
	return g
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.serveLogged(w, r) }

func (g *Gateway) routes() http.Handler {
	// Every state-changing gateway route refuses cross-origin browser
	// requests (Sec-Fetch-Site / Origin checks). Proxied requests are the
	// upstream's to judge; the session cookie is SameSite=Lax.
	cop := http.NewCrossOriginProtection()
	// The IdP's POST to the SAML ACS is cross-site by design; it is
	// protected by the assertion's signature, InResponseTo bound to a
	// request this gateway made, and a replay cache instead.
	cop.AddInsecureBypassPattern("POST /.gatehouse/saml/{id}/acs")
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.render.Error(w, r, web.ErrCrossOrigin)
	}))
	guarded := g.securityHeaders(cop.Handler(g.own))

	mux := http.NewServeMux()
	g.root = mux
	mux.Handle("/.gatehouse/", guarded)
	mux.HandleFunc("/", g.serveUpstream)
	return mux
}

// securityHeaders adds HSTS on https deployments to every gateway response.
func (g *Gateway) securityHeaders(next http.Handler) http.Handler {
	if g.public.Scheme != "https" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		next.ServeHTTP(w, r)
	})
}

// Limits turns a policy into session limits.
func (g *Gateway) Limits(p *policy.Policy) session.Limits {
	return session.Limits{Absolute: p.Session.AbsoluteLifetime, Idle: p.Session.IdleTimeout, Pending: g.pendingLifetime}
}

// SessionLimits returns the session limits of the policy in force (for
// benchmarks and diagnostics).
func (g *Gateway) SessionLimits() session.Limits {
	return g.Limits(&g.policy.Policy().Policy)
}

// currentPolicy returns the policy to act on, or nil when the view of the
// directory is too stale to trust (fail closed).
func (g *Gateway) currentPolicy() *policy.Versioned {
	cur := g.policy.Policy()
	if cur == nil || !g.policy.Fresh(g.maxStale) {
		return nil
	}
	return cur
}

// Render is the page and error renderer the route sets share.
func (g *Gateway) Render() *web.Renderer { return g.render }

// Cookies is the gateway's cookie set.
func (g *Gateway) Cookies() web.Cookies { return g.cookies }

// Sessions is the session manager the pipeline authenticates with.
func (g *Gateway) Sessions() Sessions { return g.sessions }

// ClientAddr is the request's client address (X-Forwarded-For read
// only from trusted proxies), for routes that get no Caller.
func (g *Gateway) ClientAddr(r *http.Request) netip.Addr { return g.clientIP.Resolve(r) }

// Audit is the audit recorder.
func (g *Gateway) Audit() Auditor { return g.audit }

// Assertions is the assertion issuer.
func (g *Gateway) Assertions() *assertion.Issuer { return g.assertions }

// Logger is the gateway's logger.
func (g *Gateway) Logger() *slog.Logger { return g.log }

// ObserveEvent counts a security event in the metrics; the audit
// recorder calls it for every event it records.
func (g *Gateway) ObserveEvent(ctx context.Context, e audit.Event) { g.tele.Observe(ctx, e) }

// Close flushes the access log and stops its flusher; the gateway must
// not serve after.
func (g *Gateway) Close() {
	if g.access != nil {
		g.access.Close()
	}
}

// Drain marks the gateway as shutting down: /readyz answers 503 from now
// on, so load balancers stop sending it new requests, while it goes on
// serving the ones that still come.
func (g *Gateway) Drain() { g.draining.Store(true) }

// DueSessions ends sessions whose deadline passed unseen
// (session.Manager.EndDue).
type DueSessions interface {
	EndDue(ctx context.Context, l session.Limits, batch int, ended func(session.Record, session.Reason)) (int, error)
}

// dueBatch is how many sessions one store read of a sweep covers.
const dueBatch = 500

// errStalePolicy: the policy's lifetimes are not known well enough to end
// sessions by them.
var errStalePolicy = errors.New("proxy: the login policy in force is not known; no session ended")

// EndDueSessions ends, under the policy in force, the sessions and device
// logins nobody presented after their idle timeout or absolute lifetime,
// and records each as the session_expired event a late request would
// have (via: sweep), so the CRM hears of a user who simply closed the
// browser. Every replica may run it: each end is claimed in the store
// once.
func (g *Gateway) EndDueSessions(ctx context.Context, d DueSessions) (int, error) {
	cur := g.currentPolicy()
	if cur == nil {
		return 0, errStalePolicy
	}
	return d.EndDue(ctx, g.Limits(&cur.Policy), dueBatch, func(r session.Record, reason session.Reason) {
		detail := map[string]string{"reason": string(reason), "via": "sweep"}
		if r.Meta.Client != "" {
			detail["device"] = r.ID
		} else {
			detail["session"] = r.ID
		}
		g.audit.Record(ctx, audit.Event{Event: audit.SessionExpired, UserID: r.UserID, Detail: detail})
	})
}
