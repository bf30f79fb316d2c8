package proxy

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// ForwardAuthPath is the forward-auth endpoint: a proxy in front of the
// CRM (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth) asks
// it whether to let a request through.
const ForwardAuthPath = "/.gatehouse/auth"

// ForwardAuth is the forward-auth route set. GET (and HEAD)
// /.gatehouse/auth runs the proxy's pipeline — client address, network
// guard, authenticate, session rules, authorize — on the original request
// the asking proxy names, and answers:
//
//   - 200 with the identity headers and the signed assertion, exactly as
//     the proxy sends them upstream;
//   - 401 with Location (and, in JSON, login_url) naming the login page,
//     or the login step a half-authenticated session owes;
//   - 403 when network rules or access rules refuse, or when the asking
//     peer is not a trusted proxy;
//   - 400 when the original request is not named unambiguously;
//   - 503 when a check cannot be made (fail closed).
//
// The original request is read from X-Forwarded-Method and
// X-Forwarded-Uri (Traefik, Caddy) or X-Original-Method and
// X-Original-URI (nginx), with X-Forwarded-Host and X-Forwarded-Proto,
// and only from a trusted proxy (trusted_proxies): any other peer is
// refused with 403 whatever it sends, since without the original request
// there is nothing to decide on.
//
// With ?redirect=true a browser's navigation (Accept: text/html, GET or
// HEAD) gets a 302 to the login page instead of the 401: Traefik and
// Caddy hand the answer to the browser as it is, while nginx's
// auth_request accepts only 2xx, 401 and 403 and redirects itself.
type ForwardAuth struct {
	// AllowedHosts are the hosts (as in the Host header: host or
	// host:port) besides public_url's whose original URL may travel
	// absolute as the login page's rd; for any other host rd is the
	// relative path, so a forged X-Forwarded-Host cannot make the login
	// page a redirector to another site.
	AllowedHosts []string
}

// Mount adds the endpoint. It is a Public route of the mux because it
// runs the pipeline itself, on the original request rather than on its
// own.
func (f ForwardAuth) Mount(m *Mux) {
	fa := &forwardAuth{g: m.g, hosts: map[string]bool{strings.ToLower(m.g.public.Host): true}}
	for _, h := range f.AllowedHosts {
		fa.hosts[strings.ToLower(h)] = true
	}
	m.Handle("GET "+ForwardAuthPath, Public, fa.serve)
}

type forwardAuth struct {
	g     *Gateway
	hosts map[string]bool
}

var (
	errForwardUntrusted = &web.Error{Status: http.StatusForbidden, Code: "forward_auth_untrusted",
		Message: "Forward-auth requests are answered only for a trusted proxy."}
	errForwardRequest = &web.Error{Status: http.StatusBadRequest, Code: "forward_auth_bad_request",
		Message: "The forward-auth request does not name one original method and URI (X-Forwarded-Method and X-Forwarded-Uri, or X-Original-Method and X-Original-URI)."}
	errNoAssertion = errors.New("forward-auth: the assertion could not be signed")
)

// original is the request the asking proxy is deciding on.
type original struct {
	*http.Request
	uri   string // as the client sent it (path and query)
	host  string // X-Forwarded-Host, "" when not given
	proto string // X-Forwarded-Proto, lower case, "" when not given
}

