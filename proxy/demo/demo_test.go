package demo

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/proxy/brand"
)

// TestDemoShowsBrandAndExplainsHeaders: the demo CRM wears the gateway's
// branding and says, for each identity header, what it received and what
// it means; a header not sent says so, and an unverifiable assertion is
// NOT verified.
func TestDemoShowsBrandAndExplainsHeaders(t *testing.T) {
	c := brand.Config{ProductName: "Acme CRM", Links: brand.Links{Help: brand.Link{URL: "https://help.acme.example/"}}}
	c.SetDefaults()
	if err := c.Validate("branding"); err != nil {
		t.Fatal(err)
	}
	b := c.Brand()
	jwks := httptest.NewServer(http.NotFoundHandler())
	defer jwks.Close()
	h := &Handler{JWKSURL: jwks.URL, Issuer: "https://gw.example", Brand: b}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Gatehouse-User", "alice")
	r.Header.Set("X-Gatehouse-Auth-Method", "password+totp")
	r.Header.Set("X-Gatehouse-Assertion", "forged.token.here")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	page := w.Body.String()
	for _, want := range []string{
		"<title>Demo CRM · Acme CRM</title>",
		`<span class="product" id="product-name">Acme CRM</span>`,
		`src="` + b.LogoURL + `"`,
		`href="` + b.StyleURL + `"`,
		`<a href="https://help.acme.example/">Help</a>`,
		`id="X-Gatehouse-User">alice</span>`,
		`id="X-Gatehouse-Auth-Method">password&#43;totp</span>`,
		`id="X-Gatehouse-Key-Id"></span><span class="none">not sent</span>`,
		"The username of the person or program making the request.",
		"How they proved who they are",
		`<strong class="bad" id="assertion">NOT verified</strong>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("lacks %s", want)
		}
	}
	// Every header the demo lists has its meaning.
	if rows, hints := strings.Count(page, "<dt>"), strings.Count(page, `<dd class="hint">`); rows != 12 || hints != rows {
		t.Errorf("%d headers, %d explanations", rows, hints)
	}
}
