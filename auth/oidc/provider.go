package oidc

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/gatehouse-auth/gatehouse/auth/federation"
)

// provider is a Connector as the protocol half of a federated login: it
// maps the verified claims to federation.Claims and its errors to what
// the user is told.
type provider struct {
	c         *Connector
	id, label string
}

var _ federation.Protocol = (*provider)(nil)

func (p *provider) Protocol() string { return "oidc" }

func (p *provider) Start(ctx context.Context, rd, binding string) (string, error) {
	return p.c.StartBound(ctx, rd, binding)
}

func (p *provider) Finish(r *http.Request, binding string) (federation.Claims, string, error) {
	res, err := p.c.CallbackBound(r.Context(), r.URL.Query(), binding)
	if err != nil {
		return federation.Claims{}, "", p.refusal(err)
	}
	return federation.Claims{Provider: p.id, Method: p.c.Method(), Subject: res.Subject, Email: res.Email,
		EmailVerified: res.EmailVerified, Name: res.Name, Groups: res.Groups, MFA: MFA(res.AMR), SessionID: res.SessionID}, res.Redirect, nil
}

// refusals word each kind of refused callback; %s is the provider's label.
var refusals = []struct {
	err         error
	status      int
	reason, msg string
}{
	{ErrState, http.StatusBadRequest, "state", "This sign-in attempt expired or was already used. Please start again from the login page."},
	{ErrProvider, http.StatusUnauthorized, "provider_error", "%s did not complete the sign-in."},
	{ErrEmailUnverified, http.StatusForbidden, "email_unverified", "%s did not confirm your email address, so it cannot be used to sign in."},
	{ErrHostedDomain, http.StatusForbidden, "hosted_domain", "This %s account is not allowed here. Sign in with your organisation's account."},
	{ErrNonce, http.StatusUnauthorized, "nonce", "The sign-in response could not be verified. Please start again."},
	{ErrToken, http.StatusUnauthorized, "token", "The sign-in response could not be verified. Please start again."},
}

// RefusalCodes are the codes of the callback refusals, for the page
// catalogues' test.
func RefusalCodes() []string {
	codes := make([]string, len(refusals))
	for i, r := range refusals {
		codes[i] = "federated_" + r.reason
	}
	return codes
}

// refusal turns a callback error into the page the user sees; an error
// that is not the protocol's (a store outage) stays internal.
func (p *provider) refusal(err error) error {
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return federation.Refuse(r.status, p.c.Method(), r.reason, r.msg, p.label, err)
		}
	}
	return err
}

// mfaMethods are the RFC 8176 authentication method references that say
// more than a password was used.
var mfaMethods = []string{"mfa", "otp", "hwk", "swk", "sms", "tel", "fpt", "face", "iris", "retina", "vbm"}

// MFA reports whether an ID token's amr claim asserts multi-factor
// authentication; policy mfa.federated decides whether that counts.
func MFA(amr []string) bool {
	return slices.ContainsFunc(amr, func(m string) bool { return slices.Contains(mfaMethods, m) })
}
