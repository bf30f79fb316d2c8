package oidc_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
)

// Attacks on the browser leg: state, the authorization response and the
// code. Token-level attacks are in attack_token_test.go.

func TestWrongState(t *testing.T) {
	h := corp(t)
	q := h.authorize(t, "/")
	// Right shape, never issued: the attacker's guess.
	h.refuse(t, with(q, "state", strings.Repeat("A", 43)), oidc.ErrState)
	// Malformed states never reach the store.
	for _, s := range []string{"x", strings.Repeat("A", 44), strings.Repeat("%", 43), ""} {
		h.refuse(t, with(q, "state", s), oidc.ErrState)
	}
}

func TestMissingState(t *testing.T) {
	h := corp(t)
	h.refuse(t, without(h.authorize(t, "/"), "state"), oidc.ErrState)
}

func TestRepeatedState(t *testing.T) {
	h := corp(t)
	q := h.authorize(t, "/")
	q.Add("state", q.Get("state"))
	h.refuse(t, q, oidc.ErrState)
}

func TestReplayedState(t *testing.T) {
	h := corp(t)
	q := h.authorize(t, "/")
	if _, err := h.c.Callback(t.Context(), q); err != nil {
		t.Fatalf("first Callback: %v", err)
	}
	h.refuse(t, q, oidc.ErrState)
}

// TestReplayedStateConcurrent races the same callback: exactly one wins.
func TestReplayedStateConcurrent(t *testing.T) {
	h := corp(t)
	h.p.Set(func(k *oidctest.Knobs) { k.ReuseCodes = true }) // only the state may stop them
	q := h.authorize(t, "/")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = h.c.Callback(t.Context(), q) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, oidc.ErrState):
			t.Errorf("got %v, want ErrState for a losing replay", err)
		}
	}
	if ok != 1 {
		t.Fatalf("got %d successful callbacks, want exactly 1", ok)
	}
}

func TestExpiredState(t *testing.T) {
	h := corp(t)
	q := h.authorize(t, "/")
	h.clock.Add(oidc.TransactionTTL + time.Second)
	h.refuse(t, q, oidc.ErrState)
}

// TestStateFromOtherProvider finishes provider A's login at provider B's
// callback: states are namespaced by provider id.
func TestStateFromOtherProvider(t *testing.T) {
	a := corp(t)
	cfg := oidc.Config{ID: "other", Type: oidc.TypeOIDC, Issuer: a.p.Issuer,
		ClientID: a.p.ClientID, ClientSecret: a.p.ClientSecret, RedirectURL: a.p.RedirectURL}
	b, err := oidc.New(t.Context(), cfg, a.store, a.p.Client(), a.clock.Now)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	q := a.authorize(t, "/")
	if _, err := b.Callback(t.Context(), q); !errors.Is(err, oidc.ErrState) {
		t.Fatalf("got %v, want ErrState", err)
	}
}

// TestLoginCSRF sends a victim the callback URL of the attacker's own
// login: with the transaction bound to the attacker's browser, the
// victim's browser cannot finish it.
func TestLoginCSRF(t *testing.T) {
	h := corp(t)
	for _, victim := range []string{"victim-cookie", ""} {
		t.Run("victim cookie "+strconv.Quote(victim), func(t *testing.T) {
			authURL, err := h.c.StartBound(t.Context(), "/", "attacker-cookie")
			if err != nil {
				t.Fatalf("StartBound: %v", err)
			}
			loc, err := h.p.Approve(authURL)
			if err != nil {
				t.Fatalf("Approve: %v", err)
			}
			if _, err := h.c.CallbackBound(t.Context(), loc.Query(), victim); !errors.Is(err, oidc.ErrState) {
				t.Fatalf("got %v, want ErrState", err)
			}
		})
	}
}

// TestMixUpIssParameter is the RFC 9207 mix-up attack: a response that
// says it comes from another issuer is refused.
func TestMixUpIssParameter(t *testing.T) {
	h := corp(t)
	h.p.Set(func(k *oidctest.Knobs) { k.IssParam = "https://evil.example" })
	h.refuse(t, h.authorize(t, "/"), oidc.ErrProvider)
	h.p.Set(func(k *oidctest.Knobs) { k.IssParam = "" })
	q := h.authorize(t, "/")
	q.Add("iss", "https://evil.example") // two iss values
	h.refuse(t, q, oidc.ErrProvider)
}

