package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/proxy/assertion"
	"github.com/gatehouse-auth/gatehouse/proxy/i18n"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
	"github.com/gatehouse-auth/gatehouse/session"
)

// Identity headers sent upstream. Inbound copies, in any spelling, are
// always removed first.
const (
	HeaderUser       = "X-Gatehouse-User"
	HeaderEmail      = "X-Gatehouse-Email"
	HeaderRole       = "X-Gatehouse-Role"
	HeaderGroups     = "X-Gatehouse-Groups"
	HeaderAuthMethod = "X-Gatehouse-Auth-Method"
	HeaderSession    = "X-Gatehouse-Session"
	HeaderAssertion  = "X-Gatehouse-Assertion"
	// HeaderTemplate and HeaderPermissions carry the caller's permission
	// template and its features (comma-separated), so the CRM can hide
	// what the user cannot use.
	HeaderTemplate    = "X-Gatehouse-Template"
	HeaderPermissions = "X-Gatehouse-Permissions"
	HeaderKeyID       = "X-Gatehouse-Key-Id"
	// HeaderDevice is the mobile device id of a device's request.
	HeaderDevice = "X-Gatehouse-Device"
)

// NewTransport is the upstream transport: many idle connections per host,
// because Go's default of two makes most proxied requests dial anew
// (measured: 0.48x throughput).
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // never send CRM traffic through an environment proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
}

// BufferPool recycles the 32 KiB copy buffers ReverseProxy would otherwise
// allocate per response (measured 1.2-1.4x throughput). Exported so the
// load test's bare proxy uses exactly the gateway's tuning.
type BufferPool struct{ p sync.Pool }

func (b *BufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *BufferPool) Put(buf []byte) { b.p.Put(&buf) }

func (g *Gateway) newReverseProxy(t http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:    g.rewrite,
		Transport:  t,
		BufferPool: &BufferPool{},
		ErrorLog:   nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return // the client went away, or a tunnel's session ended
			}
			g.metrics.inc(outcomeBadGateway)
			g.render.Error(w, r, web.ErrBadGateway.With(err))
		},
	}
}

var errUpgrade = &web.Error{Status: http.StatusBadRequest, Code: "upgrade_refused",
	Message: "Only WebSocket upgrades are forwarded."}

// serveUpstream is the hot path: authenticate, apply the session rules,
// the network guard and authorization, then forward. Any check that
// cannot be made refuses the request.
func (g *Gateway) serveUpstream(w http.ResponseWriter, r *http.Request) {
	cur := g.currentPolicy()
	if cur == nil {
		g.metrics.inc(outcomeUnavailable)
		g.render.Error(w, r, web.ErrUnavailable)
		return
	}
	c := &Caller{Policy: cur}
	r = WithCaller(r, c)
	switch g.admit(w, r, c) {
	case answered:
		return
	case signedOut:
		g.unauthenticated(w, r, c.Ended)
		return
	case stepOwed:
		// Half-authenticated: the second factor is owed first, and the
		// upstream is never reached until it is paid.
		if web.WantsHTML(r) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			http.Redirect(w, r, PendingPath(c.Pending, r.URL.RequestURI()), http.StatusFound)
			return
		}
		e := stepOwedError(c.Pending)
		web.JSON(w, e.Status, map[string]string{"error": e.Code, "message": e.Message})
		return
	}
	if up := r.Header.Get("Upgrade"); up != "" {
		if !headerHasToken(r.Header, "Connection", "upgrade") || !strings.EqualFold(strings.TrimSpace(up), "websocket") {
			// h2c and other protocols would carry requests the gateway
			// never sees (review finding F3); only WebSocket is forwarded.
			g.render.Error(w, r, errUpgrade)
			return
		}
		g.serveTunnel(w, r, c)
		return
	}
	g.metrics.inc(outcomeProxied)
	g.proxy.ServeHTTP(w, r)
}

// admission is how far a request got through the pipeline's checks.
type admission int

const (
	// admitted: every check passed; the request may reach the upstream.
	admitted admission = iota
	// answered: refused, and the refusal has been written.
	answered
	// signedOut: no live credential (c.Ended says why one ended); the
	// caller answers, as a login redirect or a 401.
	signedOut
	// stepOwed: a session with a login step still owed (c.Pending); the
	// caller sends it to that step.
	stepOwed
)

