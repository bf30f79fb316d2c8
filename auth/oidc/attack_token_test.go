package oidc_test

import (
	"errors"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
)

// Attacks carried in the ID token: each makes the test provider sign
// something a correct provider would not, and the login must be refused.

func TestForeignNonce(t *testing.T) {
	h := corp(t)
	// The nonce of another login, as a token stolen from it would carry.
	h.authorize(t, "/")
	foreign := h.p.LastAuthorizeRequest().Get("nonce")
	tokenAttack(t, h, func(k *oidctest.Knobs) { k.Nonce = foreign }, oidc.ErrNonce)
}

func TestMissingNonce(t *testing.T) {
	h := corp(t)
	// A nonce claim that is present but empty counts as missing.
	tokenAttack(t, h, func(k *oidctest.Knobs) {
		k.User.Extra = map[string]any{"nonce": ""}
	}, oidc.ErrNonce)
}

func TestWrongAudience(t *testing.T) {
	h := corp(t)
	tokenAttack(t, h, func(k *oidctest.Knobs) { k.Audience = []string{"another-client"} }, oidc.ErrToken)
}

// TestWrongAuthorizedParty: a token issued to another client that also
// lists us in aud.
func TestWrongAuthorizedParty(t *testing.T) {
	t.Run("azp is another client", func(t *testing.T) {
		h := corp(t)
		tokenAttack(t, h, func(k *oidctest.Knobs) {
			k.Audience, k.AuthorizedParty = []string{"another-client", oidctest.DefaultClientID}, "another-client"
		}, oidc.ErrToken)
	})
	t.Run("several audiences, no azp", func(t *testing.T) {
		h := corp(t)
		tokenAttack(t, h, func(k *oidctest.Knobs) {
			k.Audience = []string{"another-client", oidctest.DefaultClientID}
		}, oidc.ErrToken)
	})
}

func TestWrongIssuer(t *testing.T) {
	h := corp(t)
	tokenAttack(t, h, func(k *oidctest.Knobs) { k.Issuer = "https://evil.example" }, oidc.ErrToken)
}

func TestExpiredToken(t *testing.T) {
	h := corp(t)
	h.p.Set(func(k *oidctest.Knobs) { k.Expired = true })
	err := h.refuse(t, h.authorize(t, "/"), oidc.ErrToken)
	var expired *gooidc.TokenExpiredError
	if !errors.As(err, &expired) {
		t.Fatalf("got %v, want a go-oidc TokenExpiredError inside", err)
	}
}

func TestNotYetValidToken(t *testing.T) {
	h := corp(t)
	tokenAttack(t, h, func(k *oidctest.Knobs) { k.NotYetValid = true }, oidc.ErrToken)
}

// TestStaleToken: still unexpired, but issued before this login began, so
// it was minted for another one.
func TestStaleToken(t *testing.T) {
	h := corp(t)
	tokenAttack(t, h, func(k *oidctest.Knobs) { k.TimeOffset = -30 * time.Minute }, oidc.ErrToken)
}

func TestFutureToken(t *testing.T) {
	h := corp(t)
	tokenAttack(t, h, func(k *oidctest.Knobs) { k.TimeOffset = 10 * time.Minute }, oidc.ErrToken)
}

func TestAlgNone(t *testing.T) {
	h := corp(t)
	tokenAttack(t, h, func(k *oidctest.Knobs) { k.Alg = "none" }, oidc.ErrToken)
}

// TestAlgHS256Confusion signs with the client secret as an HMAC key, which
// anyone holding the secret (or a verifier that trusts alg) could do.
func TestAlgHS256Confusion(t *testing.T) {
	h := corp(t)
	tokenAttack(t, h, func(k *oidctest.Knobs) { k.Alg = "HS256" }, oidc.ErrToken)
}

// TestAlgNotAllowed: a valid ES256 signature from the provider's own key
// is still refused when only RS256 is configured.
func TestAlgNotAllowed(t *testing.T) {
	h := setup(t, oidctest.New(t), func(c *oidc.Config) { c.Algs = []string{"RS256"} })
	tokenAttack(t, h, func(k *oidctest.Knobs) { k.Alg = "ES256" }, oidc.ErrToken)
}

func TestUnknownSigningKey(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			h := corp(t)
			tokenAttack(t, h, func(k *oidctest.Knobs) { k.Alg, k.UnknownKey = alg, true }, oidc.ErrToken)
		})
	}
}

func TestBadAtHash(t *testing.T) {
	h := corp(t)
	tokenAttack(t, h, func(k *oidctest.Knobs) { k.AtHash = oidctest.AtHash("another-access-token") }, oidc.ErrToken)
}

func TestMissingSubject(t *testing.T) {
	h := corp(t)
	tokenAttack(t, h, func(k *oidctest.Knobs) { k.User.Subject = "" }, oidc.ErrToken)
}

func TestUnverifiedEmail(t *testing.T) {
	tests := []struct {
		name string
		bend func(*oidctest.Knobs)
	}{
		{"false", func(k *oidctest.Knobs) { k.User.EmailVerified = false }},
		{"absent", func(k *oidctest.Knobs) { k.User.Extra = map[string]any{"email_verified": nil} }},
		{"string false", func(k *oidctest.Knobs) { k.User.Extra = map[string]any{"email_verified": "false"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := corp(t)
			tokenAttack(t, h, tt.bend, oidc.ErrEmailUnverified)
		})
	}
	t.Run("google", func(t *testing.T) {
		h := google(t)
		tokenAttack(t, h, func(k *oidctest.Knobs) { k.User.EmailVerified = false }, oidc.ErrEmailUnverified)
	})
}

func TestWrongHostedDomain(t *testing.T) {
	tests := []struct {
		name string
		bend func(*oidctest.Knobs)
	}{
		{"other workspace", func(k *oidctest.Knobs) { k.User.HostedDomain = "evil.example" }},
		{"consumer account", func(k *oidctest.Knobs) { k.User.HostedDomain = "" }},
		{"suffix trick", func(k *oidctest.Knobs) { k.User.HostedDomain = "corp.example.evil.example" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := google(t, "corp.example", "north.corp.example")
			tokenAttack(t, h, tt.bend, oidc.ErrHostedDomain)
		})
	}
	t.Run("any domain when none configured", func(t *testing.T) {
		h := google(t)
		h.p.Set(func(k *oidctest.Knobs) { k.User.HostedDomain = "" })
		h.login(t, "/")
	})
}
