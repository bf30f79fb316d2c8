package oidc_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

func TestSectionValidate(t *testing.T) {
	public, _ := url.Parse("https://crm.example.com")
	ok := func(typ string) oidc.Section {
		s := oidc.Section{Type: typ, ClientID: "c", ClientSecretFile: "/run/secrets/x"}
		if typ == oidc.TypeOIDC {
			s.Issuer = "https://login.corp.example"
		}
		return s
	}
	tests := []struct {
		name   string
		typ    string
		mod    func(*oidc.Section)
		public string
		want   string // "" for valid
	}{
		{"oidc", oidc.TypeOIDC, func(*oidc.Section) {}, "", ""},
		{"google", oidc.TypeGoogle, func(s *oidc.Section) { s.HostedDomains = []string{"corp.example"} }, "", ""},
		{"loopback gateway over http", oidc.TypeOIDC, func(*oidc.Section) {}, "http://127.0.0.1:8080", ""},
		{"hosted_domains on oidc", oidc.TypeOIDC, func(s *oidc.Section) { s.HostedDomains = []string{"corp.example"} }, "", "providers[0].hosted_domains: only for type \"google\""},
		{"google with another issuer", oidc.TypeGoogle, func(s *oidc.Section) { s.Issuer = "https://evil.example" }, "", "providers[0].issuer: is fixed"},
		{"http issuer", oidc.TypeOIDC, func(s *oidc.Section) { s.Issuer = "http://login.corp.example" }, "", "providers[0].issuer: must use https"},
		{"no client_id", oidc.TypeOIDC, func(s *oidc.Section) { s.ClientID = "" }, "", "providers[0].client_id: required"},
		{"no secret", oidc.TypeOIDC, func(s *oidc.Section) { s.ClientSecretFile = "" }, "", "providers[0].client_secret_file: set exactly one"},
		{"two secrets", oidc.TypeOIDC, func(s *oidc.Section) { s.ClientSecret = "s" }, "", "providers[0].client_secret_file: set exactly one"},
		{"no openid scope", oidc.TypeOIDC, func(s *oidc.Section) { s.Scopes = []string{"email"} }, "", "providers[0].scopes: must include openid"},
		{"gateway over plain http", oidc.TypeOIDC, func(*oidc.Section) {}, "http://crm.example.com", "providers[0].redirect_url: the callback URL must use https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok(tt.typ)
			tt.mod(&s)
			s.SetDefaults()
			u := public
			if tt.public != "" {
				u, _ = url.Parse(tt.public)
			}
			err := s.Validate("providers[0]", "corp", u)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestSectionOpensALogin opens a section against a real test provider and
// runs a login through the auth.RedirectLogin it returns: the claims map
// to the directory user, amr says whether the IdP did MFA, and a refused
// callback is a refusal worded for the user.
func TestSectionOpensALogin(t *testing.T) {
	gw := "http://127.0.0.1:1"
	p := oidctest.New(t, oidctest.WithRedirectURL(gw+oidc.CallbackPath("corp")),
		oidctest.WithUser(oidctest.User{Subject: "s-1", Email: "alice@corp.example", EmailVerified: true, AMR: []string{"pwd", "otp"}}))
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(p.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqldir.Open(t.Context(), sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	alice := &directory.User{Username: "alice", Email: "alice@corp.example", Role: "sales"}
	if err := db.CreateUser(t.Context(), alice); err != nil {
		t.Fatal(err)
	}
	store := memory.New(nil)
	t.Cleanup(func() { store.Close() })
	public, _ := url.Parse(gw)
	s := oidc.NewSection(oidc.TypeOIDC)
	s.Issuer, s.ClientID, s.ClientSecretFile = p.Issuer, p.ClientID, secret
	s.SetDefaults()
	l, err := s.Open(t.Context(), federation.Env{ID: "corp", Label: "Corp SSO", Rule: federation.Rule{Match: "email"},
		Users: db, PublicURL: public, Transactions: store, Client: p.Client()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if l.ID() != "corp" || l.Protocol() != "oidc" || l.Label() != "Corp SSO" {
		t.Fatalf("got %s %s %s", l.ID(), l.Protocol(), l.Label())
	}
	authURL, err := l.Start(t.Context(), "/deals", "binding")
	if err != nil {
		t.Fatal(err)
	}
	back, err := p.Approve(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Finish(httptest.NewRequest("GET", back.String(), nil), "binding")
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if res.Identity.UserID != alice.ID || res.Identity.Provider != "corp" || res.Identity.Methods[0] != auth.MethodOIDC || !res.MFA || res.Redirect != "/deals" {
		t.Fatalf("got %+v", res)
	}
	// The same callback again: its state is spent.
	_, err = l.Finish(httptest.NewRequest("GET", back.String(), nil), "binding")
	var r *auth.Refusal
	if !errors.As(err, &r) || r.Status != http.StatusBadRequest || r.Code != "federated_state" || !errors.Is(err, oidc.ErrState) {
		t.Fatalf("replayed callback: got %v, want a federated_state refusal", err)
	}
}

func TestMFAFromAMR(t *testing.T) {
	for _, tt := range []struct {
		amr  []string
		want bool
	}{{nil, false}, {[]string{"pwd"}, false}, {[]string{"pwd", "mfa"}, true}, {[]string{"hwk"}, true}, {[]string{"MFA"}, false}} {
		if got := oidc.MFA(tt.amr); got != tt.want {
			t.Errorf("MFA(%v) = %v, want %v", tt.amr, got, tt.want)
		}
	}
}
