// Package oidc is the login method for Google and any OpenID Connect
// provider: the authorization code flow with PKCE (S256), a state and a
// nonce kept server-side for one use and ten minutes, and an ID token
// verified by go-oidc with an explicit list of algorithms.
//
// go-oidc and x/oauth2 leave several checks to the caller, and this package
// makes them: the nonce (compared in constant time), at_hash when present,
// the RFC 9207 iss response parameter (a mix-up defence), azp and iat,
// email_verified, and Google's hd against the configured Workspace domains.
//
// A login is two calls. Start records the transaction and returns the URL
// to send the browser to; Callback, given the query the provider sent the
// browser back with, consumes the transaction and returns the verified
// claims.
//
// The package also owns a google or oidc provider's configuration: Section
// is its keys in a providers[] entry, with their defaults and the one
// validation both `check-config` and `serve` run, and Section.Open builds
// the provider as an auth.RedirectLogin (claims mapped to
// federation.Claims, amr read for IdP MFA, refusals worded for the user,
// the user found by auth/federation). The gateway owns the routes and the
// binding cookie.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
)

// Provider types.
const (
	TypeOIDC   = "oidc"
	TypeGoogle = "google"
)

// GoogleIssuer is Google's fixed issuer.
const GoogleIssuer = "https://accounts.google.com"

// TransactionTTL is how long a started login can be finished. It bounds
// how long a stolen state is worth anything.
const TransactionTTL = 10 * time.Minute

// allowedAlgs are the asymmetric algorithms go-oidc verifies. HS* (which
// would make the client secret a signing key) and none are never allowed.
var allowedAlgs = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Config is one provider's settings.
type Config struct {
	ID   string // provider id, a path segment: "corp", "google"
	Type string // TypeOIDC or TypeGoogle
	// Issuer is the OpenID issuer URL. For TypeGoogle leave it empty to get
	// GoogleIssuer; a value overrides it, which only tests should do.
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string // default openid, email, profile; openid is always sent
	RedirectURL  string   // https://gw/.gatehouse/oidc/{id}/callback
	// HostedDomains restricts Google logins to these Workspace domains (the
	// hd claim); empty allows any Google account. TypeGoogle only.
	HostedDomains []string
	Algs          []string // accepted ID token algorithms; default RS256, ES256
}

// withDefaults fills what the admin may leave out.
func (c Config) withDefaults() Config {
	if c.Type == TypeGoogle && c.Issuer == "" {
		c.Issuer = GoogleIssuer
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "email", "profile"}
	}
	if !slices.Contains(c.Scopes, "openid") {
		c.Scopes = append([]string{"openid"}, c.Scopes...)
	}
	if len(c.Algs) == 0 {
		c.Algs = []string{"RS256", "ES256"}
	}
	return c
}

// Validate reports every problem at once, each with its key path
// ("providers[<id>].issuer: ..."). It does no network I/O; New does
// discovery.
func (c Config) Validate() error {
	key := "providers[" + c.ID + "]"
	var errs []error
	if !idPattern.MatchString(c.ID) {
		errs = append(errs, fmt.Errorf("%s.id: must be 1-63 of a-z, 0-9, _ and -, starting with a letter or digit", key))
	}
	return errors.Join(append(errs, c.problems(key)...)...)
}

// problems checks everything but the id (which a configuration file's
// entry validates with its other common keys), with keys under key.
func (c Config) problems(key string) []error {
	c = c.withDefaults()
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
	}
	switch c.Type {
	case TypeOIDC, TypeGoogle:
	default:
		add("type", "must be %q or %q, got %q", TypeOIDC, TypeGoogle, c.Type)
	}
	if err := secureURL(c.Issuer); err != nil {
		add("issuer", "%v", err)
	}
	if c.ClientID == "" {
		add("client_id", "required")
	}
	if c.ClientSecret == "" {
		add("client_secret", "required (client_secret, client_secret_file or environment)")
	}
	if err := secureURL(c.RedirectURL); err != nil {
		add("redirect_url", "the callback URL %v; it is public_url + /.gatehouse/oidc/<id>/callback, so give public_url as https:// (plain http only on a loopback address)", err)
	}
	if len(c.HostedDomains) > 0 && c.Type != TypeGoogle {
		add("hosted_domains", "only for type %q; remove it, or use type %q for Google Workspace", TypeGoogle, TypeGoogle)
	}
	for _, a := range c.Algs {
		if !slices.Contains(allowedAlgs, a) {
			add("algs", "%q is not one of %v", a, allowedAlgs)
		}
	}
	return errs
}