// admit runs the pipeline's checks for a request to the upstream — client
// address, authenticate, session rules, network guard, authorize — on r,
// which carries c (with the policy in force set). The proxy and the
// forward-auth endpoint both decide with it, so the two cannot disagree.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request, c *Caller) admission {
	c.IP = g.clientIP.Resolve(r)
	noteCaller(w, c)
	if err := g.identify(r, c); err != nil {
		g.metrics.inc(outcomeUnavailable)
		g.render.Error(w, r, web.ErrUnavailable.With(err))
		return answered
	}
	if c.Refused != nil {
		g.refuse(w, c.Refused)
		return answered
	}
	if !c.SignedIn() {
		return signedOut
	}
	if !c.Complete() {
		return stepOwed
	}
	if !g.checkNetwork(w, r, false, &c.Identity, c.Kind == auth.KindAPIKey) {
		return answered
	}
	if len(c.Networks) > 0 && !inPrefixes(c.IP, c.Networks) {
		g.audit.Record(r.Context(), audit.Event{Event: audit.APIKeyRefused, UserID: c.Identity.UserID, ClientIP: c.IP.String(),
			Detail: map[string]string{"key_id": c.ID, "reason": "network"}})
		g.render.Error(w, r, web.ErrNetworkBlocked)
		return answered
	}
	if !g.authorizeRoute(w, r, c) {
		return answered
	}
	if g.authorize != nil {
		if err := g.authorize(c, r); err != nil {
			var e *web.Error
			if !errors.As(err, &e) {
				e = web.ErrForbidden.With(err)
			}
			g.render.Error(w, r, e)
			return answered
		}
	}
	return admitted
}

// serveTunnel forwards a WebSocket upgrade and keeps it only as long as
// its session: the tunnel is closed at the session's absolute deadline and
// as soon as a re-check finds the session ended (logout, revocation,
// disabled user, idle timeout) — the re-check runs every TunnelCheck, the
// same bound a revocation takes to reach every replica. An open tunnel
// counts as use of the session (the re-check touches it like a request).
func (g *Gateway) serveTunnel(w http.ResponseWriter, r *http.Request, c *Caller) {
	ctx, cancel := context.WithDeadline(r.Context(), c.Deadline)
	defer cancel()
	if c.Kind == auth.KindSession {
		go g.watchTunnel(ctx, cancel, c)
	}
	g.metrics.inc(outcomeProxied)
	g.proxy.ServeHTTP(w, r.WithContext(ctx))
}

func (g *Gateway) watchTunnel(ctx context.Context, cancel context.CancelFunc, c *Caller) {
	t := time.NewTicker(g.tunnelCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := g.currentPolicy()
		if t := g.policy.RevokedBefore(c.Identity.UserID); cur == nil || g.policy.Disabled(c.Identity.UserID) || (!t.IsZero() && c.Created.Before(t)) {
			cancel()
			return
		}
		s, err := g.sessions.Load(ctx, c.cookie, g.Limits(&cur.Policy))
		if e := (*session.ExpiredError)(nil); errors.As(err, &e) {
			// This load claimed the session: nobody else reports it.
			g.recordExpired(context.WithoutCancel(ctx), c, string(e.Reason), e.ID, e.UserID, e.Again)
		}
		if err != nil || s.ID != c.ID || !s.Authenticated() {
			// Ended, revoked, or not checkable (store outage): fail closed.
			cancel()
			return
		}
	}
}

// headerHasToken reports whether a comma-separated header lists token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// refuse answers a credential refused with a reason for the client.
func (g *Gateway) refuse(w http.ResponseWriter, e *auth.Refused) {
	g.metrics.inc(outcomeUnauthenticated)
	w.Header().Set("Cache-Control", "no-store")
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	if e.Status == http.StatusUnauthorized {
		scheme := e.Scheme
		if scheme == "" {
			scheme = "Bearer"
		}
		code := e.Code
		if code != "use_dpop_nonce" && code != "invalid_dpop_proof" {
			code = "invalid_token"
		}
		w.Header().Set("WWW-Authenticate", scheme+` error="`+code+`"`)
	}
	if e.Nonce != "" {
		w.Header().Set("DPoP-Nonce", e.Nonce)
	}
	web.JSON(w, e.Status, map[string]string{"error": e.Code, "message": e.Message, "error_description": e.Message})
}

