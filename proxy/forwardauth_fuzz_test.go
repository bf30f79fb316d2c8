package proxy

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzReadOriginal: forwarded headers are untrusted text even from a
// trusted proxy (it copies the client's). Whatever they hold, an accepted
// original request has a plain method and an origin-form URI whose path
// is the one route rules judge.
func FuzzReadOriginal(f *testing.F) {
	f.Add("GET", "/leads/7?x=1", "", "crm.example.com")
	f.Add("DELETE", "//evil", "/other", "a, b")
	f.Add("get", "http://evil/x", "", "")
	f.Add("GET", "/%2e%2e/admin", "/%2e%2e/admin", "crm.example.com\r\nX: y")
	f.Fuzz(func(t *testing.T, method, uri, other, host string) {
		r := httptest.NewRequest("GET", ForwardAuthPath, nil)
		r.Header["X-Original-Method"] = []string{method}
		r.Header["X-Original-Uri"] = []string{uri}
		if other != "" {
			r.Header["X-Forwarded-Uri"] = []string{other}
		}
		r.Header["X-Forwarded-Host"] = []string{host}
		o, err := readOriginal(r)
		if err != nil {
			return
		}
		if !validMethod(o.Method) || o.Method != strings.TrimSpace(method) {
			t.Fatalf("accepted method %q from %q", o.Method, method)
		}
		if other != "" && strings.TrimSpace(other) != strings.TrimSpace(uri) {
			t.Fatalf("accepted disagreeing URIs %q and %q", uri, other)
		}
		if !strings.HasPrefix(o.uri, "/") || o.URL.Host != "" || o.URL.Scheme != "" || o.URL.RequestURI() == "" {
			t.Fatalf("accepted URI %q as %#v", uri, o.URL)
		}
	})
}
