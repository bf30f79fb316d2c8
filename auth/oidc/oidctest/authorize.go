package oidctest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// AtHashOmit as Knobs.AtHash leaves at_hash out of the ID token.
const AtHashOmit = "omit"

// Knobs bend the provider. The zero value is a correct, strict provider
// that approves Knobs.User; each field names one way to misbehave.
type Knobs struct {
	User User

	// Signing. Alg is RS256 (default) or ES256 with the published keys, or
	// the attacks "none" (unsigned) and "HS256" (the client secret as an
	// HMAC key). UnknownKey signs with a fresh key under a published kid.
	Alg        string
	UnknownKey bool

	// ID token claims. Empty means correct.
	Issuer          string   // iss claim instead of the issuer
	Audience        []string // aud instead of [ClientID]
	AuthorizedParty string   // azp claim
	Nonce           string   // nonce claim instead of the one the client sent
	AtHash          string   // AtHashOmit, or a literal (wrong) at_hash
	Expired         bool     // exp an hour ago
	NotYetValid     bool     // nbf an hour ahead
	TimeOffset      time.Duration

	// Authorization response.
	Error          string // redirect with this error instead of a code
	OmitIss        bool   // advertise RFC 9207 iss but leave it out
	IssParam       string // send this iss instead of the issuer (mix-up)
	NoIssParameter bool   // neither advertise nor send iss

	// Token endpoint and discovery.
	ReuseCodes      bool   // accept a code more than once
	SkipPKCE        bool   // do not check code_verifier
	TokenAuth       string // accept only client_secret_basic or client_secret_post
	DiscoveryIssuer string // issuer claimed by the discovery document
}

// grant is what an issued code stands for.
type grant struct {
	clientID, redirectURI, challenge, nonce string
	issued                                  time.Time
	used                                    bool
}

// authorize validates the request the way a strict provider does and
// auto-approves Knobs.User. A bad client_id or redirect_uri gets a 400
// page, never a redirect (RFC 6749 §4.1.2.1); other problems go back to
// the client as an error response.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	k := p.snapshot()
	p.mu.Lock()
	p.lastAuthz = q
	p.mu.Unlock()
	if q.Get("client_id") != p.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	if q.Get("redirect_uri") != p.RedirectURL {
		http.Error(w, "redirect_uri does not match the registered one", http.StatusBadRequest)
		return
	}
	if e := requestError(q); e != "" {
		p.redirect(w, r, k, url.Values{"error": {e}})
		return
	}
	if k.Error != "" {
		p.redirect(w, r, k, url.Values{"error": {k.Error}})
		return
	}
	code := randomString()
	p.mu.Lock()
	p.grants[code] = &grant{
		clientID: p.ClientID, redirectURI: p.RedirectURL,
		challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), issued: p.now(),
	}
	p.issued = append(p.issued, code)
	p.mu.Unlock()
	p.redirect(w, r, k, url.Values{"code": {code}})
}

// requestError returns the RFC 6749 error code for a malformed request, or
// "" when it is acceptable.
func requestError(q url.Values) string {
	switch {
	case q.Get("response_type") != "code":
		return "unsupported_response_type"
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		return "invalid_scope"
	case q.Get("code_challenge_method") != "S256", len(q.Get("code_challenge")) != 43:
		return "invalid_request"
	}
	return ""
}

// redirect sends the browser back to the client with params, state and
// (RFC 9207) iss, as the knobs allow.
func (p *Provider) redirect(w http.ResponseWriter, r *http.Request, k Knobs, params url.Values) {
	u, err := url.Parse(p.RedirectURL)
	if err != nil {
		http.Error(w, fmt.Sprintf("bad redirect URL: %v", err), http.StatusInternalServerError)
		return
	}
	q := u.Query()
	for key, vs := range params {
		q[key] = vs
	}
	if s := r.URL.Query().Get("state"); s != "" {
		q.Set("state", s)
	}
	switch {
	case k.NoIssParameter, k.OmitIss:
	case k.IssParam != "":
		q.Set("iss", k.IssParam)
	default:
		q.Set("iss", p.Issuer)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// Approve plays the browser: it requests authURL without following the
// redirect and returns where the provider sends the user back to, after
// checking that it is the registered redirect URL.
func (p *Provider) Approve(authURL string) (*url.URL, error) {
	c := *p.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURL)
	if err != nil {
		return nil, fmt.Errorf("oidctest approve: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("oidctest approve: got status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, fmt.Errorf("oidctest approve: %w", err)
	}
	back := *loc
	back.RawQuery = ""
	if back.String() != p.RedirectURL {
		return nil, fmt.Errorf("oidctest approve: redirected to %q, want %q", back.String(), p.RedirectURL)
	}
	return loc, nil
}

// randomString returns 256 random bits, base64url: the shape of codes and
// access tokens.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