func inPrefixes(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// unauthenticated sends a browser to the login page and anything else a
// 401 JSON body; ended says why a credential it carried no longer counts.
func (g *Gateway) unauthenticated(w http.ResponseWriter, r *http.Request, ended string) {
	e := g.signedOut(w, ended)
	if web.WantsHTML(r) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		http.Redirect(w, r, LoginURL(r.URL.RequestURI(), ended), http.StatusFound)
		return
	}
	web.JSON(w, e.Status, map[string]string{"error": e.Code, "message": e.Message})
}

// signedOut does what every "log in first" answer does (the proxy's and
// forward-auth's): counts a request that had no valid credential, clears
// the cookie of one that ended, and returns the refusal, which says why
// a session ended when it did.
func (g *Gateway) signedOut(w http.ResponseWriter, ended string) *web.Error {
	if ended == "" || ended == endedInvalid {
		g.metrics.inc(outcomeUnauthenticated)
	}
	if ended != "" {
		g.cookies.ClearSession(w)
	}
	w.Header().Set("Cache-Control", "no-store")
	if id, ok := Notices[ended]; ok && ended != "logged_out" {
		// English, as every JSON message is; a page shows it as is.
		return &web.Error{Status: http.StatusUnauthorized, Code: "session_expired", Message: i18n.Default().T(id)}
	}
	return web.ErrUnauthenticated
}

// rewrite builds the outbound request. It runs after ReverseProxy removed
// hop-by-hop headers, so nothing the client names in Connection can delete
// what is added here (the reason Director is not used).
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	c := CallerOf(pr.In)
	pr.SetURL(g.upstream)
	// The upstream sees the gateway's public name, never a Host the
	// client chose (also from an absolute-form request line).
	pr.Out.Host = g.public.Host
	// A new map sized for what vouch adds, filled with what may pass:
	// adding 13 headers to the clone ReverseProxy made grew it twice per
	// request (most of vouch's cost in BenchmarkServeUpstream).
	in := pr.Out.Header
	h := make(http.Header, len(in)+len(identityHeaders)+6)
	for k, v := range in {
		if !isGatehouseHeader(k) && !isSpoofableHeader(k) {
			h[k] = v
		}
	}
	pr.Out.Header = h
	web.StripGatewayCookies(h)
	// A credential never travels on: API keys in any of their headers,
	// and Authorization when it carried the key.
	delete(h, "X-Api-Key")
	delete(h, "X-Lsq-Accesskey")
	delete(h, "X-Lsq-Secretkey")
	if c.Kind == auth.KindAPIKey || c.Kind == auth.KindDevice {
		delete(h, "Authorization")
	}
	delete(h, "Dpop")
	g.vouch(h, c, true)
}

// vouch sets the identity headers the gateway vouches for on h — to the
// upstream by the proxy, in the answer by the forward-auth endpoint — and
// the signed assertion; forwarded adds the client address and public
// origin headers (the proxy's). Without an assertion the receiver would
// see unverifiable headers, so when signing fails none is set, and it
// returns false.
func (g *Gateway) vouch(h http.Header, c *Caller, forwarded bool) bool {
	// Every value the gateway sets shares one backing array: one
	// allocation per request instead of one per header. Each header gets
	// a capacity-1 slice, so an append elsewhere cannot write into its
	// neighbour.
	id := &c.Identity
	ip := c.IP.String()
	v := [...]string{
		ip, ip, g.public.Host, g.public.Scheme,
		headerSafe(id.Username), headerSafe(id.Email), headerSafe(id.Role),
		headerSafe(strings.Join(id.Groups, ",")), joinMethods(id.Methods), c.ID,
		c.Grants.Template, c.Grants.Header, "", "", "",
	}
	vals := v[:]
	one := func(i int) []string { return vals[i : i+1 : i+1] }
	if forwarded {
		h["X-Forwarded-For"] = one(0)
		h["X-Real-Ip"] = one(1)
		h["X-Forwarded-Host"] = one(2)
		h["X-Forwarded-Proto"] = one(3)
	}
	h[HeaderUser] = one(4)
	h[HeaderEmail] = one(5)
	h[HeaderRole] = one(6)
	h[HeaderGroups] = one(7)
	h[HeaderAuthMethod] = one(8)
	h[HeaderSession] = one(9)
	h[HeaderTemplate] = one(10)
	h[HeaderPermissions] = one(11)
	if c.Kind == auth.KindAPIKey {
		// The key's id, not a session: X-Gatehouse-Session stays empty.
		vals[13], vals[9] = c.ID, ""
		h[HeaderKeyID] = one(13)
	}
	if c.Kind == auth.KindDevice {
		// The device id; its session is the device's login, not a
		// browser's, so X-Gatehouse-Session stays empty as for keys.
		vals[14], vals[9] = c.ID, ""
		h[HeaderDevice] = one(14)
	}
	tok, err := g.assertions.Token(c.ID, c.Access.Gen, func(cl *assertion.Claims) {
		cl.Subject, cl.Username, cl.Email, cl.Role = id.UserID, id.Username, id.Email, id.Role
		cl.Groups, cl.Methods = id.Groups, id.Methods
		cl.Perms = &assertion.Perms{Template: c.Grants.Template, Features: c.Grants.Features}
	})
	if err != nil {
		g.log.Error("sign assertion", "error", err)
		for _, k := range identityHeaders {
			delete(h, k)
		}
		return false
	}
	vals[12] = tok
	h[HeaderAssertion] = one(12)
	return true
}

