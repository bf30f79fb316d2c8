package login_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"github.com/gatehouse-auth/gatehouse/auth/saml"
	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
	"github.com/gatehouse-auth/gatehouse/proxy/i18n"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

// countingProvider counts how many logins were started: each start is
// state a real provider keeps in the shared store.
type countingProvider struct{ starts atomic.Int64 }

func (p *countingProvider) ID() string       { return "corp" }
func (p *countingProvider) Label() string    { return "Corp" }
func (p *countingProvider) Protocol() string { return "oidc" }
func (p *countingProvider) Start(ctx context.Context, rd, binding string) (string, error) {
	p.starts.Add(1)
	return "https://idp.example/authorize", nil
}
func (p *countingProvider) Finish(r *http.Request, binding string) (auth.FederatedResult, error) {
	return auth.FederatedResult{}, errors.New("not used")
}

// TestPreLoginStateFloodBounded: every anonymous GET of a provider's
// login route stored state for ten minutes, 1,000 in 0.4 s from one
// client (review finding F7). Starts are now bounded per client network.
func TestPreLoginStateFloodBounded(t *testing.T) {
	p := &countingProvider{}
	g := gatewaytest.Start(t, gatewaytest.Options{Providers: []auth.RedirectLogin{p}})
	b := gatewaytest.NewBrowser(g.URL)
	refused := 0
	for range 200 {
		resp, _ := b.Get(t, "/.gatehouse/login/corp?rd=%2F")
		switch resp.StatusCode {
		case http.StatusFound:
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("start: %d", resp.StatusCode)
		}
	}
	if n := p.starts.Load(); n > 30 || refused != 200-int(n) {
		t.Fatalf("%d starts reached the provider and %d were refused; want at most 30 and the rest refused", n, refused)
	}
}

// oidcGateway runs a gateway with the real OIDC login method (auth/oidc)
// against a test provider that signs real ID tokens.
func oidcGateway(t *testing.T, policy string) (*gatewaytest.Gateway, *oidctest.Provider) {
	return oidcGatewayWith(t, gatewaytest.Options{Policy: policy}, nil)
}

