package oidctest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
)

// These tests pin down that the provider is strict by default; the
// connector's attack tests are only meaningful if it is.

// authorizeURL is a correct authorization request, bent by mod.
func authorizeURL(p *oidctest.Provider, verifier string, mod func(url.Values)) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {p.ClientID}, "redirect_uri": {p.RedirectURL},
		"scope": {"openid email"}, "state": {"s1"}, "nonce": {"n1"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
	if mod != nil {
		mod(q)
	}
	return p.Issuer + "/authorize?" + q.Encode()
}

func noFollow(p *oidctest.Provider) *http.Client {
	c := *p.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func TestAuthorizeRefusals(t *testing.T) {
	p := oidctest.New(t)
	v := oauth2.GenerateVerifier()
	tests := []struct {
		name       string
		mod        func(url.Values)
		wantStatus int
		wantError  string // error in the redirect, for 302
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "evil") }, http.StatusBadRequest, ""},
		{"redirect_uri prefix", func(q url.Values) { q.Set("redirect_uri", p.RedirectURL+"/../x") }, http.StatusBadRequest, ""},
		{"redirect_uri other host", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, http.StatusBadRequest, ""},
		{"token response type", func(q url.Values) { q.Set("response_type", "token") }, http.StatusFound, "unsupported_response_type"},
		{"no openid scope", func(q url.Values) { q.Set("scope", "email") }, http.StatusFound, "invalid_scope"},
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, http.StatusFound, "invalid_request"},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, http.StatusFound, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := noFollow(p).Get(authorizeURL(p, v, tt.mod))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status: got %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantError == "" {
				return
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if got := loc.Query().Get("error"); got != tt.wantError {
				t.Errorf("error: got %q, want %q", got, tt.wantError)
			}
			if got := loc.Query().Get("iss"); got != p.Issuer {
				t.Errorf("iss: got %q, want %q", got, p.Issuer)
			}
		})
	}
}

// code runs a correct authorization request and returns the code.
func code(t *testing.T, p *oidctest.Provider, verifier string) string {
	t.Helper()
	loc, err := p.Approve(authorizeURL(p, verifier, nil))
	if err != nil {
		t.Fatalf("Approve: %v", err)
	}
	return loc.Query().Get("code")
}

func TestTokenRefusals(t *testing.T) {
	p := oidctest.New(t)
	tests := []struct {
		name string
		mod  func(form url.Values, r *http.Request)
		want int
	}{
		{"correct", func(url.Values, *http.Request) {}, http.StatusOK},
		{"wrong secret", func(_ url.Values, r *http.Request) { r.SetBasicAuth(p.ClientID, "wrong") }, http.StatusUnauthorized},
		{"no client auth", func(_ url.Values, r *http.Request) { r.Header.Del("Authorization") }, http.StatusUnauthorized},
		{"basic and post", func(f url.Values, _ *http.Request) { f.Set("client_secret", p.ClientSecret) }, http.StatusBadRequest},
		{"wrong verifier", func(f url.Values, _ *http.Request) { f.Set("code_verifier", oauth2.GenerateVerifier()) }, http.StatusBadRequest},
		{"no verifier", func(f url.Values, _ *http.Request) { f.Del("code_verifier") }, http.StatusBadRequest},
		{"other redirect_uri", func(f url.Values, _ *http.Request) { f.Set("redirect_uri", "https://evil.example/cb") }, http.StatusBadRequest},
		{"unknown code", func(f url.Values, _ *http.Request) { f.Set("code", "nope") }, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := oauth2.GenerateVerifier()
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code(t, p, v)},
				"redirect_uri": {p.RedirectURL}, "code_verifier": {v}}
			req, _ := http.NewRequest(http.MethodPost, p.Issuer+"/token", nil)
			req.SetBasicAuth(p.ClientID, p.ClientSecret)
			tt.mod(form, req)
			enc := form.Encode()
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(enc)), int64(len(enc))
			resp, err := p.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				var body map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&body)
				t.Fatalf("status: got %d (%v), want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}