// identityHeaders are every header vouch may set but the assertion.
var identityHeaders = [...]string{HeaderUser, HeaderEmail, HeaderRole, HeaderGroups, HeaderAuthMethod, HeaderSession,
	HeaderTemplate, HeaderPermissions, HeaderKeyID, HeaderDevice}

// isGatehouseHeader matches X-Gatehouse-* case-insensitively with "_"
// standing for "-", because some upstream stacks (CGI, PHP, nginx with
// underscores_in_headers) treat X_Gatehouse_User as X-Gatehouse-User.
func isGatehouseHeader(k string) bool { return headerHasPrefix(k, "x-gatehouse-") }

// spoofableHeaders are headers common web stacks read as the client's
// address, the logged-in user or the request path (review finding F14).
// The client may not set them: the gateway removes them and sets the ones
// it vouches for (X-Forwarded-For, X-Real-Ip, X-Forwarded-Host/Proto).
var spoofableHeaders = []string{
	"forwarded", "x-forwarded-for", "x-real-ip", "true-client-ip", "x-client-ip", "cf-connecting-ip",
	"fastly-client-ip", "x-cluster-client-ip", "x-original-forwarded-for",
	"remote-user", "x-remote-user", "x-forwarded-user", "x-forwarded-email", "x-forwarded-preferred-username",
	"x-forwarded-groups", "x-forwarded-access-token", "x-user", "x-email", "x-webauth-user", "x-ms-client-principal-name",
	"x-original-url", "x-rewrite-url", "x-original-uri", "x-forwarded-uri", "x-forwarded-path",
	"x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "x-forwarded-prefix", "x-forwarded-server",
	"x-forwarded-scheme", "x-forwarded-ssl", "x-url-scheme", "front-end-https",
}

// spoofablePrefixes are header families with the same standing
// (oauth2-proxy's and Authelia's X-Auth-Request-*, Remote-*).
var spoofablePrefixes = []string{"x-auth-request-", "remote-"}

// isSpoofableHeader matches those names as isGatehouseHeader does: any
// letter case, "_" for "-".
func isSpoofableHeader(k string) bool {
	for _, p := range spoofablePrefixes {
		if headerHasPrefix(k, p) {
			return true
		}
	}
	for _, n := range spoofableHeaders {
		if len(k) == len(n) && headerHasPrefix(k, n) {
			return true
		}
	}
	return false
}