func (f *forwardAuth) serve(w http.ResponseWriter, r *http.Request) {
	g := f.g
	w.Header().Set("Cache-Control", "no-store")
	if !g.clientIP.FromTrustedProxy(r) {
		g.render.Error(w, r, errForwardUntrusted)
		return
	}
	o, err := readOriginal(r)
	if err != nil {
		g.render.Error(w, r, errForwardRequest.With(err))
		return
	}
	cur := g.currentPolicy()
	if cur == nil {
		g.metrics.inc(outcomeUnavailable)
		g.render.Error(w, r, web.ErrUnavailable)
		return
	}
	c := &Caller{Policy: cur}
	o.Request = WithCaller(o.Request, c)
	switch g.admit(w, o.Request, c) {
	case answered:
	case signedOut:
		e := g.signedOut(w, c.Ended)
		f.toLogin(w, r, o, f.loginURL(o, c.Ended), e)
	case stepOwed:
		f.toLogin(w, r, o, PendingPath(c.Pending, web.CleanRedirect(o.uri)), stepOwedError(c.Pending))
	case admitted:
		if !g.vouch(w.Header(), c, false) {
			g.render.Error(w, r, web.ErrUnavailable.With(errNoAssertion))
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

var (
	errMFAOwed = &web.Error{Status: http.StatusUnauthorized, Code: "mfa_required",
		Message: "Two-factor authentication is required to continue."}
	errPasswordOwed = &web.Error{Status: http.StatusUnauthorized, Code: "password_change_required",
		Message: "Your password must be changed before you continue."}
)

// stepOwedError is the refusal of a half-authenticated request, naming
// the step it owes.
func stepOwedError(pending string) *web.Error {
	if pending == PendingPassword {
		return errPasswordOwed
	}
	return errMFAOwed
}

// toLogin answers a request that must first log in (or finish a login
// step) at loc: 401 with Location, a page or JSON naming it; or, when the
// asking proxy asked for redirects, a 302 for a browser's navigation.
func (f *forwardAuth) toLogin(w http.ResponseWriter, r *http.Request, o original, loc string, e *web.Error) {
	w.Header().Set("Cache-Control", "no-store")
	nav := web.WantsHTML(o.Request) && (o.Method == http.MethodGet || o.Method == http.MethodHead)
	if nav && r.URL.Query().Get("redirect") == "true" {
		http.Redirect(w, o.Request, loc, http.StatusFound)
		return
	}
	w.Header().Set("Location", loc)
	if web.WantsHTML(o.Request) {
		f.g.render.Page(w, o.Request, e.Status, "message.html", web.PageData{Title: web.StatusTitle(e.Status), Message: e.PageMessage(), LoginLink: true})
		return
	}
	web.JSON(w, e.Status, map[string]string{"error": e.Code, "message": e.Message, "login_url": loc})
}

// loginURL is the login page with rd set to where the login returns: the
// original absolute URL when its host is one the gateway answers for
// (public_url's, forward_auth.allowed_hosts) and its path a safe return
// path; the relative path otherwise ("/" when even that is unsafe).
func (f *forwardAuth) loginURL(o original, ended string) string {
	rd := web.CleanRedirect(o.uri)
	if rd == o.uri && (o.proto == "http" || o.proto == "https") && f.hosts[strings.ToLower(o.host)] {
		rd = o.proto + "://" + o.host + o.uri
	}
	return loginURL(rd, ended)
}

// readOriginal rebuilds the original request from the asking proxy's
// headers: its method and URI (one of each, in either header family; two
// that disagree are refused, since one of them came from the client),
// host and scheme. Everything else — cookies, Authorization, DPoP,
// X-Forwarded-For, Accept — is the request's own: the asking proxy
// copies the client's headers.
func readOriginal(r *http.Request) (original, error) {
	method, err := oneValue(r.Header, "X-Forwarded-Method", "X-Original-Method")
	if err != nil {
		return original{}, err
	}
	if !validMethod(method) {
		return original{}, errors.New("forward-auth: the original method is not an upper-case HTTP method")
	}
	uri, err := oneValue(r.Header, "X-Forwarded-Uri", "X-Original-Uri")
	if err != nil {
		return original{}, err
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil || !strings.HasPrefix(uri, "/") || u.Scheme != "" || u.Host != "" {
		return original{}, errors.New("forward-auth: the original URI is not a path (origin form)")
	}
	// A shallow copy (WithContext), not Clone: the headers are the
	// request's own and the pipeline only reads them, so copying them on
	// every check would buy nothing.
	o := original{Request: r.WithContext(r.Context()), uri: uri}
	if len(r.Header.Values("X-Forwarded-Host")) == 1 {
		o.host = strings.TrimSpace(r.Header.Get("X-Forwarded-Host"))
	}
	if len(r.Header.Values("X-Forwarded-Proto")) == 1 {
		o.proto = strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")))
	}
	o.Method, o.URL, o.RequestURI = method, u, uri
	if o.host != "" {
		o.Host = o.host
	}
	return o, nil
}

// oneValue returns the one value the named headers give together: every
// line of every name must agree, so a client's copy of a header the proxy
// did not overwrite cannot make the gateway decide on another request.
func oneValue(h http.Header, names ...string) (string, error) {
	var v string
	n := 0
	for _, name := range names {
		for _, s := range h.Values(name) {
			s = strings.TrimSpace(s)
			if n > 0 && s != v {
				return "", errors.New("forward-auth: " + names[0] + " and " + names[1] + " disagree")
			}
			v = s
			n++
		}
	}
	if n == 0 || v == "" {
		return "", errors.New("forward-auth: neither " + names[0] + " nor " + names[1] + " is set")
	}
	return v, nil
}

// validMethod accepts what nginx does: upper-case letters, "_" and "-".
// Route rules are written upper case; a lower-case method would match
// none of them while an upstream might still honour it.
func validMethod(m string) bool {
	if len(m) == 0 || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}
