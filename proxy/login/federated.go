package login

import (
	"crypto/rand"
	"errors"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

var errNoProvider = &web.Error{Status: http.StatusNotFound, Code: "unknown_provider", Message: "This sign-in method does not exist."}

var errProviderOff = &web.Error{Status: http.StatusForbidden, Code: "method_disabled",
	Message: "This sign-in method is turned off by your organisation's login policy."}

// maxCallback bounds the body of a provider's callback (the SAML POST).
const maxCallback = 1 << 20

// loginBindingTTL is how long a federated login may take at the IdP.
const loginBindingTTL = 10 * time.Minute

func (p *Pages) provider(id string) auth.RedirectLogin {
	for _, pr := range p.providers {
		if pr.ID() == id {
			return pr
		}
	}
	return nil
}

// providerLogin starts a federated login: GET /.gatehouse/login/{id}?rd=…
func (p *Pages) providerLogin(w http.ResponseWriter, r *http.Request) {
	pr, ok := p.enabledProvider(w, r, "")
	if !ok {
		return
	}
	c := proxy.CallerOf(r)
	if c.SignedIn() && !p.gw.CheckNetwork(w, r, true, nil) {
		return
	}
	if !p.allowStart(w, r, c.IP) {
		return
	}
	binding := rand.Text()
	to, err := pr.Start(r.Context(), web.CleanRedirect(r.URL.Query().Get("rd")), binding)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.cookies.SetBinding(w, binding, loginBindingTTL)
	http.Redirect(w, r, to, http.StatusFound)
}

var errTooManyStarts = &web.Error{Status: http.StatusTooManyRequests, Code: "too_many_logins",
	Message: "Too many sign-in attempts from your network. Please wait a few minutes and try again."}

// allowStart bounds the federated logins one client network may start:
// each start keeps a few KiB of state (state, nonce, PKCE verifier or the
// SAML request id) in the shared store for ten minutes, and before this
// bound one client could create thousands a second (review finding F7).
// IPv6 clients count per /64 (clientNetwork).
func (p *Pages) allowStart(w http.ResponseWriter, r *http.Request, ip netip.Addr) bool {
	if p.starts == nil {
		return true
	}
	n, err := p.starts.Incr(r.Context(), "prelogin:"+clientNetwork(ip), p.window)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return false
	}
	if n > int64(p.maxStarts) {
		p.render.Error(w, r, errTooManyStarts)
		return false
	}
	return true
}

// clientNetwork is what per-client limits count by: the address, or for
// IPv6 its /64, the block one subscriber usually holds.
func clientNetwork(ip netip.Addr) string {
	if ip.Is6() {
		if pf, err := ip.Prefix(64); err == nil {
			return pf.Addr().String()
		}
	}
	return ip.String()
}

// enabledProvider finds the route's provider; protocol, when not empty,
// must be the provider's (an OIDC id at the SAML ACS is not a provider).
func (p *Pages) enabledProvider(w http.ResponseWriter, r *http.Request, protocol string) (auth.RedirectLogin, bool) {
	pr := p.provider(r.PathValue("id"))
	if pr == nil || (protocol != "" && pr.Protocol() != protocol) {
		p.render.Error(w, r, errNoProvider)
		return nil, false
	}
	if !proxy.CallerOf(r).Policy.Policy.MethodEnabled(pr.ID()) {
		p.render.Error(w, r, errProviderOff)
		return nil, false
	}
	return pr, true
}

// providerCallback finishes a federated login of the given protocol: the
// OIDC redirect back, or the SAML POST to the ACS.
func (p *Pages) providerCallback(protocol string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if pr, ok := p.enabledProvider(w, r, protocol); ok {
			p.finishFederated(w, r, pr)
		}
	}
}

func (p *Pages) finishFederated(w http.ResponseWriter, r *http.Request, pr auth.RedirectLogin) {
	c := proxy.CallerOf(r)
	ip := c.IP.String()
	binding := p.cookies.Binding(r)
	p.cookies.SetBinding(w, "", 0)
	// A SAML response is a few KiB; nothing a provider sends back needs
	// more than this, and the form parser would otherwise take 10 MiB.
	r.Body = http.MaxBytesReader(w, r.Body, maxCallback)
	res, err := pr.Finish(r, binding)
	if err != nil {
		detail := map[string]string{"provider": pr.ID()}
		var f *auth.Failure
		if errors.As(err, &f) {
			detail["reason"] = f.Reason
		}
		p.audit.Record(r.Context(), audit.Event{Event: audit.LoginFailure, ClientIP: ip, Detail: detail})
		p.render.Error(w, r, refusal(err))
		return
	}
	id := res.Identity
	id.IdPMFA = res.MFA
	if !p.gw.CheckNetwork(w, r, true, &id) {
		return
	}
	p.rememberIdPSession(r.Context(), id, c.Policy.Policy.Session.AbsoluteLifetime)
	if len(res.Detail) > 0 {
		attrs := []any{"provider", pr.ID(), "user_id", id.UserID}
		for _, k := range slices.Sorted(maps.Keys(res.Detail)) {
			attrs = append(attrs, k, res.Detail[k])
		}
		p.gw.Logger().InfoContext(r.Context(), "federated login", attrs...)
	}
	p.afterFirstFactor(w, r, id, web.CleanRedirect(res.Redirect))
}

// refusal is the page for a refused federated login: the provider's own
// words when it gave a *auth.Refusal, a 503 for anything else (an error
// that is not the protocol's, such as a store outage, stays internal).
func refusal(err error) *web.Error {
	var ref *auth.Refusal
	if errors.As(err, &ref) {
		return &web.Error{Status: ref.Status, Code: ref.Code, Message: ref.Message, Arg: ref.Arg, Err: ref.Err}
	}
	var e *web.Error
	if errors.As(err, &e) {
		return e
	}
	return web.ErrUnavailable.With(err)
}

// samlMetadata serves the SP metadata of a SAML provider.
func (p *Pages) samlMetadata(w http.ResponseWriter, r *http.Request) {
	pr := p.provider(r.PathValue("id"))
	m, ok := pr.(auth.MetadataProvider)
	if !ok || pr.Protocol() != "saml" {
		p.render.Error(w, r, errNoProvider)
		return
	}
	data, err := m.Metadata()
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Write(data)
}

func (p *Pages) buttons(enabled func(string) bool, rd string) []web.ProviderButton {
	var out []web.ProviderButton
	for _, pr := range p.providers { // config order, never map order
		if enabled(pr.ID()) {
			out = append(out, web.ProviderButton{ID: pr.ID(), Label: pr.Label(),
				Href: "/.gatehouse/login/" + url.PathEscape(pr.ID()) + "?" + url.Values{"rd": {rd}}.Encode()})
		}
	}
	return out
}
