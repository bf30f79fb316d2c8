// Package oidctest is an OpenID Provider for tests. It speaks the real
// protocol over HTTP on 127.0.0.1 — discovery, JWKS, the authorization
// endpoint and the token endpoint, with RS256 or ES256 ID tokens signed by
// keys generated at test time — so the connector under test runs the same
// code paths it runs against Google or a corporate IdP.
//
// It is strict where a good provider is strict (exact redirect_uri, PKCE
// S256 required, single-use codes, authenticated clients), and every
// strictness and every claim can be bent through Knobs, so attack tests can
// make it misbehave the way a compromised, confused or sloppy provider
// would.
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults a test gets unless it sets its own.
const (
	DefaultClientID     = "gatehouse-test"
	DefaultClientSecret = "test-client-secret-0123456789abcdef" // ≥32 bytes, so the HS256 attack can use it
	DefaultRedirectURL  = "https://gw.example/.gatehouse/oidc/corp/callback"
	GoogleRedirectURL   = "https://gw.example/.gatehouse/oidc/google/callback"

	rsaKeyID = "test-rs256"
	ecKeyID  = "test-es256"
)

// User is the person the provider auto-approves as. The fields become ID
// token claims; a zero field is left out of the token.
type User struct {
	Subject       string
	Email         string
	EmailVerified bool
	HostedDomain  string // Google's hd
	Name          string
	Groups        []string
	AMR           []string
	// Extra is merged into the ID token last, so it can add claims or
	// replace any claim above (a nil value removes the claim).
	Extra map[string]any
}

// Provider is a running test OpenID Provider. Its exported fields are
// fixed after New; change behaviour through Set.
type Provider struct {
	Issuer       string // the server's base URL, also the iss it signs
	ClientID     string
	ClientSecret string
	RedirectURL  string // the only redirect_uri it accepts

	srv    *httptest.Server
	rsaKey *rsa.PrivateKey
	ecKey  *ecdsa.PrivateKey

	mu        sync.Mutex
	knobs     Knobs
	now       func() time.Time
	grants    map[string]*grant
	issued    []string // every code and token handed out, for leak checks
	lastAuthz url.Values
	lastToken url.Values
}

// Option configures a Provider at New.
type Option func(*Provider)

// WithKnobs sets the initial behaviour.
func WithKnobs(k Knobs) Option { return func(p *Provider) { p.knobs = k } }

// WithUser sets the user the provider approves as.
func WithUser(u User) Option { return func(p *Provider) { p.knobs.User = u } }

// WithRedirectURL registers a different redirect_uri.
func WithRedirectURL(u string) Option { return func(p *Provider) { p.RedirectURL = u } }

// WithClock makes the provider stamp tokens with now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

// New starts a provider over plain HTTP on 127.0.0.1; it stops when the
// test ends. The default user is a verified corp.example address.
func New(t testing.TB, opts ...Option) *Provider {
	t.Helper()
	p := newProvider(t, DefaultRedirectURL, User{
		Subject: "user-1", Email: "alice@corp.example", EmailVerified: true,
		Name: "Alice Example", Groups: []string{"CRM-Admins", "North"}, AMR: []string{"pwd", "mfa"},
	})
	return p.start(t, httptest.NewServer, opts)
}

// Google starts a provider shaped like Google: HTTPS (use Client to trust
// its certificate), a Workspace user with hd set, Google's callback path.
// Its issuer is its own https://127.0.0.1 URL, so the connector under test
// must be given that issuer instead of https://accounts.google.com.
func Google(t testing.TB, opts ...Option) *Provider {
	t.Helper()
	p := newProvider(t, GoogleRedirectURL, User{
		Subject: "108234567890123456789", Email: "alice@corp.example", EmailVerified: true,
		HostedDomain: "corp.example", Name: "Alice Example",
	})
	return p.start(t, httptest.NewTLSServer, opts)
}

func newProvider(t testing.TB, redirect string, u User) *Provider {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidctest: generate RSA key: %v", err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("oidctest: generate EC key: %v", err)
	}
	return &Provider{
		ClientID: DefaultClientID, ClientSecret: DefaultClientSecret, RedirectURL: redirect,
		rsaKey: rsaKey, ecKey: ecKey, knobs: Knobs{User: u},
		now: time.Now, grants: make(map[string]*grant),
	}
}

func (p *Provider) start(t testing.TB, serve func(http.Handler) *httptest.Server, opts []Option) *Provider {
	for _, o := range opts {
		o(p)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = serve(mux)
	p.Issuer = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// Client returns an HTTP client that trusts the provider's certificate
// (for Google) and works for the plain-HTTP provider too.
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// Set changes the provider's behaviour; it is safe while requests run.
func (p *Provider) Set(f func(*Knobs)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.knobs)
}

func (p *Provider) snapshot() Knobs {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.knobs
}

// LastAuthorizeRequest returns the query of the last /authorize request.
func (p *Provider) LastAuthorizeRequest() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastAuthz
}

// LastTokenRequest returns the form of the last /token request, client
// secret removed.
func (p *Provider) LastTokenRequest() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastToken
}

// Issued returns every code, access token and ID token handed out, so a
// test can check that none of them leaks into an error or a log line.
func (p *Provider) Issued() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...)
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	k := p.snapshot()
	issuer := p.Issuer
	if k.DiscoveryIssuer != "" {
		issuer = k.DiscoveryIssuer
	}
	auth := []string{"client_secret_basic", "client_secret_post"}
	if k.TokenAuth != "" {
		auth = []string{k.TokenAuth}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         issuer,
		"authorization_endpoint":                         p.Issuer + "/authorize",
		"token_endpoint":                                 p.Issuer + "/token",
		"jwks_uri":                                       p.Issuer + "/jwks",
		"response_types_supported":                       []string{"code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256", "ES256"},
		"scopes_supported":                               []string{"openid", "email", "profile", "groups"},
		"token_endpoint_auth_methods_supported":          auth,
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": !k.NoIssParameter,
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &p.rsaKey.PublicKey, KeyID: rsaKeyID, Algorithm: "RS256", Use: "sig"},
		{Key: &p.ecKey.PublicKey, KeyID: ecKeyID, Algorithm: "ES256", Use: "sig"},
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