// TestMissingIssParameter strips iss from a provider that advertises
// RFC 9207, which is what a mix-up attacker relaying another IdP's
// response would produce.
func TestMissingIssParameter(t *testing.T) {
	h := corp(t)
	h.p.Set(func(k *oidctest.Knobs) { k.OmitIss = true })
	h.refuse(t, h.authorize(t, "/"), oidc.ErrProvider)
}

func TestErrorResponse(t *testing.T) {
	h := corp(t)
	h.p.Set(func(k *oidctest.Knobs) { k.Error = "access_denied" })
	q := h.authorize(t, "/")
	err := h.refuse(t, with(q, "error_description", "<script>x</script>\nforged log line"), oidc.ErrProvider)
	var re *oidc.ResponseError
	if !errors.As(err, &re) || re.Code != "access_denied" {
		t.Fatalf("got %v, want a ResponseError with code access_denied", err)
	}
	if strings.Contains(err.Error(), "script") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q carries the attacker's error_description", err)
	}
	// The state was burnt by the error response.
	h.refuse(t, without(q, "error"), oidc.ErrState)
}

// TestCodeReplay presents an already redeemed code in a new login; the
// provider accepts a code once, even with PKCE switched off.
func TestCodeReplay(t *testing.T) {
	h := corp(t)
	h.p.Set(func(k *oidctest.Knobs) { k.SkipPKCE = true })
	first := h.authorize(t, "/")
	if _, err := h.c.Callback(t.Context(), first); err != nil {
		t.Fatalf("first Callback: %v", err)
	}
	second := h.authorize(t, "/")
	h.refuse(t, with(second, "code", first.Get("code")), oidc.ErrProvider)
}

// TestCodeInjection injects a victim's code into the attacker's login at
// a sloppy provider (codes reusable, PKCE unchecked): the victim's ID
// token carries the victim's nonce, so our nonce check refuses it.
func TestCodeInjection(t *testing.T) {
	h := corp(t)
	h.p.Set(func(k *oidctest.Knobs) { k.SkipPKCE, k.ReuseCodes = true, true })
	victim := h.authorize(t, "/")
	attacker := h.authorize(t, "/")
	h.refuse(t, with(attacker, "code", victim.Get("code")), oidc.ErrNonce)
}

// TestPKCERequired shows the provider refuses a code without its verifier
// and that the connector's successful logins are the ones sending it.
func TestPKCERequired(t *testing.T) {
	h := corp(t)
	q := h.authorize(t, "/")
	authz := h.p.LastAuthorizeRequest()
	plain := oauth2.Config{
		ClientID: h.p.ClientID, ClientSecret: h.p.ClientSecret, RedirectURL: h.p.RedirectURL,
		Endpoint: oauth2.Endpoint{TokenURL: h.p.Issuer + "/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, h.p.Client())
	if _, err := plain.Exchange(ctx, q.Get("code")); err == nil {
		t.Fatal("exchange without code_verifier: got success, want invalid_grant")
	}
	// The code was burnt by that attempt; the connector's own exchange fails.
	h.refuse(t, q, oidc.ErrProvider)
	// A fresh login succeeds, and the verifier it sent matches the challenge.
	h.login(t, "/")
	sent := h.p.LastTokenRequest().Get("code_verifier")
	if got, want := oauth2.S256ChallengeFromVerifier(sent), h.p.LastAuthorizeRequest().Get("code_challenge"); got != want {
		t.Fatalf("S256(code_verifier): got %q, want %q", got, want)
	}
	if authz.Get("code_challenge_method") != "S256" {
		t.Fatalf("code_challenge_method: got %q, want S256", authz.Get("code_challenge_method"))
	}
}

func TestMissingCode(t *testing.T) {
	h := corp(t)
	q := h.authorize(t, "/")
	h.refuse(t, without(q, "code"), oidc.ErrProvider)
	q = h.authorize(t, "/")
	q.Add("code", "second-code")
	h.refuse(t, q, oidc.ErrProvider)
}
