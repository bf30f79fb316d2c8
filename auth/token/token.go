// Package token is the mobile app's "dynamic tokens": an OAuth 2.0
// authorization server for native apps (RFC 8252: the system browser logs
// in, PKCE S256 protects the code) that issues short-lived access tokens
// and rotating refresh tokens bound to a key the device holds (DPoP, RFC
// 9449, verified by the dpop sub-package).
//
// A device's login is a session in the session store, with the device's
// client and key thumbprint sealed in it: the login policy's lifetimes,
// the network rules, "log this user out everywhere", disabling the user
// and the invalidation channel apply to it exactly as to a browser's, and
// no token outlives it. Its id is the device id. The directory keeps a
// durable row per device (first and last seen, address) that lists and
// revocations from the CLI work on.
//
// Tokens:
//
//   - an authorization code is a one-time value in the session store
//     (gc1.…, 60 s), sealed under its own secret, bound to the client, the
//     redirect URI, the PKCE challenge and, when sent, dpop_jkt;
//   - an access token (gat1.…) is the device session's ticket and an
//     expiry, sealed under the key ring: checking one is an AES-GCM open
//     and a near-cache read, no store round trip; it dies with the session;
//   - a refresh token (gr1.….<jkt>) is a one-time value naming the device
//     session, consumed atomically on use and replaced (RFC 9700 §4.14);
//     presenting a used one signs the device out, except for a retry of
//     the token just used inside the policy's grace window, which gets the
//     same new pair again. Its public suffix is the device key's
//     thumbprint, checked against the proof before anything is consumed,
//     so a thief without the key cannot even burn it.
package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/auth/token/dpop"
	"github.com/gatehouse-auth/gatehouse/session"
)

// Config is the configuration file's mobile: section: the apps allowed to
// log in.
type Config struct {
	Clients []Client `yaml:"clients"`
}

// Client is a registered native app. Its redirect URIs are compared with
// the request's exactly (no prefix, case or trailing-slash leniency).
type Client struct {
	ID           string   `yaml:"id"`
	Name         string   `yaml:"name"`
	RedirectURIs []string `yaml:"redirect_uris"`
}

var clientID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate reports every problem with its key under prefix ("mobile").
func (c *Config) Validate(prefix string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		k := fmt.Sprintf("clients[%d]", i)
		switch {
		case !clientID.MatchString(cl.ID):
			bad(k+".id", "must be 1-64 letters, digits, '.', '_' or '-', got %q", cl.ID)
		case seen[cl.ID]:
			bad(k+".id", "%q is registered twice", cl.ID)
		}
		seen[cl.ID] = true
		if len(cl.RedirectURIs) == 0 {
			bad(k+".redirect_uris", "lists no redirect URI; add the app's, e.g. com.example.crm:/oauth/callback")
		}
		for j, u := range cl.RedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				bad(fmt.Sprintf("%s.redirect_uris[%d]", k, j), "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// checkRedirectURI accepts what RFC 8252 §7 allows a native app: a
// private-use scheme in reverse domain form (com.example.crm:/cb), a
// claimed https URL, or the loopback interface over http.
func checkRedirectURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("%q has a fragment, which a redirect URI must not (RFC 6749 §3.1.2)", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q carries user information", s)
	}
	switch {
	case u.Scheme == "https":
		if u.Host == "" {
			return fmt.Errorf("%q has no host", s)
		}
	case u.Scheme == "http":
		if h := u.Hostname(); h != "127.0.0.1" && h != "::1" {
			return fmt.Errorf("%q: plain http is allowed only on the loopback address 127.0.0.1 or [::1] (RFC 8252 §7.3)", s)
		}
	case strings.Contains(u.Scheme, "."):
		if u.Host != "" || u.Opaque != "" {
			return fmt.Errorf("%q: a private-use scheme takes a path only, like com.example.crm:/oauth/callback (RFC 8252 §7.1)", s)
		}
	default:
		return fmt.Errorf("%q: use a reverse-domain private-use scheme (com.example.crm:/cb), https, or http on loopback", s)
	}
	return nil
}

// Sessions is the session manager (session.Manager).
type Sessions interface {
	Create(ctx context.Context, s *session.Session, l session.Limits) (session.Ticket, error)
	Load(ctx context.Context, cookie string, l session.Limits) (*session.Session, error)
	Revoke(ctx context.Context, id string) error
	List(ctx context.Context, userID string) ([]session.Record, error)
}

// Store is the shared session store's one-time values and counters.
type Store interface {
	PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	Take(ctx context.Context, key string) ([]byte, error)
	// Peek reads what is under key without taking it.
	Peek(ctx context.Context, key string) ([]byte, error)
	IncrBy(ctx context.Context, key string, by int64, window time.Duration) (int64, error)
	Count(ctx context.Context, key string) (int64, error)
}

// Devices is the directory's durable device rows.
type Devices interface {
	AddDevice(ctx context.Context, d directory.Device) error
	Device(ctx context.Context, id string) (*directory.Device, error)
	TouchDevice(ctx context.Context, id string, at time.Time, ip string) error
	RevokeDevices(ctx context.Context, userID string, ids []string, at time.Time, reason string) ([]string, error)
}

// Keys seals access tokens and signs nonces (auth/secret.Keyring).
type Keys interface {
	Seal(plaintext, ad []byte) []byte
	Open(sealed, ad []byte) ([]byte, bool, error)
	MAC(purpose string, data []byte) []byte
}

// Policies gives the policy in force and the users disabled since.
type Policies interface {
	Policy() *policy.Versioned
	Disabled(userID string) bool
}

// Auditor records security events.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// Options configure a Service. Every field without a default is required.
type Options struct {
	// Public is the gateway's public URL: the issuer, and the origin
	// DPoP proofs name in htu.
	Public   *url.URL
	Clients  []Client
	Sessions Sessions
	Store    Store
	Devices  Devices
	Keys     Keys
	Policies Policies
	Audit    Auditor
	Log      *slog.Logger
	Now      func() time.Time
	// Network, when set, says whether the user may use the gateway from
	// ip (the network guard's request-time rules); the token endpoint
	// asks it at login and at every refresh.
	Network func(ip netip.Addr, role, userID string) bool
	// ProofWindow bounds how far a proof's iat may lie from now; default
	// 60s (RFC 9449 §11.1 asks for a short one).
	ProofWindow time.Duration
}

// Service is the authorization server and the access-token authenticator.
type Service struct {
	o       Options
	clients map[string]Client
	proofs  *dpop.Verifier
	nonces  nonces
}

// New returns a Service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.ProofWindow == 0 {
		o.ProofWindow = time.Minute
	}
	s := &Service{o: o, clients: map[string]Client{}}
	for _, c := range o.Clients {
		s.clients[c.ID] = c
	}
	s.nonces = nonces{keys: o.Keys, now: o.Now}
	s.proofs = &dpop.Verifier{Window: o.ProofWindow, Replay: o.Store, Now: o.Now, Nonce: s.checkNonce}
	return s
}

