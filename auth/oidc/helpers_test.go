package oidc_test

import (
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
	"github.com/gatehouse-auth/gatehouse/session/memory"
)

// clock is a settable clock shared by the connector and the transaction
// store, so expiry tests move time instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is one connector wired to one test provider over real HTTP.
type harness struct {
	p     *oidctest.Provider
	c     *oidc.Connector
	store *memory.Store
	clock *clock
}

// corp is a generic OIDC provider and its connector.
func corp(t testing.TB, opts ...oidctest.Option) *harness {
	t.Helper()
	return setup(t, oidctest.New(t, opts...), nil)
}

// google is a Google-shaped provider over HTTPS and a connector of type
// google allowing the given Workspace domains.
func google(t testing.TB, domains ...string) *harness {
	t.Helper()
	return setup(t, oidctest.Google(t), func(c *oidc.Config) {
		c.ID, c.Type, c.HostedDomains = "google", oidc.TypeGoogle, domains
	})
}

func setup(t testing.TB, p *oidctest.Provider, mod func(*oidc.Config)) *harness {
	t.Helper()
	clk := &clock{t: time.Now()}
	store := memory.New(clk.Now)
	t.Cleanup(func() { _ = store.Close() })
	cfg := oidc.Config{
		ID: "corp", Type: oidc.TypeOIDC, Issuer: p.Issuer,
		ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: p.RedirectURL,
		Scopes: []string{"openid", "email", "profile", "groups"},
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := oidc.New(t.Context(), cfg, store, p.Client(), clk.Now)
	if err != nil {
		t.Fatalf("oidc.New: %v", err)
	}
	return &harness{p: p, c: c, store: store, clock: clk}
}

// authorize starts a login and plays the browser at the provider; it
// returns the query the provider sends the browser back with.
func (h *harness) authorize(t testing.TB, rd string) url.Values {
	t.Helper()
	authURL, err := h.c.Start(t.Context(), rd)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	loc, err := h.p.Approve(authURL)
	if err != nil {
		t.Fatalf("Approve: %v", err)
	}
	return loc.Query()
}

// login runs a whole login and fails the test if it does not succeed.
func (h *harness) login(t testing.TB, rd string) oidc.Result {
	t.Helper()
	res, err := h.c.Callback(t.Context(), h.authorize(t, rd))
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	return res
}

// refuse runs Callback on q and checks that it fails with want and that
// the error names no code or token the provider issued.
func (h *harness) refuse(t testing.TB, q url.Values, want error) error {
	t.Helper()
	res, err := h.c.Callback(t.Context(), q)
	if !errors.Is(err, want) {
		t.Fatalf("Callback: got error %v (result %+v), want %v", err, res, want)
	}
	h.noLeak(t, err)
	t.Logf("refused as expected: %v", err)
	return err
}

func (h *harness) noLeak(t testing.TB, err error) {
	t.Helper()
	for _, s := range h.p.Issued() {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains an issued code or token", err)
		}
	}
}

// tokenAttack makes the provider misbehave with bend, runs a login and
// checks that it is refused with want.
func tokenAttack(t *testing.T, h *harness, bend func(*oidctest.Knobs), want error) {
	t.Helper()
	h.p.Set(bend)
	h.refuse(t, h.authorize(t, "/"), want)
}

// with returns a copy of q with key set to value.
func with(q url.Values, key, value string) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	out.Set(key, value)
	return out
}

// without returns a copy of q without key.
func without(q url.Values, key string) url.Values {
	out := with(q, key, "")
	out.Del(key)
	return out
}
