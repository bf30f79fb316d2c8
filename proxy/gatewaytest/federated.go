package gatewaytest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// OIDCLogin walks a browser through an OIDC login at provider: the
// gateway's start URL, the provider's (auto-approving) authorize endpoint
// at issuer, and back. It returns the gateway's answer to the callback,
// its body, and the callback URL (for replay tests).
func OIDCLogin(t testing.TB, b *Browser, issuer, provider, rd string) (*http.Response, string, string) {
	t.Helper()
	resp, _ := b.Get(t, "/.gatehouse/login/"+provider+"?rd="+url.QueryEscape(rd))
	authz := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(authz, issuer) {
		t.Fatalf("start: %d %q, want a redirect to the provider", resp.StatusCode, authz)
	}
	req, _ := http.NewRequest("GET", authz, nil)
	ar, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ar.Body.Close()
	callback := ar.Header.Get("Location")
	if !strings.HasPrefix(callback, b.Base+"/.gatehouse/oidc/"+provider+"/callback?") {
		t.Fatalf("provider sent the browser to %q", callback)
	}
	resp, body := b.Get(t, strings.TrimPrefix(callback, b.Base))
	return resp, body, callback
}