// oidcGatewayWith is oidcGateway with more options: edit changes the
// provider's section before it is opened.
func oidcGatewayWith(t *testing.T, o gatewaytest.Options, edit func(*oidc.Section)) (*gatewaytest.Gateway, *oidctest.Provider) {
	var idp *oidctest.Provider
	o.OpenProviders = func(g *gatewaytest.Gateway) []auth.RedirectLogin {
		idp = oidctest.New(t, oidctest.WithRedirectURL(g.URL+"/.gatehouse/oidc/corp/callback"))
		s := oidc.NewSection(oidc.TypeOIDC)
		s.Issuer, s.ClientID, s.ClientSecret = idp.Issuer, idp.ClientID, idp.ClientSecret
		if edit != nil {
			edit(s)
		}
		s.SetDefaults()
		public, _ := url.Parse(g.URL)
		l, err := s.Open(context.Background(), federation.Env{ID: "corp", Label: "Corp SSO", Rule: federation.Rule{Match: "email"},
			Users: g.Dir, PublicURL: public, Transactions: g.Store, Now: g.Clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return []auth.RedirectLogin{l}
	}
	g := gatewaytest.Start(t, o)
	return g, idp
}

func oidcLogin(t *testing.T, b *gatewaytest.Browser, idp *oidctest.Provider, rd string) *http.Response {
	t.Helper()
	resp, _, _ := gatewaytest.OIDCLogin(t, b, idp.Issuer, "corp", rd)
	return resp
}

// TestOIDCCallbackThroughPipeline: the OIDC callback route finishes a
// login through the pipeline (network rules, 2FA decision, a new
// session), and a callback replayed in another browser is refused (the
// login is bound to the browser that started it).
func TestOIDCCallbackThroughPipeline(t *testing.T) {
	g, idp := oidcGateway(t, "")
	g.AddUser(t, "alice", alicePW, "sales")
	b := gatewaytest.NewBrowser(g.URL)
	if _, body := b.Get(t, "/.gatehouse/login"); !strings.Contains(body, `id="login-corp"`) {
		t.Fatal("no provider button on the login page")
	}
	resp := oidcLogin(t, b, idp, "/accounts/7")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts/7" {
		t.Fatalf("callback: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := b.Get(t, "/accounts/7"); resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("after the OIDC login: %d %q", resp.StatusCode, body)
	}
	if got := g.Upstream.Last(t).Header.Get("X-Gatehouse-Auth-Method"); got != "oidc" {
		t.Fatalf("auth method %q", got)
	}

	// Someone else's callback URL, opened in this browser: refused.
	victim := gatewaytest.NewBrowser(g.URL)
	resp, _ = victim.Get(t, "/.gatehouse/login/corp?rd=%2F")
	ar, err := victim.Client.Do(mustRequest(t, resp.Header.Get("Location")))
	if err != nil {
		t.Fatal(err)
	}
	ar.Body.Close()
	attacker := gatewaytest.NewBrowser(g.URL)
	if resp, _ := attacker.Get(t, strings.TrimPrefix(ar.Header.Get("Location"), g.URL)); resp.StatusCode == http.StatusSeeOther {
		t.Fatal("a callback from another browser's login logged this one in")
	}
	// An SAML route for an OIDC provider does not exist.
	if resp, _ := b.Do(t, "POST", "/.gatehouse/saml/corp/acs", url.Values{"SAMLResponse": {"x"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("SAML ACS of an OIDC provider: %d", resp.StatusCode)
	}
}

func mustRequest(t *testing.T, u string) *http.Request {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// samlGateway runs a gateway with the real SAML login method (auth/saml,
// crewjam underneath) against a test IdP that signs real assertions.
func samlGateway(t *testing.T) (*gatewaytest.Gateway, *samltest.IdP) {
	idp := samltest.New(t, samltest.User{NameID: "alice@corp.example", NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		Attributes: []samltest.Attribute{
			{Name: saml.ClaimUPN, Values: []string{"alice@corp.example"}},
			{Name: saml.ClaimEmail, Values: []string{"alice@corp.example"}},
		}})
	dir := t.TempDir()
	key, cert := samltest.NewKeyPair(t)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := saml.NewSection()
	s.IDPMetadataFile = write("idp.xml", idp.Metadata())
	s.SPCertFile = write("sp.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	s.SPKeyFile = write("sp.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	s.SetDefaults()
	g := gatewaytest.Start(t, gatewaytest.Options{OpenProviders: func(g *gatewaytest.Gateway) []auth.RedirectLogin {
		public, _ := url.Parse(g.URL)
		l, err := s.Open(context.Background(), federation.Env{ID: "adfs", Label: "ADFS", Rule: federation.Rule{Match: "upn"},
			Users: g.Dir, PublicURL: public, Transactions: g.Store, Now: g.Clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return []auth.RedirectLogin{l}
	}})
	resp, md := gatewaytest.NewBrowser(g.URL).Get(t, "/.gatehouse/saml/adfs/metadata")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SP metadata: %d", resp.StatusCode)
	}
	if err := idp.AddServiceProvider([]byte(md)); err != nil {
		t.Fatal(err)
	}
	return g, idp
}

// TestSAMLACSThroughPipeline: the ACS route takes the IdP's cross-site
// POST (exempt from the origin check, protected by the signature, the
// request binding and the replay cache) and finishes the login through
// the pipeline; the same response posted again is refused.
func TestSAMLACSThroughPipeline(t *testing.T) {
	g, idp := samlGateway(t)
	g.AddUser(t, "alice", alicePW, "sales")
	b := gatewaytest.NewBrowser(g.URL)
	resp, _ := b.Get(t, "/.gatehouse/login/adfs?rd=%2Faccounts%2F7")
	sso := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(sso, "/sso?") {
		t.Fatalf("start: %d %q", resp.StatusCode, sso)
	}
	ir, err := http.Get(sso)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(ir.Body)
	ir.Body.Close()
	action, fields, err := samltest.ParseForm(page)
	if err != nil {
		t.Fatalf("%v\n%s", err, page)
	}
	post := func(b *gatewaytest.Browser) *http.Response {
		resp, _ := b.Do(t, "POST", strings.TrimPrefix(action, g.URL), fields, "Origin", idp.URL, "Sec-Fetch-Site", "cross-site")
		return resp
	}
	if resp := post(b); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts/7" {
		t.Fatalf("ACS: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := b.Get(t, "/accounts/7"); resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("after the SAML login: %d %q", resp.StatusCode, body)
	}
	if got := g.Upstream.Last(t).Header.Get("X-Gatehouse-Auth-Method"); got != "saml" {
		t.Fatalf("auth method %q", got)
	}
	replay := gatewaytest.NewBrowser(g.URL)
	replay.Jar = b.Jar
	if resp := post(replay); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed SAML response: %d, want 401", resp.StatusCode)
	}
}

// failingDelete is the memory store with session deletion down for the
// next n calls, as Redis is in a short outage.
type failingDelete struct {
	session.Backend
	n atomic.Int64
}

func (s *failingDelete) Delete(ctx context.Context, id string) error {
	if s.n.Add(-1) >= 0 {
		return errors.Join(session.ErrUnavailable, io.ErrUnexpectedEOF)
	}
	return s.Backend.Delete(ctx, id)
}

// TestBackchannelLogoutRetryAfterOutage: a logout token naming only the
// provider session (sid) arrives while the store cannot end sessions: it
// gets 503 and ends nothing, and the provider's retry of the same token
// ends the session. The sid's user is read, never consumed, so the retry
// still finds it (it was once taken on the first try and the retry
// answered 200 while ending nothing).
func TestBackchannelLogoutRetryAfterOutage(t *testing.T) {
	st := &failingDelete{Backend: memory.New(nil)}
	g, idp := oidcGatewayWith(t, gatewaytest.Options{Store: st}, func(s *oidc.Section) { s.BackchannelLogout = true })
	g.AddUser(t, "alice", alicePW, "sales")
	idp.Set(func(k *oidctest.Knobs) { k.User.Extra = map[string]any{"sid": "idp-1"} })
	b := gatewaytest.NewBrowser(g.URL)
	if resp := oidcLogin(t, b, idp, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	token := idp.LogoutToken(t, oidctest.Logout{SessionID: "idp-1"})
	post := func() int {
		resp, err := http.PostForm(g.URL+"/.gatehouse/oidc/corp/backchannel-logout", url.Values{"logout_token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	st.n.Store(1)
	if code := post(); code != http.StatusServiceUnavailable {
		t.Fatalf("logout while the store fails: %d, want 503", code)
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the failed logout ended the session anyway: %d", resp.StatusCode)
	}
	if code := post(); code != http.StatusOK {
		t.Fatalf("retry: %d, want 200", code)
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusFound {
		t.Fatalf("after the retried logout: %d, want a redirect to the login page", resp.StatusCode)
	}
	if code := post(); code != http.StatusBadRequest {
		t.Fatalf("the token a third time: %d, want 400 (jti spent)", code)
	}
}

// TestBackchannelLogoutRefusalsThrottled: the public endpoint answers
// 429 once a client network has sent 30 refused tokens (each one a
// signature check, and an unknown key a fetch from the provider), before
// reading a 31st; the provider's valid tokens never count toward it.
func TestBackchannelLogoutRefusalsThrottled(t *testing.T) {
	g, idp := oidcGatewayWith(t, gatewaytest.Options{}, func(s *oidc.Section) { s.BackchannelLogout = true })
	post := func(token string) *http.Response {
		resp, err := http.PostForm(g.URL+"/.gatehouse/oidc/corp/backchannel-logout", url.Values{"logout_token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for range 5 { // valid tokens: never counted
		if resp := post(idp.LogoutToken(t, oidctest.Logout{Subject: "nobody"})); resp.StatusCode != http.StatusOK {
			t.Fatalf("valid token: %d", resp.StatusCode)
		}
	}
	for i := range 30 {
		if resp := post(idp.LogoutToken(t, oidctest.Logout{Subject: "nobody", UnknownKey: true})); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("forged token %d: %d, want 400", i, resp.StatusCode)
		}
	}
	resp := post(idp.LogoutToken(t, oidctest.Logout{Subject: "nobody"}))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 30 refusals: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestFederatedRefusalsLocalized: every refusal a provider can give has
// its page text in the catalogues ("error.<code>"), and the page words it
// in the reader's language with the provider's label filled in.
func TestFederatedRefusalsLocalized(t *testing.T) {
	var codes []string
	codes = append(codes, federation.RefusalCodes()...)
	codes = append(codes, oidc.RefusalCodes()...)
	codes = append(codes, saml.RefusalCodes()...)
	for _, c := range codes {
		if !i18n.Has("error." + c) {
			t.Errorf("no page text error.%s", c)
		}
	}
	g, idp := oidcGateway(t, "") // nobody is in the directory: no_account
	for lang, want := range map[string]string{
		"en": "Your Corp SSO account is not set up for this application.",
		"es": "Tu cuenta de Corp SSO no está configurada para esta aplicación.",
		"hi": "आपका Corp SSO खाता इस एप्लिकेशन के लिए सेट नहीं है।",
	} {
		b := gatewaytest.NewBrowser(g.URL)
		b.SetCookie("gatehouse-lang", lang)
		resp, body, _ := gatewaytest.OIDCLogin(t, b, idp.Issuer, "corp", "/")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want 403 saying %q\n%s", lang, resp.StatusCode, want, body)
		}
	}
}
