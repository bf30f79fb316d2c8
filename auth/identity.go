// Package auth holds what every login method produces and every later check
// consumes: the Identity, and the sentinel errors a method returns so the
// caller knows whether to try the next method or to stop.
package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// Login method names, as they appear in X-Gatehouse-Auth-Method. A session
// that passed several factors lists them joined with "+" (password+totp).
const (
	MethodPassword = "password"
	MethodGoogle   = "google"
	MethodOIDC     = "oidc"
	MethodSAML     = "saml"
	MethodAPIKey   = "api_key"
	MethodTOTP     = "totp"
	// MethodDPoP marks a mobile device's login whose every request proves
	// possession of the device key; MethodMobile one whose refresh tokens
	// only are bound (policy mobile.dpop: refresh_only).
	MethodDPoP   = "dpop"
	MethodMobile = "mobile"
)

var (
	// ErrNoCredentials means the request carried nothing this method reads;
	// the caller may try the next method.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrInvalidCredentials means the credentials were checked and refused;
	// the caller must stop and must not say why.
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrLockedOut means too many failures for this account or client.
	ErrLockedOut = errors.New("auth: too many attempts")
	// ErrDisabled means the account exists but is disabled.
	ErrDisabled = errors.New("auth: account disabled")
)

// Identity is who a request is, as established by a login method and looked
// up in the directory. It is the one shape every method returns (password,
// OIDC, SAML, API key), so sessions and headers never depend on the method.
type Identity struct {
	UserID      string `json:"uid"`
	Username    string `json:"usr"`
	Email       string `json:"eml,omitempty"`
	DisplayName string `json:"dn,omitempty"`
	Role        string `json:"rol"`
	// Template is the user's own permission template ("" = the role's);
	// changing it ends the user's sessions, as changing the role does.
	Template string   `json:"tpl,omitempty"`
	Groups   []string `json:"grp,omitempty"`
	// Methods lists the factors passed, in order (["password","totp"]).
	Methods []string `json:"amr"`
	// Provider is the configured provider id for federated logins
	// ("google", "corp", "adfs"); empty for local methods.
	Provider string `json:"idp,omitempty"`
	// Subject is the provider's stable subject for federated logins; users
	// are keyed by Provider+Subject, never by Subject alone.
	Subject string `json:"sub,omitempty"`
	// IdPSession names the provider's session this login came from
	// (OIDC sid), as IdPSessionKey makes it, so a back-channel logout
	// for that session finds it; empty when the provider gave none.
	IdPSession string `json:"isid,omitempty"`
	// IdPMFA is true when the identity provider asserted multi-factor
	// authentication for this login (OIDC amr, SAML AuthnContext), which
	// policy mfa.federated: trust_idp accepts as the second factor.
	IdPMFA bool `json:"idpmfa,omitempty"`
	// MustChangePassword marks a password login with an administrator-set
	// password: it owes a new one before it completes. Only the password
	// method sets it.
	MustChangePassword bool `json:"pwchg,omitempty"`
}

// Failure explains a refused login for the audit log. The client sees only
// the sentinel it wraps (ErrInvalidCredentials, ErrLockedOut), so every
// reason looks the same from outside.
type Failure struct {
	Method string // the login method that refused
	Reason string // e.g. unknown_user, wrong_password, disabled, locked_out
	UserID string // when the account is known
	Err    error
}

// Error includes the cause: it goes to the log (never to the client), and
// causes are built to be safe to log (no tokens, codes or passwords).
func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Method + " login refused: " + f.Reason
	}
	return f.Method + " login refused: " + f.Reason + ": " + f.Err.Error()
}
func (f *Failure) Unwrap() error { return f.Err }

// IdPSessionKey is what a session records of an identity provider's
// session id (OIDC sid): a digest, bound to the provider, so the store
// holds no value of the provider's and one provider's sid cannot name
// another's session.
func IdPSessionKey(provider, sid string) string {
	if sid == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(provider + "\x00" + sid))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}
