// Package client is a reference mobile client for Gatehouse's dynamic
// tokens, in the shape any OAuth library for native apps takes: PKCE
// (S256) login through a browser, a device key that signs a DPoP proof
// for every token request and API call, refresh-token rotation, and the
// server's DPoP-Nonce when it asks for one. cmd/gatehouse-mobile-demo runs
// it against a gateway, and the end-to-end tests use it as the app.
//
// It holds the device key and tokens in memory only; a real app keeps
// the key in the platform's keystore (non-exportable) and the refresh
// token in its secure storage.
package client

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Client is one app installation: its device key and its tokens.
type Client struct {
	// Gateway is the gateway's public URL.
	Gateway     *url.URL
	ClientID    string
	RedirectURI string
	HTTP        *http.Client
	// Now stamps proofs (default time.Now).
	Now func() time.Time

	key    *ecdsa.PrivateKey
	signer jose.Signer
	jkt    string

	mu      sync.Mutex
	nonce   string
	Access  string
	Refresh string
	Type    string // token_type: DPoP or Bearer
}

// New makes a client with a fresh P-256 device key.
func New(gateway *url.URL, clientID, redirectURI string, hc *http.Client) (*Client, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewWithKey(gateway, clientID, redirectURI, hc, k)
}

// Key is the device key (the load generator saves it to sign proofs
// later).
func (c *Client) Key() *ecdsa.PrivateKey { return c.key }

// NewWithKey makes a client holding an existing P-256 device key.
func NewWithKey(gateway *url.URL, clientID, redirectURI string, hc *http.Client, k *ecdsa.PrivateKey) (*Client, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, err
	}
	tp, err := (&jose.JSONWebKey{Key: k.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{Gateway: gateway, ClientID: clientID, RedirectURI: redirectURI, HTTP: hc, Now: time.Now,
		key: k, signer: s, jkt: base64.RawURLEncoding.EncodeToString(tp)}, nil
}

// JKT is the device key's thumbprint (what tokens are bound to).
func (c *Client) JKT() string { return c.jkt }

// PKCE is one login's verifier and state.
type PKCE struct {
	Verifier, Challenge, State string
}

// NewPKCE draws a verifier (32 random octets, RFC 7636 §4.1) and a state.
func NewPKCE() PKCE {
	v := make([]byte, 32)
	s := make([]byte, 16)
	rand.Read(v)
	rand.Read(s)
	p := PKCE{Verifier: base64.RawURLEncoding.EncodeToString(v), State: base64.RawURLEncoding.EncodeToString(s)}
	sum := sha256.Sum256([]byte(p.Verifier))
	p.Challenge = base64.RawURLEncoding.EncodeToString(sum[:])
	return p
}

// AuthorizeURL is where the app opens the system browser. bind adds
// dpop_jkt, binding the code to this device's key.
func (c *Client) AuthorizeURL(p PKCE, bind bool) string {
	q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {c.RedirectURI},
		"state": {p.State}, "code_challenge": {p.Challenge}, "code_challenge_method": {"S256"}}
	if bind {
		q.Set("dpop_jkt", c.jkt)
	}
	return c.Gateway.JoinPath("/.gatehouse/oauth/authorize").String() + "?" + q.Encode()
}

// CodeFrom reads the code from the redirect the browser was sent to,
// checking the state and the issuer (RFC 9207).
func (c *Client) CodeFrom(redirect string, p PKCE) (string, error) {
	u, err := url.Parse(redirect)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(redirect, c.RedirectURI) {
		return "", fmt.Errorf("redirected to %q, not the app's redirect URI", redirect)
	}
	q := u.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorization refused: %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != p.State {
		return "", errors.New("state does not match: not the login this app started")
	}
	if iss := q.Get("iss"); iss != c.Gateway.Scheme+"://"+c.Gateway.Host {
		return "", fmt.Errorf("iss %q is not the gateway", iss)
	}
	return q.Get("code"), nil
}

// Proof signs a DPoP proof for a request; token is the access token the
// request carries ("" at the token endpoint).
func (c *Client) Proof(method, target, token string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	u.RawQuery, u.Fragment = "", ""
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": u.String(), "iat": c.Now().Unix()}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	c.mu.Lock()
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	c.mu.Unlock()
	b, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := c.signer.Sign(b)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Error is an error answer from the gateway.
type Error struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("gateway answered %d %s: %s", e.Status, e.Code, e.Description)
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// Exchange trades the code for the first pair.
func (c *Client) Exchange(ctx context.Context, code string, p PKCE) error {
	return c.token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURI},
		"client_id": {c.ClientID}, "code_verifier": {p.Verifier}})
}

// RefreshTokens rotates the pair.
func (c *Client) RefreshTokens(ctx context.Context) error {
	c.mu.Lock()
	rt := c.Refresh
	c.mu.Unlock()
	return c.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {c.ClientID}})
}