// Issuer is the authorization server's identifier (RFC 8414): the
// gateway's public origin.
func (s *Service) Issuer() string {
	return s.o.Public.Scheme + "://" + s.o.Public.Host
}

// Endpoint is the public URL of a gateway path.
func (s *Service) Endpoint(path string) string { return s.Issuer() + path }

// Paths of the endpoints (proxy/oauth mounts them).
const (
	AuthorizePath = "/.gatehouse/oauth/authorize"
	TokenPath     = "/.gatehouse/oauth/token"
	RevokePath    = "/.gatehouse/oauth/revoke"
	MetadataPath  = "/.well-known/oauth-authorization-server"
)

// Metadata is the RFC 8414 document.
func (s *Service) Metadata() map[string]any {
	algs := make([]string, len(dpop.Algorithms))
	for i, a := range dpop.Algorithms {
		algs[i] = string(a)
	}
	return map[string]any{
		"issuer":                                         s.Issuer(),
		"authorization_endpoint":                         s.Endpoint(AuthorizePath),
		"token_endpoint":                                 s.Endpoint(TokenPath),
		"revocation_endpoint":                            s.Endpoint(RevokePath),
		"response_types_supported":                       []string{"code"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"none"},
		"revocation_endpoint_auth_methods_supported":     []string{"none"},
		"dpop_signing_alg_values_supported":              algs,
		"authorization_response_iss_parameter_supported": true,
	}
}

// Error is an OAuth error response (RFC 6749 §5.2, RFC 9449 §7.1).
type Error struct {
	Status      int
	Code        string
	Description string
	// Nonce is sent as DPoP-Nonce with use_dpop_nonce.
	Nonce string
}

func (e *Error) Error() string { return "oauth: " + e.Code + ": " + e.Description }

func oauthErr(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Description: fmt.Sprintf(format, args...)}
}

func invalidRequest(format string, args ...any) *Error {
	return oauthErr(http.StatusBadRequest, "invalid_request", format, args...)
}

func invalidGrant(format string, args ...any) *Error {
	return oauthErr(http.StatusBadRequest, "invalid_grant", format, args...)
}

// unavailable is a check that could not be made (a store outage): the
// request is refused, and the client may retry.
func (s *Service) unavailable(ctx context.Context, err error) *Error {
	s.o.Log.WarnContext(ctx, "oauth request could not be completed", "error", err)
	return oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "the gateway could not complete the request; retry shortly")
}

// allowedFrom applies the network rules to a token request.
func (s *Service) allowedFrom(ip, role, userID string) *Error {
	if s.o.Network == nil {
		return nil
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || !s.o.Network(a, role, userID) {
		return oauthErr(http.StatusForbidden, "access_denied", "the login policy does not allow this account from this network")
	}
	return nil
}

// limits are the device session's lifetimes: the login policy's.
func limits(p *policy.Policy) session.Limits {
	return session.Limits{Absolute: p.Session.AbsoluteLifetime, Idle: p.Session.IdleTimeout}
}

// client returns a registered client.
func (s *Service) client(id string) (Client, bool) {
	c, ok := s.clients[id]
	return c, ok
}

func (c Client) registered(uri string) bool { return slices.Contains(c.RedirectURIs, uri) }
