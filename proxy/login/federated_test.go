package login_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
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
	var idp *oidctest.Provider
	g := gatewaytest.Start(t, gatewaytest.Options{Policy: policy, OpenProviders: func(g *gatewaytest.Gateway) []auth.RedirectLogin {
		idp = oidctest.New(t, oidctest.WithRedirectURL(g.URL+"/.gatehouse/oidc/corp/callback"))
		s := oidc.NewSection(oidc.TypeOIDC)
		s.Issuer, s.ClientID, s.ClientSecret = idp.Issuer, idp.ClientID, idp.ClientSecret
		s.SetDefaults()
		public, _ := url.Parse(g.URL)
		l, err := s.Open(context.Background(), federation.Env{ID: "corp", Label: "Corp SSO", Rule: federation.Rule{Match: "email"},
			Users: g.Dir, PublicURL: public, Transactions: g.Store, Now: g.Clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return []auth.RedirectLogin{l}
	}})
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