func (c *Client) token(ctx context.Context, form url.Values) error {
	endpoint := c.Gateway.JoinPath("/.gatehouse/oauth/token").String()
	for attempt := 0; ; attempt++ {
		proof, err := c.Proof(http.MethodPost, endpoint, "")
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		resp, err := c.HTTP.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		c.takeNonce(resp)
		if resp.StatusCode == http.StatusOK {
			var tr tokenResponse
			if err := json.Unmarshal(body, &tr); err != nil {
				return err
			}
			c.mu.Lock()
			c.Access, c.Refresh, c.Type = tr.AccessToken, tr.RefreshToken, tr.TokenType
			c.mu.Unlock()
			return nil
		}
		e := &Error{Status: resp.StatusCode}
		json.Unmarshal(body, e)
		if e.Code == "use_dpop_nonce" && attempt == 0 {
			continue // the nonce came with the answer; sign again with it
		}
		return e
	}
}

func (c *Client) takeNonce(resp *http.Response) {
	if n := resp.Header.Get("DPoP-Nonce"); n != "" {
		c.mu.Lock()
		c.nonce = n
		c.mu.Unlock()
	}
}

// Do sends an API call through the gateway with the access token and,
// for DPoP tokens, a fresh proof; it signs again once when the gateway
// asks for a nonce. body, when not nil, must be replayable (GetBody), as
// http.NewRequest sets for common readers.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		at, typ := c.Access, c.Type
		c.mu.Unlock()
		r := req.Clone(req.Context())
		if attempt > 0 && req.GetBody != nil {
			b, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = b
		}
		if typ == "DPoP" {
			proof, err := c.Proof(r.Method, r.URL.String(), at)
			if err != nil {
				return nil, err
			}
			r.Header.Set("Authorization", "DPoP "+at)
			r.Header.Set("DPoP", proof)
		} else {
			r.Header.Set("Authorization", "Bearer "+at)
		}
		resp, err := c.HTTP.Do(r)
		if err != nil {
			return nil, err
		}
		c.takeNonce(resp)
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 && strings.Contains(resp.Header.Get("WWW-Authenticate"), "use_dpop_nonce") &&
			(req.Body == nil || req.GetBody != nil) {
			resp.Body.Close()
			continue
		}
		return resp, nil
	}
}

// Revoke signs the device out (RFC 7009).
func (c *Client) Revoke(ctx context.Context) error {
	c.mu.Lock()
	rt := c.Refresh
	c.mu.Unlock()
	form := url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}, "client_id": {c.ClientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Gateway.JoinPath("/.gatehouse/oauth/revoke").String(), strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		json.NewDecoder(resp.Body).Decode(e)
		return e
	}
	return nil
}

// BrowserLogin plays the system browser for a user who types a password:
// it opens the authorize URL, fills the gateway's login form, follows the
// redirects back to the authorize endpoint, and returns the URL the
// gateway finally sends the browser to (the app's redirect URI with the
// code). hc must have a cookie jar; it must not follow redirects out of
// the gateway (CheckRedirect is set here for the duration).
func BrowserLogin(ctx context.Context, hc *http.Client, authorizeURL, username, password string) (string, error) {
	var final string
	b := *hc
	b.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if r.URL.Scheme != "http" && r.URL.Scheme != "https" || r.URL.Path != "" && !strings.HasPrefix(r.URL.Path, "/.gatehouse/") {
			final = r.URL.String()
			return http.ErrUseLastResponse
		}
		if len(via) > 10 {
			return errors.New("too many redirects")
		}
		return nil
	}
	get := func(u string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "text/html")
		return b.Do(req)
	}
	resp, err := get(authorizeURL)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if final != "" {
		return final, nil // already signed in in this browser
	}
	if !strings.HasSuffix(resp.Request.URL.Path, "/.gatehouse/login") {
		return "", fmt.Errorf("expected the login page, got %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	form := url.Values{"username": {username}, "password": {password}, "rd": {resp.Request.URL.Query().Get("rd")}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+"/.gatehouse/login", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err = b.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if final == "" {
		return "", fmt.Errorf("the login did not return to the app (ended at %s, %d)", resp.Request.URL, resp.StatusCode)
	}
	return final, nil
}

// Clone copies the installation: the same device key and tokens (tests
// play a thief who copied both off a device).
func (c *Client) Clone() *Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &Client{Gateway: c.Gateway, ClientID: c.ClientID, RedirectURI: c.RedirectURI, HTTP: c.HTTP, Now: c.Now,
		key: c.key, signer: c.signer, jkt: c.jkt, nonce: c.nonce, Access: c.Access, Refresh: c.Refresh, Type: c.Type}
}
