package oidctest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"time"
)

// codeLifetime is how long a code can be exchanged; real providers allow
// seconds to minutes.
const codeLifetime = time.Minute

// tokenError is an RFC 6749 §5.2 error response.
type tokenError struct {
	status int
	code   string
}

// token is the token endpoint: client authentication, then the code's
// checks (exists, unused, same client and redirect_uri, PKCE), then an
// access token and a signed ID token.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	k := p.snapshot()
	p.recordTokenRequest(r.PostForm)
	if e := p.authenticate(r, k); e != nil {
		writeJSON(w, e.status, map[string]string{"error": e.code})
		return
	}
	g, e := p.redeem(r.PostForm, k)
	if e != nil {
		writeJSON(w, e.status, map[string]string{"error": e.code})
		return
	}
	access := randomString()
	idToken, err := p.idToken(k, g, access)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	p.issued = append(p.issued, access, idToken)
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": 3600, "id_token": idToken,
	})
}

func (p *Provider) recordTokenRequest(form url.Values) {
	rec := url.Values{}
	for key, vs := range form {
		if key != "client_secret" {
			rec[key] = append([]string(nil), vs...)
		}
	}
	p.mu.Lock()
	p.lastToken = rec
	p.mu.Unlock()
}

// authenticate checks client_secret_basic or client_secret_post; using
// both at once is refused (RFC 6749 §2.3).
func (p *Provider) authenticate(r *http.Request, k Knobs) *tokenError {
	user, pass, basic := r.BasicAuth()
	_, post := r.PostForm["client_secret"]
	var id, secret, method string
	switch {
	case basic && post:
		return &tokenError{http.StatusBadRequest, "invalid_request"}
	case basic:
		// The Basic credentials are form-encoded first (RFC 6749 §2.3.1).
		id, _ = url.QueryUnescape(user)
		secret, _ = url.QueryUnescape(pass)
		method = "client_secret_basic"
	case post:
		id, secret, method = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), "client_secret_post"
	default:
		return &tokenError{http.StatusUnauthorized, "invalid_client"}
	}
	if k.TokenAuth != "" && k.TokenAuth != method {
		return &tokenError{http.StatusUnauthorized, "invalid_client"}
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(p.ClientID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret))
	if idOK&secretOK != 1 {
		return &tokenError{http.StatusUnauthorized, "invalid_client"}
	}
	return nil
}

// redeem consumes the code. A code is burnt by its first presentation,
// even a failing one, as RFC 6749 §4.1.2 expects of a provider that
// suspects an attack.
func (p *Provider) redeem(form url.Values, k Knobs) (grant, *tokenError) {
	if form.Get("grant_type") != "authorization_code" {
		return grant{}, &tokenError{http.StatusBadRequest, "unsupported_grant_type"}
	}
	p.mu.Lock()
	g, ok := p.grants[form.Get("code")]
	if !ok || (g.used && !k.ReuseCodes) {
		p.mu.Unlock()
		return grant{}, &tokenError{http.StatusBadRequest, "invalid_grant"}
	}
	g.used = true
	held := *g
	p.mu.Unlock()
	switch {
	case p.now().Sub(held.issued) > codeLifetime,
		form.Get("redirect_uri") != held.redirectURI,
		form.Has("client_id") && form.Get("client_id") != held.clientID:
		return grant{}, &tokenError{http.StatusBadRequest, "invalid_grant"}
	case !k.SkipPKCE && !pkceOK(form.Get("code_verifier"), held.challenge):
		return grant{}, &tokenError{http.StatusBadRequest, "invalid_grant"}
	}
	return held, nil
}

// pkceOK checks code_verifier against an S256 challenge (RFC 7636 §4.6).
func pkceOK(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