// secureURL accepts an absolute https URL, or http to a loopback host
// (tests and local development only).
func secureURL(raw string) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("must be an absolute URL without credentials or fragment, got %q", raw)
	}
	if u.Scheme == "https" || (u.Scheme == "http" && auth.LoopbackHost(u.Hostname())) {
		return nil
	}
	return fmt.Errorf("must use https, got %q", raw)
}

// Transactions keeps the one-time login transactions. session.Nonces
// satisfies it, so the memory and Redis session backends both work and a
// login started on one replica can finish on another.
type Transactions interface {
	PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	Take(ctx context.Context, key string) ([]byte, error)
}

// Result is a verified login: the provider's claims about the user and the
// redirect target recorded at Start.
type Result struct {
	Subject       string
	Issuer        string
	Email         string // verified: a token with an unverified email is refused
	EmailVerified bool
	Name          string
	Groups        []string
	AMR           []string
	HostedDomain  string // Google's hd
	// Redirect is the rd given to Start. The gateway validated it then and
	// should validate it again before using it.
	Redirect string
	Raw      map[string]any // every ID token claim, for claim mapping
	// SessionID is the provider's session (the sid claim), which its
	// back-channel logout names; empty when absent.
	SessionID string
}

// Method returns the X-Gatehouse-Auth-Method of a provider type.
func Method(providerType string) string {
	if providerType == TypeGoogle {
		return auth.MethodGoogle
	}
	return auth.MethodOIDC
}

// Sentinels a Callback error wraps; the gateway branches on them with
// errors.Is to pick the page and the audit reason. An error wrapping none
// of them is an internal failure (a store outage, say) and must fail
// closed. No error string carries a code or a token.
var (
	// ErrState: the state is missing, malformed, unknown, already used,
	// expired, or bound to another browser. Start again.
	ErrState = errors.New("oidc: invalid login state")
	// ErrNonce: the ID token's nonce is not this login's.
	ErrNonce = errors.New("oidc: nonce mismatch")
	// ErrToken: the ID token failed verification (signature, algorithm,
	// issuer, audience, azp, time, at_hash, missing claims).
	ErrToken = errors.New("oidc: id token rejected")
	// ErrProvider: the provider answered with an error, refused the code,
	// or the response's iss is not this provider's (mix-up).
	ErrProvider = errors.New("oidc: provider error")
	// ErrHostedDomain: a Google account outside the allowed domains.
	ErrHostedDomain = errors.New("oidc: hosted domain not allowed")
	// ErrEmailUnverified: the provider does not vouch for the email.
	ErrEmailUnverified = errors.New("oidc: email not verified")
)

// ResponseError is an error response from the authorization endpoint
// (RFC 6749 §4.1.2.1), such as the user pressing "cancel". Code is safe to
// log and to show; the free-text description is dropped because an
// attacker can put anything in a callback URL.
type ResponseError struct {
	Code string // "access_denied", "login_required"…, or "invalid"
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("oidc: provider returned error %q", e.Code)
}

// Unwrap makes errors.Is(err, ErrProvider) true.
func (e *ResponseError) Unwrap() error { return ErrProvider }

// safeCode returns an RFC 6749 error code if s looks like one, else
// "invalid": the value comes from the query string or the provider and goes
// into logs and pages.
func safeCode(s string) string {
	if s == "" || len(s) > 64 {
		return "invalid"
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '_' {
			return "invalid"
		}
	}
	return s
}
