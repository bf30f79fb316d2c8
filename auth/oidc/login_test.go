package oidc_test

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
)

func TestLogin(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			h := corp(t)
			h.p.Set(func(k *oidctest.Knobs) { k.Alg = alg })
			res := h.login(t, "/deals?id=7")
			checks := []struct {
				name      string
				got, want any
			}{
				{"Subject", res.Subject, "user-1"},
				{"Issuer", res.Issuer, h.p.Issuer},
				{"Email", res.Email, "alice@corp.example"},
				{"EmailVerified", res.EmailVerified, true},
				{"Name", res.Name, "Alice Example"},
				{"Groups", strings.Join(res.Groups, ","), "CRM-Admins,North"},
				{"AMR", strings.Join(res.AMR, ","), "pwd,mfa"},
				{"Redirect", res.Redirect, "/deals?id=7"},
				{"Raw[sub]", res.Raw["sub"], "user-1"},
				{"Method", h.c.Method(), auth.MethodOIDC},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
				}
			}
		})
	}
}

func TestLoginGoogle(t *testing.T) {
	h := google(t, "corp.example")
	res := h.login(t, "/")
	if res.HostedDomain != "corp.example" {
		t.Errorf("HostedDomain: got %q, want corp.example", res.HostedDomain)
	}
	if got := h.p.LastAuthorizeRequest().Get("hd"); got != "corp.example" {
		t.Errorf("hd hint: got %q, want corp.example", got)
	}
	if got := h.c.Method(); got != auth.MethodGoogle {
		t.Errorf("Method: got %q, want %q", got, auth.MethodGoogle)
	}
}

// TestAuthorizationRequest checks what Start asks the provider for and
// that the token request carries the verifier matching the challenge.
func TestAuthorizationRequest(t *testing.T) {
	h := corp(t)
	h.login(t, "/")
	q := h.p.LastAuthorizeRequest()
	want := map[string]string{
		"response_type": "code", "client_id": h.p.ClientID, "redirect_uri": h.p.RedirectURL,
		"scope": "openid email profile groups", "code_challenge_method": "S256",
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if got := len(q.Get(k)); got != 43 {
			t.Errorf("%s: got %d characters, want 43 (256 bits)", k, got)
		}
	}
	tq := h.p.LastTokenRequest()
	if got, want := oauth2.S256ChallengeFromVerifier(tq.Get("code_verifier")), q.Get("code_challenge"); got != want {
		t.Errorf("S256(code_verifier): got %q, want the challenge %q", got, want)
	}
	if tq.Has("client_id") {
		t.Errorf("token request: got client_id in the form, want client_secret_basic only")
	}
}

func TestClientSecretPost(t *testing.T) {
	h := corp(t, oidctest.WithKnobs(oidctest.Knobs{
		TokenAuth: "client_secret_post", User: oidctest.User{Subject: "u-post"},
	}))
	if got := h.login(t, "/").Subject; got != "u-post" {
		t.Errorf("Subject: got %q, want u-post", got)
	}
	if got := h.p.LastTokenRequest().Get("client_id"); got != h.p.ClientID {
		t.Errorf("client_id in form: got %q, want %q", got, h.p.ClientID)
	}
}

// TestOptionalClaims covers what a correct provider may leave out or
// shape differently: at_hash, the iss response parameter when it does
// not support RFC 9207, email, and string-valued booleans and lists.
func TestOptionalClaims(t *testing.T) {
	tests := []struct {
		name  string
		knobs oidctest.Knobs
		check func(oidc.Result) bool
	}{
		{"no at_hash", oidctest.Knobs{AtHash: oidctest.AtHashOmit, User: oidctest.User{Subject: "s"}},
			func(r oidc.Result) bool { return r.Subject == "s" }},
		{"no iss support", oidctest.Knobs{NoIssParameter: true, User: oidctest.User{Subject: "s"}},
			func(r oidc.Result) bool { return r.Subject == "s" }},
		{"no email", oidctest.Knobs{User: oidctest.User{Subject: "s"}},
			func(r oidc.Result) bool { return r.Email == "" && !r.EmailVerified }},
		{"string claims", oidctest.Knobs{User: oidctest.User{Subject: "s", Email: "a@corp.example",
			Extra: map[string]any{"email_verified": "true", "groups": "North", "amr": "pwd"}}},
			func(r oidc.Result) bool {
				return r.EmailVerified && slices.Equal(r.Groups, []string{"North"}) && slices.Equal(r.AMR, []string{"pwd"})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := corp(t, oidctest.WithKnobs(tt.knobs))
			if res := h.login(t, "/"); !tt.check(res) {
				t.Errorf("got result %+v, want it to pass the check", res)
			}
		})
	}
}