// headerHasPrefix compares k's start with the lower-case prefix p,
// folding case and reading "_" as "-", without allocating.
func headerHasPrefix(k, p string) bool {
	if len(k) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := k[i]
		if c == '_' {
			c = '-'
		} else if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// headerSafe drops control characters so an identity value can never end a
// header line.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return strings.Map(func(r rune) rune {
				if r < ' ' || r == 0x7f {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}

func joinMethods(m []string) string { return strings.Join(m, "+") }

// errUncleanPath refuses a path whose decoded form has "..", "." or empty
// segments (or a backslash): the route rules could not say what an
// upstream that decodes before routing would make of it.
var errUncleanPath = &web.Error{Status: http.StatusBadRequest, Code: "bad_path",
	Message: "The request path is not in canonical form."}

// authorizeRoute is the authorize step: the caller's permission template
// against the route rules of the access table in force. It sets the
// caller's Grants, which the upstream sees as headers and claims.
func (g *Gateway) authorizeRoute(w http.ResponseWriter, r *http.Request, c *Caller) bool {
	tbl := g.policy.Access()
	if tbl == nil {
		g.metrics.inc(outcomeUnavailable)
		g.render.Error(w, r, web.ErrUnavailable.With(errNoAccessTable))
		return false
	}
	c.Access = tbl
	c.Grants = tbl.GrantsFor(c.Identity.Role, c.Identity.Template)
	if c.Scopes != nil {
		c.Grants = g.narrow(tbl, c.Grants, c.ID, c.Scopes)
	}
	if tbl.HasRules() && !access.CleanPath(r.URL.Path) {
		g.render.Error(w, r, errUncleanPath)
		return false
	}
	d := tbl.Decide(r.Method, r.URL.Path, c.Grants)
	if d.Allowed && tbl.HasRules() {
		d = decideOverrides(tbl, r, c.Grants, d)
	}
	if d.Allowed {
		return true
	}
	g.metrics.inc(outcomeForbidden)
	if c.Kind == auth.KindAPIKey {
		g.audit.Record(r.Context(), audit.Event{Event: audit.APIKeyRefused, UserID: c.Identity.UserID, ClientIP: c.IP.String(),
			Detail: map[string]string{"key_id": c.ID, "reason": "scope", "feature": d.Feature}})
	}
	g.forbidden(w, r, d.Feature)
	return false
}

// narrow returns grants limited to a credential's scopes, remembered per
// credential (a key's scopes never change) and template for the table in
// force; a new table starts the memory over, so it holds only live entries.
func (g *Gateway) narrow(tbl *access.Table, gr *access.Grants, credID string, scopes []string) *access.Grants {
	key := narrowKey{cred: credID, template: gr.Template}
	g.narrowMu.RLock()
	n, ok := g.narrowed[key]
	fresh := g.narrowGen == tbl.Gen
	g.narrowMu.RUnlock()
	if ok && fresh {
		return n
	}
	n = tbl.Narrow(gr, scopes)
	g.narrowMu.Lock()
	if g.narrowGen != tbl.Gen || g.narrowed == nil {
		g.narrowed, g.narrowGen = map[narrowKey]*access.Grants{}, tbl.Gen
	}
	g.narrowed[key] = n
	g.narrowMu.Unlock()
	return n
}

type narrowKey struct{ cred, template string }

// methodOverrideHeaders are the headers web frameworks read as the
// request's real method (Rails, Laravel, Express's method-override,
// ASP.NET, Symfony).
var methodOverrideHeaders = [...]string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// decideOverrides checks the request again as every method an override
// header or a _method query parameter names: an upstream that honours
// them would otherwise serve POST /leads/7 + "X-HTTP-Method-Override:
// DELETE" under the POST rule. The stricter answer wins.
func decideOverrides(tbl *access.Table, r *http.Request, g *access.Grants, d access.Decision) access.Decision {
	check := func(m string) bool {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" || m == r.Method {
			return true
		}
		if o := tbl.Decide(m, r.URL.Path, g); !o.Allowed {
			d = o
			return false
		}
		return true
	}
	for _, h := range methodOverrideHeaders {
		for _, m := range r.Header[h] {
			if !check(m) {
				return d
			}
		}
	}
	if strings.Contains(r.URL.RawQuery, "_method") {
		for _, m := range r.URL.Query()["_method"] {
			if !check(m) {
				return d
			}
		}
	}
	return d
}

var errNoAccessTable = errors.New("no access table: the templates or the policy could not be read")

// forbidden answers a request the caller's template does not allow: a
// page for a browser, else JSON naming the missing feature so a program
// can tell its user what to ask an admin for.
func (g *Gateway) forbidden(w http.ResponseWriter, r *http.Request, feature string) {
	if web.WantsHTML(r) || feature == "" {
		g.render.Error(w, r, web.ErrForbidden.With(fmt.Errorf("route needs feature %q", feature)))
		return
	}
	g.log.Info("request refused", "status", http.StatusForbidden, "code", "forbidden", "feature", feature,
		"path", r.URL.Path, "client_ip", CallerOf(r).IP.String())
	web.JSON(w, http.StatusForbidden, map[string]string{"error": "forbidden", "feature": feature,
		"message": web.ErrForbidden.Message})
}
