package oidc_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
)

func TestVerifyLogout(t *testing.T) {
	h := corp(t)
	tok := h.p.LogoutToken(t, oidctest.Logout{Subject: "user-1", SessionID: "idp-s1", Claims: map[string]any{"jti": "jti-1"}})
	n, err := h.c.VerifyLogout(t.Context(), tok)
	if err != nil {
		t.Fatalf("VerifyLogout: %v", err)
	}
	if n.Subject != "user-1" || n.SessionID != "idp-s1" || n.TokenID != "jti-1" || n.TTL < 2*time.Minute || n.TTL > oidc.LogoutMaxAge+10*time.Minute {
		t.Fatalf("notice %+v, want the token's sub, sid, jti and a TTL covering its exp", n)
	}
	for name, l := range map[string]oidctest.Logout{
		"sid only":  {SessionID: "idp-s1"},
		"sub only":  {Subject: "user-1"},
		"typ JWT":   {Subject: "user-1", Typ: "JWT"},
		"no typ":    {Subject: "user-1", Typ: "-"},
		"ES256":     {Subject: "user-1", Alg: "ES256"},
		"aud array": {Subject: "user-1", Claims: map[string]any{"aud": []string{"other", h.p.ClientID}}},
	} {
		if _, err := h.c.VerifyLogout(t.Context(), h.p.LogoutToken(t, l)); err != nil {
			t.Errorf("%s: %v, want accepted", name, err)
		}
	}
}

// TestLogoutTokenAttacks: every check of Back-Channel Logout §2.6 refuses
// the token that breaks it, with ErrLogoutToken and
// auth.ErrInvalidCredentials, and no error quotes the token.
func TestLogoutTokenAttacks(t *testing.T) {
	h := corp(t)
	now := time.Now()
	base := func(claims map[string]any) oidctest.Logout {
		return oidctest.Logout{Subject: "user-1", SessionID: "idp-s1", Claims: claims}
	}
	tests := []struct {
		name string
		l    oidctest.Logout
	}{
		{"wrong issuer", base(map[string]any{"iss": "https://evil.example"})},
		{"wrong audience", base(map[string]any{"aud": "another-client"})},
		{"no audience", base(map[string]any{"aud": nil})},
		{"nonce present (an ID token replayed as a logout token)", base(map[string]any{"nonce": "n-1"})},
		{"empty nonce present", base(map[string]any{"nonce": ""})},
		{"events missing", base(map[string]any{"events": nil})},
		{"events without the logout member", base(map[string]any{"events": map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}})},
		{"logout member not an object", base(map[string]any{"events": map[string]any{oidctest.LogoutEvent: "yes"}})},
		{"logout member null", base(map[string]any{"events": map[string]any{oidctest.LogoutEvent: nil}})},
		{"expired", base(map[string]any{"iat": now.Add(-20 * time.Minute).Unix(), "exp": now.Add(-10 * time.Minute).Unix()})},
		{"no exp", base(map[string]any{"exp": nil})},
		{"iat too old", base(map[string]any{"iat": now.Add(-oidc.LogoutMaxAge - 6*time.Minute).Unix()})},
		{"iat in the future", base(map[string]any{"iat": now.Add(10 * time.Minute).Unix()})},
		{"no iat", base(map[string]any{"iat": nil})},
		{"neither sub nor sid", oidctest.Logout{}},
		{"no jti", base(map[string]any{"jti": nil})},
		{"unsigned (alg none)", oidctest.Logout{Subject: "user-1", Alg: "none"}},
		{"HS256 keyed with the client secret", oidctest.Logout{Subject: "user-1", Alg: "HS256"}},
		{"key not the provider's", oidctest.Logout{Subject: "user-1", UnknownKey: true}},
		{"typ of an access token", oidctest.Logout{Subject: "user-1", Typ: "at+jwt"}},
		{"sub too long", oidctest.Logout{Subject: strings.Repeat("s", 256)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := h.p.LogoutToken(t, tt.l)
			wantRefused(t, h, tok)
		})
	}
	t.Run("an ID token", func(t *testing.T) {
		h.login(t, "/")
		var idToken string
		for _, s := range h.p.Issued() {
			if strings.Count(s, ".") == 2 {
				idToken = s
			}
		}
		if idToken == "" {
			t.Fatal("the login issued no ID token")
		}
		wantRefused(t, h, idToken)
	})
	t.Run("malformed", func(t *testing.T) {
		good := h.p.LogoutToken(t, oidctest.Logout{Subject: "user-1"})
		parts := strings.Split(good, ".")
		for name, tok := range map[string]string{
			"empty":            "",
			"garbage":          "not a token",
			"five segments":    good + ".x.y",
			"header not JSON":  base64.RawURLEncoding.EncodeToString([]byte("alg")) + "." + parts[1] + "." + parts[2],
			"signature bitten": parts[0] + "." + parts[1] + "." + flip(parts[2]),
			"payload swapped":  parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`)) + "." + parts[2],
			"crit header":      base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","crit":["x"],"x":1}`)) + "." + parts[1] + "." + parts[2],
			"too long":         good + strings.Repeat("A", 16<<10),
		} {
			t.Run(name, func(t *testing.T) { wantRefused(t, h, tok) })
		}
	})
}

func wantRefused(t *testing.T, h *harness, tok string) {
	t.Helper()
	n, err := h.c.VerifyLogout(t.Context(), tok)
	if err == nil {
		t.Fatalf("accepted: %+v", n)
	}
	if !errors.Is(err, oidc.ErrLogoutToken) || !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("got %v, want ErrLogoutToken and ErrInvalidCredentials", err)
	}
	if len(tok) > 20 && strings.Contains(err.Error(), tok[len(tok)-20:]) {
		t.Errorf("error quotes the token: %v", err)
	}
	t.Logf("refused: %v", err)
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

// FuzzVerifyLogout feeds arbitrary strings to VerifyLogout: it must never
// panic, and nothing but a token the provider signed may pass. Seeds are
// in testdata/fuzz/FuzzVerifyLogout.
func FuzzVerifyLogout(f *testing.F) {
	h := corp(f)
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := h.c.VerifyLogout(t.Context(), raw)
		if err == nil {
			t.Fatalf("VerifyLogout(%q) accepted %+v", raw, n)
		}
		if !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("VerifyLogout(%q): %v, want an invalid-credentials error", raw, err)
		}
	})
}