func TestBoundLogin(t *testing.T) {
	h := corp(t)
	authURL, err := h.c.StartBound(t.Context(), "/", "browser-cookie-value")
	if err != nil {
		t.Fatalf("StartBound: %v", err)
	}
	loc, err := h.p.Approve(authURL)
	if err != nil {
		t.Fatalf("Approve: %v", err)
	}
	if _, err := h.c.CallbackBound(t.Context(), loc.Query(), "browser-cookie-value"); err != nil {
		t.Fatalf("CallbackBound: got %v, want success", err)
	}
}

func TestStartRedirectTooLong(t *testing.T) {
	h := corp(t)
	if _, err := h.c.Start(t.Context(), "/"+strings.Repeat("a", 5000)); err == nil {
		t.Fatal("Start: got nil error for a 5000-byte rd, want an error")
	}
}

func TestNewDiscoveryIssuerMismatch(t *testing.T) {
	p := oidctest.New(t, oidctest.WithKnobs(oidctest.Knobs{DiscoveryIssuer: "https://evil.example"}))
	cfg := oidc.Config{ID: "corp", Type: oidc.TypeOIDC, Issuer: p.Issuer, ClientID: "c", ClientSecret: "s",
		RedirectURL: p.RedirectURL}
	if _, err := oidc.New(t.Context(), cfg, nil, p.Client(), nil); err == nil {
		t.Fatal("New without a store: got nil error, want one")
	}
	h := corp(t) // a working store to pass
	if _, err := oidc.New(t.Context(), cfg, h.store, p.Client(), nil); err == nil {
		t.Fatal("New: got nil error for a discovery document naming another issuer, want one")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := oidc.Config{ID: "corp", Type: oidc.TypeOIDC, Issuer: "https://login.corp.example",
		ClientID: "c", ClientSecret: "s", RedirectURL: "https://gw.example/.gatehouse/oidc/corp/callback"}
	tests := []struct {
		name string
		mod  func(*oidc.Config)
		want string // substring of the error; "" for valid
	}{
		{"valid", func(*oidc.Config) {}, ""},
		{"google default issuer", func(c *oidc.Config) { c.Type, c.Issuer = oidc.TypeGoogle, "" }, ""},
		{"loopback http", func(c *oidc.Config) { c.Issuer = "http://127.0.0.1:8080" }, ""},
		{"bad id", func(c *oidc.Config) { c.ID = "../x" }, "providers[../x].id"},
		{"bad type", func(c *oidc.Config) { c.Type = "saml" }, ".type"},
		{"http issuer", func(c *oidc.Config) { c.Issuer = "http://login.corp.example" }, ".issuer: must use https"},
		{"no issuer", func(c *oidc.Config) { c.Issuer = "" }, ".issuer: required"},
		{"no client id", func(c *oidc.Config) { c.ClientID = "" }, ".client_id: required"},
		{"no secret", func(c *oidc.Config) { c.ClientSecret = "" }, ".client_secret: required"},
		{"relative redirect", func(c *oidc.Config) { c.RedirectURL = "/cb" }, ".redirect_url"},
		{"hd on oidc", func(c *oidc.Config) { c.HostedDomains = []string{"corp.example"} }, ".hosted_domains"},
		{"alg none", func(c *oidc.Config) { c.Algs = []string{"none"} }, ".algs"},
		{"alg HS256", func(c *oidc.Config) { c.Algs = []string{"HS256"} }, ".algs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestConfigValidateAll checks that every problem is reported at once.
func TestConfigValidateAll(t *testing.T) {
	err := oidc.Config{ID: "x"}.Validate()
	for _, key := range []string{".type", ".issuer", ".client_id", ".client_secret", ".redirect_url"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("got %v, want it to name %s", err, key)
		}
	}
}
