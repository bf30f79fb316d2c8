package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// maxRedirect bounds the rd kept per transaction, so a crafted login link
// cannot make the store hold large values.
const maxRedirect = 2048

// defaultTimeout bounds discovery, JWKS and token requests when the caller
// passes no client of its own.
const defaultTimeout = 10 * time.Second

// Connector runs logins against one provider. It is safe for concurrent use.
type Connector struct {
	cfg      Config
	tx       Transactions
	client   *http.Client
	now      func() time.Time
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
	// requireIss is set when discovery advertises RFC 9207: the iss
	// response parameter must then be present, not only correct.
	requireIss bool
}

// transaction is what Start keeps under the state until Callback takes it.
type transaction struct {
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Redirect string `json:"rd,omitempty"`
	Created  int64  `json:"c"`
	Binding  []byte `json:"b,omitempty"` // SHA-256 of the browser binding
}

// New validates cfg, runs discovery against the issuer with client (a
// 10-second-timeout client if nil), and builds the verifier. now is the
// clock for token times (time.Now if nil). It fails when the provider is
// unreachable or its discovery document names another issuer.
func New(ctx context.Context, cfg Config, tx Transactions, client *http.Client, now func() time.Time) (*Connector, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tx == nil {
		return nil, fmt.Errorf("oidc %s: transactions store required", cfg.ID)
	}
	if client == nil {
		client = &http.Client{Timeout: defaultTimeout}
	}
	if now == nil {
		now = time.Now
	}
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc %s discovery: %w", cfg.ID, err)
	}
	endpoint, requireIss, err := endpoints(p, cfg.ClientID, cfg.ClientSecret)
	if err != nil {
		return nil, fmt.Errorf("oidc %s discovery: %w", cfg.ID, err)
	}
	return &Connector{
		cfg: cfg, tx: tx, client: client, now: now, requireIss: requireIss,
		oauth: oauth2.Config{
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			Endpoint: endpoint, RedirectURL: cfg.RedirectURL, Scopes: cfg.Scopes,
		},
		verifier: p.Verifier(&gooidc.Config{
			ClientID: cfg.ClientID, SupportedSigningAlgs: cfg.Algs, Now: now,
		}),
	}, nil
}

// endpoints reads what x/oauth2 needs from discovery. The client
// authentication style is fixed from the advertised methods rather than
// auto-detected, because auto-detection retries a refused code a second
// time with the other style, which looks like code replay to the provider.
func endpoints(p *gooidc.Provider, clientID, secret string) (oauth2.Endpoint, bool, error) {
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		IssParam    bool     `json:"authorization_response_iss_parameter_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return oauth2.Endpoint{}, false, err
	}
	e := p.Endpoint()
	if err := secureURL(e.AuthURL); err != nil {
		return e, false, fmt.Errorf("authorization_endpoint: %w", err)
	}
	if err := secureURL(e.TokenURL); err != nil {
		return e, false, fmt.Errorf("token_endpoint: %w", err)
	}
	// RFC 6749 §2.3.1 form-encodes the credentials inside the Basic
	// header, and x/oauth2 does; some servers (authlib 1.2, older Spring)
	// do not decode them, so a secret with + / = % & fails there. When the
	// provider also takes client_secret_post, such credentials go in the
	// body, where everyone agrees on the encoding.
	escapes := url.QueryEscape(clientID) != clientID || url.QueryEscape(secret) != secret
	switch {
	case escapes && slices.Contains(meta.AuthMethods, "client_secret_post"):
		e.AuthStyle = oauth2.AuthStyleInParams
	case len(meta.AuthMethods) == 0, slices.Contains(meta.AuthMethods, "client_secret_basic"):
		// client_secret_basic is the default when the list is absent
		// (OpenID Connect Discovery §3).
		e.AuthStyle = oauth2.AuthStyleInHeader
	case slices.Contains(meta.AuthMethods, "client_secret_post"):
		e.AuthStyle = oauth2.AuthStyleInParams
	default:
		return e, false, fmt.Errorf("no supported token endpoint auth method in %q", meta.AuthMethods)
	}
	return e, meta.IssParam, nil
}

// ID returns the provider id.
func (c *Connector) ID() string { return c.cfg.ID }

// Method returns the X-Gatehouse-Auth-Method value for this provider.
func (c *Connector) Method() string { return Method(c.cfg.Type) }

// Start begins a login that will return to rd; see StartBound.
func (c *Connector) Start(ctx context.Context, rd string) (string, error) {
	return c.StartBound(ctx, rd, "")
}

// StartBound begins a login. It makes a 256-bit state, a nonce and a PKCE
// verifier, keeps them with rd under the state for TransactionTTL, and
// returns the authorization URL. rd must already be validated by the
// caller; it is stored, not interpreted.
//
// binding ties the transaction to the browser that started it: a value
// only that browser holds (such as a random pre-login cookie). Callback
// must then present the same value, which stops an attacker from sending
// a victim a callback URL for the attacker's own login (login CSRF). An
// empty binding leaves the transaction unbound.
func (c *Connector) StartBound(ctx context.Context, rd, binding string) (string, error) {
	if len(rd) > maxRedirect {
		return "", fmt.Errorf("oidc %s start: redirect target longer than %d bytes", c.cfg.ID, maxRedirect)
	}
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	tr := transaction{Nonce: nonce, Verifier: verifier, Redirect: rd, Created: c.now().Unix()}
	if binding != "" {
		sum := sha256.Sum256([]byte(binding))
		tr.Binding = sum[:]
	}
	value, err := json.Marshal(tr)
	if err != nil {
		return "", fmt.Errorf("oidc %s start: %w", c.cfg.ID, err)
	}
	stored, err := c.tx.PutOnce(ctx, c.key(state), value, TransactionTTL)
	if err != nil {
		return "", fmt.Errorf("oidc %s start: store transaction: %w", c.cfg.ID, err)
	}
	if !stored {
		return "", fmt.Errorf("oidc %s start: %w", c.cfg.ID, errors.New("state collision"))
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)}
	if c.cfg.Type == TypeGoogle && len(c.cfg.HostedDomains) == 1 {
		// Only a hint for Google's account chooser; Callback enforces hd.
		opts = append(opts, oauth2.SetAuthURLParam("hd", c.cfg.HostedDomains[0]))
	}
	return c.oauth.AuthCodeURL(state, opts...), nil
}

// key is where a transaction lives in the store; the provider id keeps one
// provider's state from being finished at another's callback.
func (c *Connector) key(state string) string { return "oidc:" + c.cfg.ID + ":" + state }

// randomToken returns 256 random bits, base64url (43 characters).
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validToken reports whether s has the shape randomToken makes, so that
// junk from the query never reaches the store.
func validToken(s string) bool {
	if len(s) != 43 {
		return false
	}
	for _, r := range s {
		ok := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}
