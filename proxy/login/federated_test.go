package login_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth"
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
