package policy

import "testing"

func TestDecideMFA(t *testing.T) {
	pol := func(mode string, roles ...string) *Policy {
		p := Default()
		p.MFA.Mode, p.MFA.RequiredRoles = mode, roles
		return &p
	}
	tests := []struct {
		name string
		p    *Policy
		in   MFAInput
		want MFAStep
	}{
		{"optional, not enrolled", pol("optional"), MFAInput{Role: "sales"}, MFANone},
		{"optional, enrolled: asked", pol("optional"), MFAInput{Role: "sales", Enrolled: true}, MFAPrompt},
		{"required for all, not enrolled: enrol", pol("required"), MFAInput{Role: "sales"}, MFAEnroll},
		{"required for all, enrolled", pol("required"), MFAInput{Role: "sales", Enrolled: true}, MFAPrompt},
		{"required for admin role, admin", pol("optional", "admin"), MFAInput{Role: "admin"}, MFAEnroll},
		{"required for admin role, sales", pol("optional", "admin"), MFAInput{Role: "sales"}, MFANone},
		{"per-user mandate", pol("optional"), MFAInput{Role: "sales", UserRequires: true}, MFAEnroll},
		{"mode off beats everything", pol("off", "admin"), MFAInput{Role: "admin", UserRequires: true, Enrolled: true}, MFANone},
		{"federated, IdP asserted MFA, trust_idp", pol("required"), MFAInput{Federated: true, IdPAssertedMFA: true}, MFANone},
		{"federated, IdP silent: ours", pol("required"), MFAInput{Federated: true}, MFAEnroll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.DecideMFA(tt.in); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	always := pol("required")
	always.MFA.Federated = "always"
	if got := always.DecideMFA(MFAInput{Federated: true, IdPAssertedMFA: true}); got != MFAEnroll {
		t.Errorf("federated: always with IdP MFA: got %v, want enroll", got)
	}
	if pol("optional", "admin").MFARemovable(MFAInput{Role: "admin"}) {
		t.Error("an admin under required_roles may remove their factor")
	}
}
