// Package demo is the built-in demo CRM upstream that `gatehouse serve`
// runs when no upstream is configured: one page showing the identity
// headers it received and whether the signed assertion verifies against
// the gateway's published keys — so a newcomer sees the gateway work, and
// sees what a real upstream should check.
package demo

import (
	"crypto/ecdsa"
	"errors"
	"html/template"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/signing"
	"github.com/gatehouse-auth/gatehouse/proxy/assertion"
)

var page = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo CRM</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}td,th{padding:.3rem .8rem;text-align:left;border-bottom:1px solid #ddd}
.ok{color:#070}.bad{color:#a00}</style></head>
<body>
<h1>Demo CRM</h1>
<p>This page stands in for the CRM behind Gatehouse. These are the identity headers the gateway forwarded:</p>
<table id="headers">
{{range .Headers}}<tr><th>{{.Name}}</th><td id="{{.Name}}">{{.Value}}</td></tr>
{{end}}</table>
<p>X-Gatehouse-Assertion: {{if .Verified}}<strong class="ok" id="assertion">verified</strong> (ES256, key {{.KeyID}}, subject {{.Subject}}){{else}}<strong class="bad" id="assertion">NOT verified</strong>: {{.Problem}}{{end}}</p>
<form method="post" action="/.gatehouse/logout"><button type="submit" id="logout">Log out</button></form>
</body></html>`))

var shown = []string{"X-Gatehouse-User", "X-Gatehouse-Email", "X-Gatehouse-Role", "X-Gatehouse-Groups",
	"X-Gatehouse-Auth-Method", "X-Gatehouse-Session", "X-Forwarded-For"}

// Handler serves the demo CRM. jwksURL is where it fetches the gateway's
// keys (as a real upstream would); issuer is the expected "iss".
type Handler struct {
	JWKSURL string
	Issuer  string
	Client  *http.Client

	mu      sync.Mutex
	keys    map[string]*ecdsa.PublicKey
	fetched time.Time
}

type row struct{ Name, Value string }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Headers                 []row
		Verified                bool
		KeyID, Subject, Problem string
	}{}
	for _, n := range shown {
		data.Headers = append(data.Headers, row{n, r.Header.Get(n)})
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
