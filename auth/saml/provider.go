package saml

import (
	"context"
	"errors"
	"net/http"
	"slices"

	crewsaml "github.com/crewjam/saml"
	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
)

// provider is a Connector as the protocol half of a federated login: it
// chooses the subject, reads the AuthnContext for IdP MFA, and words
// refusals for the user.
type provider struct {
	c         *Connector
	id, label string
}

var (
	_ federation.Protocol   = (*provider)(nil)
	_ auth.MetadataProvider = (*provider)(nil)
)

func (p *provider) Protocol() string { return Type }

func (p *provider) Start(ctx context.Context, rd, binding string) (string, error) {
	return p.c.StartWithBinding(ctx, rd, binding)
}

func (p *provider) Metadata() ([]byte, error) { return p.c.Metadata() }

func (p *provider) Finish(r *http.Request, binding string) (federation.Claims, string, error) {
	res, err := p.c.ACSWithBinding(r, binding)
	if err != nil {
		return federation.Claims{}, "", p.refusal(err)
	}
	return Claims(p.id, res), res.Redirect, nil
}

// transientNameID is the NameID format that changes at every login.
const transientNameID = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"

// Claims is what a verified assertion vouches for, as federation.Claims
// of provider id. The subject is the NameID unless it is transient (a new
// one per login, never a stable key) or absent, then the UPN, then the
// email. An email the IdP asserted counts as verified: the IdP is the
// directory of record for its users.
func Claims(id string, res Result) federation.Claims {
	subject := res.NameID
	if res.NameIDFormat == transientNameID || subject == "" {
		subject = res.UPN
	}
	if subject == "" {
		subject = res.Email
	}
	return federation.Claims{Provider: id, Method: auth.MethodSAML, Subject: subject, Email: res.Email,
		EmailVerified: res.Email != "", UPN: res.UPN, Name: res.Name, Groups: res.Groups, MFA: MFA(res.AuthnContext)}
}

// mfaContexts are AuthnContextClassRef values that say the IdP used more
// than a password (ADFS's multipleauthn, and the SAML 2.0 classes).
var mfaContexts = []string{
	"http://schemas.microsoft.com/claims/multipleauthn",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
}

// MFA reports whether an AuthnContextClassRef asserts multi-factor
// authentication; policy mfa.federated decides whether that counts.
func MFA(authnContext string) bool { return slices.Contains(mfaContexts, authnContext) }

// refusalReasons name each kind of refused response for the audit log.
var refusalReasons = []struct {
	err    error
	reason string
}{{ErrUnsolicited, "unsolicited"}, {ErrReplay, "replay"}, {ErrAudience, "audience"}, {ErrNoIdentity, "no_identity"}}

// refusal turns a refused response into one page for every kind (the
// audit log has the kind), and the IdP's own refusal into another;
// anything else (a store outage) stays internal.
func (p *provider) refusal(err error) error {
	var se *Error
	if !errors.As(err, &se) {
		return err
	}
	reason := "invalid_response"
	for _, k := range refusalReasons {
		if errors.Is(err, k.err) {
			reason = k.reason
		}
	}
	msg := "The sign-in response from %s could not be accepted. Please start again from the login page."
	var bad crewsaml.ErrBadStatus
	if errors.As(err, &bad) {
		msg, reason = "%s did not complete the sign-in.", "idp_status"
	}
	return federation.Refuse(http.StatusUnauthorized, auth.MethodSAML, reason, msg, p.label, err)
}

// RefusalCodes are the codes of the refused responses, for the page
// catalogues' test.
func RefusalCodes() []string {
	codes := []string{"federated_invalid_response", "federated_idp_status"}
	for _, k := range refusalReasons {
		codes = append(codes, "federated_"+k.reason)
	}
	return codes
}
