package auth

import (
	"context"
	"net/http"
	"net/netip"
	"time"
)

// The shapes of login methods. Like Dex's connectors they are split by how
// they interact: a request Authenticator reads a credential the client
// sends on every request (the session cookie; later API keys and DPoP
// tokens), a PasswordLogin checks a username and password typed into the
// gateway's own form, and a RedirectLogin sends the browser to an identity
// provider and finishes when it comes back.

// Credential is what an Authenticator established about one request.
type Credential struct {
	// Kind names the credential (KindSession, KindAPIKey, KindDevice).
	Kind string
	// ID is the credential's public, log-safe id (the session id).
	ID       string
	Identity Identity
	// Pending is a login step still owed ("2fa", "2fa_enroll"); a
	// credential with a pending step never reaches the upstream.
	Pending string
	// Created is when the credential was issued (the login time).
	Created time.Time
	// Deadline is when the credential ends whatever happens (the
	// absolute lifetime); zero when it has none.
	Deadline time.Time
	// Scopes narrow what the credential may do to these features (nil:
	// whatever its user's template grants); the authorize step grants
	// their intersection with the user's, so a credential never exceeds
	// its user.
	Scopes []string
	// Networks is the credential's own allowlist (nil: none), checked by
	// the pipeline after the policy's network rules.
	Networks []netip.Prefix
}

// Credential kinds.
const (
	KindSession = "session"
	KindAPIKey  = "apikey"
	// KindDevice is a mobile device's OAuth access token: a session that
	// only its tokens open (auth/token).
	KindDevice = "device"
)

// Refused is a credential refused with a reason the client may see and act
// on (an API client must know whether to retry later, fix its request or
// ask for a new key), unlike ErrInvalidCredentials, which says nothing.
type Refused struct {
	Status     int    // HTTP status
	Code       string // machine-readable, e.g. "invalid_api_key", "rate_limited"
	Message    string
	RetryAfter time.Duration // for 429
	// Scheme is the HTTP authentication scheme of the challenge a 401
	// carries (default "Bearer"; "DPoP" for device-bound tokens).
	Scheme string
	// Nonce, when set, is sent as DPoP-Nonce (error use_dpop_nonce).
	Nonce string
}

func (e *Refused) Error() string { return "auth: refused: " + e.Code }

// Authenticator reads one kind of credential from a request. It answers
// ErrNoCredentials when the request carries none of its kind (the pipeline
// then asks the next one), ErrInvalidCredentials when it carries one that
// does not verify, *Expired when it names a credential that has ended, and
// any other error when the check could not be made (a store outage: the
// pipeline refuses the request).
type Authenticator interface {
	Authenticate(r *http.Request) (Credential, error)
}

// Expired reports a credential that was valid and has ended; Reason says
// why (idle, absolute, revoked), for the page that asks to log in again.
// ID and UserID name the credential and its user, for the audit event.
type Expired struct {
	Reason     string
	ID, UserID string
	// Again: someone else ended it first and reported it (the session
	// sweep, another replica); the pipeline refuses without an event.
	Again bool
}

func (e *Expired) Error() string { return "auth: credential ended: " + e.Reason }

// PasswordLogin is a password-shaped login method: the local password
// today, the delegated "API" provider later.
type PasswordLogin interface {
	Authenticate(ctx context.Context, username, password, clientIP string) (Identity, error)
}

// RedirectLogin is a redirect-shaped login method: an external identity
// provider (Google, OIDC, SAML) offered as a button on the login page.
// Implementations verify the protocol and map the result to a directory
// user; the gateway runs the rest of the login (network rules, 2FA,
// session) exactly as for a password.
type RedirectLogin interface {
	ID() string
	Label() string
	// Protocol is "oidc" or "saml": which callback and metadata routes
	// belong to this provider (the others answer 404 for its id).
	Protocol() string
	// Start returns where to send the browser to log in, remembering rd.
	// binding is a secret only this browser holds (a short-lived cookie):
	// Finish must present it again, so a callback URL from someone else's
	// login cannot log this browser in (login CSRF).
	Start(ctx context.Context, rd, binding string) (string, error)
	// Finish completes the login from the provider's callback (OIDC) or
	// POST (SAML). Errors the user should see are *Refusal.
	Finish(r *http.Request, binding string) (FederatedResult, error)
}

// MetadataProvider is implemented by SAML providers: the SP metadata to
// give the IdP administrator.
type MetadataProvider interface {
	Metadata() ([]byte, error)
}

// BackchannelLogout is implemented by OIDC providers configured for
// back-channel logout (OpenID Connect Back-Channel Logout 1.0): the
// provider tells the gateway, server to server, that a session there
// ended. VerifyLogout checks a logout token completely but for its
// single use, which the caller records (LogoutNotice.TokenID); errors
// wrap ErrInvalidCredentials when the token is refused, and are anything
// else when it could not be checked (the provider's keys unreachable).
type BackchannelLogout interface {
	VerifyLogout(ctx context.Context, token string) (LogoutNotice, error)
}

// LogoutNotice is a verified logout token: the provider's subject, its
// session id (sid), or both, whose sessions end.
type LogoutNotice struct {
	Subject   string
	SessionID string
	// TokenID (jti) must be accepted once; remembering it for TTL is
	// enough, since the token is refused after that anyway.
	TokenID string
	TTL     time.Duration
}

// FederatedResult is a completed federated first factor.
type FederatedResult struct {
	Identity Identity
	Redirect string
	// MFA is true when the provider asserted multi-factor authentication
	// in what it signed; policy mfa.federated decides whether it counts.
	MFA    bool
	Detail map[string]string // for the audit event (e.g. created, linked)
}

// Refusal is a refused login the user is told about in words they can act
// on ("your account is not set up here"). Status is the HTTP status the
// page is served with; Code is a stable machine code; Message is fixed
// text safe to show. Err is for the log and the audit reason only.
type Refusal struct {
	Status  int
	Code    string
	Message string
	// Arg is what fills the message's %s (a provider's label), so a
	// page can word it in the reader's language under "error.<Code>".
	Arg string
	Err error
}

func (r *Refusal) Error() string {
	if r.Err != nil {
		return r.Code + ": " + r.Err.Error()
	}
	return r.Code
}

func (r *Refusal) Unwrap() error { return r.Err }
