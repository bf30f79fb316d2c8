package policy

import "slices"

// MFAStep is what a login still owes after its first factor.
type MFAStep int

const (
	MFANone   MFAStep = iota // the first factor suffices
	MFAPrompt                // ask for the enrolled second factor
	MFAEnroll                // the user must enrol before going anywhere
)

func (s MFAStep) String() string {
	return [...]string{"none", "prompt", "enroll"}[s]
}

// MFAInput is what the 2FA decision looks at.
type MFAInput struct {
	Role         string
	UserRequires bool // the per-user mandate (gatehouse user require-2fa)
	Enrolled     bool
	// Federated is a login through an IdP; IdPAssertedMFA is true only when
	// the IdP said so in the verified token or assertion (OIDC amr/acr,
	// SAML AuthnContext).
	Federated      bool
	IdPAssertedMFA bool
}

// MFARequired reports whether policy mandates a second factor for the
// input: mode required, the user's role listed, or the per-user flag.
func (p *Policy) MFARequired(in MFAInput) bool {
	if p.MFA.Mode == "off" {
		return false
	}
	return p.MFA.Mode == "required" || slices.Contains(p.MFA.RequiredRoles, in.Role) || in.UserRequires
}

// DecideMFA says what a login owes after its first factor. Mode "off"
// turns 2FA off for everyone. Otherwise an enrolled user is always asked
// (a factor someone set up protects them whether or not policy demands
// it), and a user the policy requires 2FA of who has none must enrol. A
// federated login whose IdP asserted MFA is trusted under
// mfa.federated: trust_idp.
func (p *Policy) DecideMFA(in MFAInput) MFAStep {
	if p.MFA.Mode == "off" {
		return MFANone
	}
	if in.Federated && in.IdPAssertedMFA && p.MFA.Federated == "trust_idp" {
		return MFANone
	}
	if in.Enrolled {
		return MFAPrompt
	}
	if p.MFARequired(in) {
		return MFAEnroll
	}
	return MFANone
}

// MFARemovable reports whether a user may remove their own factor: only
// when policy would not require it of them.
func (p *Policy) MFARemovable(in MFAInput) bool {
	return !p.MFARequired(in)
}
