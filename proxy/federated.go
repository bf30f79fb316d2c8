package proxy

import (
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// FederatedLogin is an external identity provider (Google, OIDC, SAML)
// offered on the login page. Implementations verify the protocol and map
// the result to a directory user; the gateway runs the rest of the login
// (network rules, 2FA, session) exactly as for a password.
type FederatedLogin interface {
	ID() string
	Label() string
	// Protocol is "oidc" or "saml": which callback and metadata routes
	// belong to this provider (the others answer 404 for its id).
	Protocol() string
	// Start returns where to send the browser to log in, remembering rd.
	// binding is a secret only this browser holds (a short-lived cookie):
	// Finish must present it again, so a callback URL from someone else's
	// login cannot log this browser in (login CSRF).
	Start(ctx context.Context, rd, binding string) (string, error)
	// Finish completes the login from the provider's callback (OIDC) or
	// POST (SAML). Errors the user should see are *Error.
	Finish(r *http.Request, binding string) (FederatedResult, error)
}

// FederatedResult is a completed federated first factor.
type FederatedResult struct {
	Identity auth.Identity
	Redirect string
	// MFA is true when the provider asserted multi-factor authentication
	// in what it signed; policy mfa.federated decides whether it counts.
	MFA    bool
	Detail map[string]string // for the audit event (e.g. created, linked)
}

// SAMLMetadata is implemented by SAML providers: the SP metadata to give
// the IdP administrator.
type SAMLMetadata interface {
	Metadata() ([]byte, error)
}

var errNoProvider = &Error{Status: http.StatusNotFound, Code: "unknown_provider", Message: "This sign-in method does not exist."}

var errProviderOff = &Error{Status: http.StatusForbidden, Code: "method_disabled",
	Message: "This sign-in method is turned off by your organisation's login policy."}

func (g *Gateway) provider(id string) FederatedLogin {
	for _, p := range g.Providers {
		if p.ID() == id {
			return p
		}
	}
	return nil
}

// providerLogin starts a federated login: GET /.gatehouse/login/{id}?rd=…
func (g *Gateway) providerLogin(w http.ResponseWriter, r *http.Request) {
	p, ok := g.enabledProvider(w, r, "")
	if !ok {
		return
	}
	if !g.networkAllowed(w, r, g.clientIP.Resolve(r), true, "", "", "") {
		return
	}
	binding := rand.Text()
	to, err := p.Start(r.Context(), CleanRedirect(r.URL.Query().Get("rd")), binding)
	if err != nil {
		g.renderError(w, r, errUnavailable.with(err))
		return
	}
	g.setBinding(w, binding, loginBindingTTL)
	http.Redirect(w, r, to, http.StatusFound)
}

// loginBindingTTL is how long a federated login may take at the IdP.
const loginBindingTTL = 10 * time.Minute

func (g *Gateway) bindingCookie() string { return g.cookie.name + "-login" }

// setBinding sets (or, with ttl 0, clears) the login binding cookie. The
// SAML IdP returns with a cross-site POST, which carries only
// SameSite=None cookies, so on https the cookie is None (and Secure);
// in plain-http development, browsers refuse None without Secure, so it
// is Lax, which a same-site test IdP still receives.
func (g *Gateway) setBinding(w http.ResponseWriter, value string, ttl time.Duration) {
	c := &http.Cookie{Name: g.bindingCookie(), Value: value, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: g.cookie.secure, SameSite: http.SameSiteLaxMode}
	if ttl == 0 {
		c.MaxAge = -1
	}
	if g.cookie.secure {
		c.SameSite = http.SameSiteNoneMode
	}
	http.SetCookie(w, c)
}

// enabledProvider finds the route's provider; protocol, when not empty,
// must be the provider's (an OIDC id at the SAML ACS is not a provider).
func (g *Gateway) enabledProvider(w http.ResponseWriter, r *http.Request, protocol string) (FederatedLogin, bool) {
	cur := g.currentPolicy()
	if cur == nil {
		g.renderError(w, r, errUnavailable)
		return nil, false
	}
	p := g.provider(r.PathValue("id"))
	if p == nil || (protocol != "" && p.Protocol() != protocol) {
		g.renderError(w, r, errNoProvider)
		return nil, false
	}
	if !cur.Policy.MethodEnabled(p.ID()) {
		g.renderError(w, r, errProviderOff)
		return nil, false
	}
	return p, true
}

// providerCallback finishes a federated login of the given protocol: the
// OIDC redirect back, or the SAML POST to the ACS.
func (g *Gateway) providerCallback(protocol string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := g.enabledProvider(w, r, protocol)
		if ok {
			g.finishFederated(w, r, p)
		}
	}
}

func (g *Gateway) finishFederated(w http.ResponseWriter, r *http.Request, p FederatedLogin) {
	addr := g.clientIP.Resolve(r)
	ip := addr.String()
	var binding string
	if c, err := r.Cookie(g.bindingCookie()); err == nil {
		binding = c.Value
	}
	g.setBinding(w, "", 0)
	res, err := p.Finish(r, binding)
	if err != nil {
		detail := map[string]string{"provider": p.ID()}
		var f *auth.Failure
		if errors.As(err, &f) {
			detail["reason"] = f.Reason
		}
		g.Audit.Record(r.Context(), directory.AuditEvent{Event: audit.LoginFailure, ClientIP: ip, Detail: detail})
		g.metrics.inc(outcomeLoginFailure)
		var e *Error
		if !errors.As(err, &e) {
			e = errUnavailable.with(err)
		}
		g.renderError(w, r, e)
		return
	}
	id := res.Identity
	if !g.networkAllowed(w, r, addr, true, id.Role, id.UserID, id.Username) {
		return
	}
	if len(res.Detail) > 0 {
		attrs := []any{"provider", p.ID(), "user_id", id.UserID}
		for _, k := range slices.Sorted(maps.Keys(res.Detail)) {
			attrs = append(attrs, k, res.Detail[k])
		}
		g.log.InfoContext(r.Context(), "federated login", attrs...)
	}
	cur := g.currentPolicy()
	if cur == nil {
		g.renderError(w, r, errUnavailable)
		return
	}
	g.afterFirstFactor(w, r, id, ip, CleanRedirect(res.Redirect), &cur.Policy, res.MFA)
}

// samlMetadata serves the SP metadata of a SAML provider.
func (g *Gateway) samlMetadata(w http.ResponseWriter, r *http.Request) {
	p := g.provider(r.PathValue("id"))
	m, ok := p.(SAMLMetadata)
	if !ok || p.Protocol() != "saml" {
		g.renderError(w, r, errNoProvider)
		return
	}
	data, err := m.Metadata()
	if err != nil {
		g.renderError(w, r, errUnavailable.with(err))
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Write(data)
}

// providerButton is a login page button.
type providerButton struct {
	ID, Label, Href string
}

func (g *Gateway) buttons(enabled func(string) bool, rd string) []providerButton {
	var out []providerButton
	for _, p := range g.Providers { // config order, never map order
		if enabled(p.ID()) {
			out = append(out, providerButton{ID: p.ID(), Label: p.Label(),
				Href: "/.gatehouse/login/" + url.PathEscape(p.ID()) + "?" + url.Values{"rd": {rd}}.Encode()})
		}
	}
	return out
}
