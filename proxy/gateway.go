// Package proxy is Gatehouse's HTTP front: it resolves the client address,
// serves the gateway's own routes under /.gatehouse/ (login, logout, JWKS,
// health), authenticates every other request from its session cookie, and
// forwards it to the upstream with verified identity headers and a signed
// assertion — failing closed whenever a check cannot be made.
//
// It depends on interfaces (session manager, password checker, policy
// source, audit) and the pure policy package, never on a concrete backend;
// cmd/gatehouse wires the concrete parts together.
package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/proxy/assertion"
	"github.com/gatehouse-auth/gatehouse/session"
)

// PasswordChecker is the local password login method.
type PasswordChecker interface {
	Authenticate(ctx context.Context, username, password, clientIP string) (auth.Identity, error)
}

// PolicySource says which login policy is in force and which users are
// disabled, as last read from the directory.
type PolicySource interface {
	Policy() *policy.Versioned
	Disabled(userID string) bool
	// Fresh reports whether the view is recent enough to act on.
	Fresh(maxAge time.Duration) bool
}

// Auditor records security events.
type Auditor interface {
	Record(ctx context.Context, e directory.AuditEvent)
}

// NetworkGuard decides whether a client address may log in or make a
// request (allowlists, deny list, Tor, anonymizers). role and userID are
// empty before the user is known.
type NetworkGuard interface {
	Check(addr netip.Addr, login bool, role, userID string) policy.NetworkVerdict
}

// Sessions is the session manager the gateway uses.
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

// Options configure a Gateway. Every field without a stated default is
// required.
type Options struct {
	Logger         *slog.Logger
	PublicURL      *url.URL
	Upstream       *url.URL
	Transport      http.RoundTripper // default: NewTransport()
	TrustedProxies []netip.Prefix
	Sessions       Sessions
	Password       PasswordChecker
	Policy         PolicySource
	Audit          Auditor
	Assertions     *assertion.Issuer
	Network        NetworkGuard // nil: no network rules
	MFA            SecondFactor // nil: no second factor
	Providers      []FederatedLogin
	Ready          []Check
	// MaxStale is how old the policy view may get before authenticated
	// requests are refused (directory outage); default 10s.
	MaxStale time.Duration
	// PendingLifetime bounds half-authenticated sessions; default 5m.
	PendingLifetime time.Duration
}

// Gateway is the HTTP handler.
type Gateway struct {
	Options
	log      *slog.Logger
	clientIP ClientIP
	cookie   cookieJar
	proxy    *httputil.ReverseProxy
	handler  http.Handler
	metrics  metrics
}

// New builds the gateway handler.
func New(o Options) *Gateway {
	if o.MaxStale == 0 {
		o.MaxStale = 10 * time.Second
	}
	if o.PendingLifetime == 0 {
		o.PendingLifetime = 5 * time.Minute
	}
	if o.Transport == nil {
		o.Transport = NewTransport()
	}
	g := &Gateway{
		Options:  o,
		log:      o.Logger.With("component", "gateway"),
		clientIP: NewClientIP(o.TrustedProxies),
		cookie:   newCookieJar(o.PublicURL),
	}
	g.proxy = g.newReverseProxy()
	g.handler = g.routes()
	return g
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

func (g *Gateway) routes() http.Handler {
	own := http.NewServeMux()
	own.HandleFunc("GET /.gatehouse/login", g.loginPage)
	own.HandleFunc("POST /.gatehouse/login", g.loginSubmit)
	own.HandleFunc("GET /.gatehouse/logout", g.logoutPage)
	own.HandleFunc("POST /.gatehouse/logout", g.logout)
	if g.MFA != nil {
		own.HandleFunc("GET /.gatehouse/2fa", g.twoFactorPage)
		own.HandleFunc("POST /.gatehouse/2fa", g.twoFactorSubmit)
		own.HandleFunc("GET /.gatehouse/2fa/enroll", g.enrollPage)
		own.HandleFunc("POST /.gatehouse/2fa/enroll", g.enrollSubmit)
		own.HandleFunc("POST /.gatehouse/account/2fa/recovery", g.accountRecovery)
		own.HandleFunc("POST /.gatehouse/account/2fa/remove", g.accountRemove)
	}
	own.HandleFunc("GET /.gatehouse/account", g.accountPage)
	own.HandleFunc("GET /.gatehouse/login/{id}", g.providerLogin)
	own.HandleFunc("GET /.gatehouse/oidc/{id}/callback", g.providerCallback("oidc"))
	own.HandleFunc("POST /.gatehouse/saml/{id}/acs", g.providerCallback("saml"))
	own.HandleFunc("GET /.gatehouse/saml/{id}/metadata", g.samlMetadata)
	own.HandleFunc("GET /.gatehouse/jwks.json", g.jwks)
	own.HandleFunc("GET /.gatehouse/healthz", g.healthz)
	own.HandleFunc("GET /.gatehouse/readyz", g.readyz)
	own.Handle("GET /.gatehouse/static/", http.StripPrefix("/.gatehouse/static/", staticFiles()))
	own.HandleFunc("/.gatehouse/", func(w http.ResponseWriter, r *http.Request) { g.renderError(w, r, errNotFound) })

	// Every state-changing gateway route refuses cross-origin browser
	// requests (Sec-Fetch-Site / Origin checks). Proxied requests are the
	// upstream's to judge; the session cookie is SameSite=Lax.
	cop := http.NewCrossOriginProtection()
	// The IdP's POST to the SAML ACS is cross-site by design; it is
	// protected by the assertion's signature, InResponseTo bound to a
	// request this gateway made, and a replay cache instead.
	cop.AddInsecureBypassPattern("POST /.gatehouse/saml/{id}/acs")
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.renderError(w, r, errForbiddenOrigin)
	}))
	guarded := g.securityHeaders(cop.Handler(own))

	mux := http.NewServeMux()
	mux.Handle("/.gatehouse/", guarded)
	mux.HandleFunc("/", g.serveUpstream)
	return mux
}

// securityHeaders adds HSTS on https deployments to every gateway response.
func (g *Gateway) securityHeaders(next http.Handler) http.Handler {
	if g.PublicURL.Scheme != "https" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		next.ServeHTTP(w, r)
	})
}

// limits turns the policy in force into session limits.
func (g *Gateway) limits(p *policy.Policy) session.Limits {
	return session.Limits{Absolute: p.Session.AbsoluteLifetime, Idle: p.Session.IdleTimeout, Pending: g.PendingLifetime}
}

// currentPolicy returns the policy to act on, or nil when the view of the
// directory is too stale to trust (fail closed).
func (g *Gateway) currentPolicy() *policy.Versioned {
	cur := g.Policy.Policy()
	if cur == nil || !g.Policy.Fresh(g.MaxStale) {
		return nil
	}
	return cur
}

func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	failed := map[string]string{}
	for _, c := range g.Ready {
		if err := c.Ping(ctx); err != nil {
			failed[c.Name] = "unreachable"
			g.log.WarnContext(ctx, "readiness check failed", "check", c.Name, "error", err)
		}
	}
	if !g.Policy.Fresh(g.MaxStale) {
		failed["policy"] = "stale"
	}
	if len(failed) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failed": failed})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (g *Gateway) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(g.Assertions.JWKS())
}

// SessionLimits returns the session limits of the policy in force (for
// benchmarks and diagnostics).
func (g *Gateway) SessionLimits() session.Limits {
	return g.limits(&g.Policy.Policy().Policy)
}
