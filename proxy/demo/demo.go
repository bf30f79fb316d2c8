// Package demo is the built-in demo CRM upstream that `gatehouse serve`
// runs when no upstream is configured: one page, in the gateway's
// branding, showing the identity headers it received, what each means,
// and whether the signed assertion verifies against the gateway's
// published keys — so a newcomer sees the gateway work, and sees what a
// real upstream should check.
package demo

import (
	"crypto/ecdsa"
	_ "embed"
	"errors"
	"html/template"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/signing"
	"github.com/gatehouse-auth/gatehouse/proxy/assertion"
	"github.com/gatehouse-auth/gatehouse/proxy/brand"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

//go:embed demo.html
var pageHTML string

var page = template.Must(template.New("demo").Funcs(template.FuncMap{"style": web.StyleSrc}).Parse(pageHTML))

// Handler serves the demo CRM. jwksURL is where it fetches the gateway's
// keys (as a real upstream would); issuer is the expected "iss".
type Handler struct {
	JWKSURL string
	Issuer  string
	Client  *http.Client
	// Brand is the gateway's branding, which the demo shows too; nil:
	// the default.
	Brand *brand.Brand

	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	fetched time.Time
}

type row struct{ Name, Value string }

// pageData is what demo.html shows; the header names and what each
// means are in the template.
type pageData struct {
	Brand                   *brand.Brand
	Verified                bool
	KeyID, Subject, Problem string
	header                  http.Header
}

// Row is one received header, by name.
func (d *pageData) Row(name string) row { return row{name, d.header.Get(name)} }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data := &pageData{Brand: h.Brand, header: r.Header}
	if data.Brand == nil {
		data.Brand = brand.Default()
	}
	claims, kid, err := h.verify(r.Header.Get("X-Gatehouse-Assertion"))
	if err != nil {
		data.Problem = err.Error()
	} else {
		data.Verified, data.KeyID, data.Subject = true, kid, claims.Subject
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	page.Execute(w, data)
}

func (h *Handler) verify(tok string) (*assertion.Claims, string, error) {
	keys, err := h.jwks(false)
	if err != nil {
		return nil, "", err
	}
	c, err := assertion.Verify(tok, keys, h.Issuer, time.Now(), 30*time.Second)
	if errors.Is(err, assertion.ErrUnknownKey) { // keys rotated since we fetched them
		if keys, err = h.jwks(true); err == nil {
			c, err = assertion.Verify(tok, keys, h.Issuer, time.Now(), 30*time.Second)
		}
	}
	if err != nil {
		return nil, "", err
	}
	return c, c.KeyID, nil
}

func (h *Handler) jwks(force bool) (map[string]*ecdsa.PublicKey, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !force && h.keys != nil && time.Since(h.fetched) < 5*time.Minute {
		return h.keys, nil
	}
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	resp, err := client.Get(h.JWKSURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	keys, err := signing.ParseJWKS(body)
	if err != nil {
		return nil, err
	}
	h.keys, h.fetched = keys, time.Now()
	return keys, nil
}
