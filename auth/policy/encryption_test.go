package policy_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// TestPasswordEncryptionIsNotAMethod: methods.password_encryption is
// accepted, read by EncryptPasswords, kept through a store round trip,
// and never counts as a login method, so it cannot switch the form on or
// stand in for one when everything else is off.
func TestPasswordEncryptionIsNotAMethod(t *testing.T) {
	tests := []struct {
		name        string
		doc         string
		encrypt     bool
		password    bool
		nobodyLogin bool // CheckMethods with no providers complains
	}{
		{"on", "methods: {password: true, password_encryption: true}\n", true, true, false},
		{"off", "methods: {password: true, password_encryption: false}\n", false, true, false},
		{"absent", "methods: {password: true}\n", false, true, false},
		{"defaults", "session: {idle_timeout: 10m}\n", false, true, false},
		{"alone is no method", "methods: {password_encryption: true}\n", true, false, true},
		{"password off", "methods: {password: false, password_encryption: true}\n", true, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.Parse([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := p.EncryptPasswords(); got != tc.encrypt {
				t.Errorf("EncryptPasswords: got %v, want %v", got, tc.encrypt)
			}
			if p.MethodEnabled(policy.PasswordEncryption) {
				t.Errorf("MethodEnabled(%q): got true, want false: it is not a login method", policy.PasswordEncryption)
			}
			if got := p.MethodEnabled("password"); got != tc.password {
				t.Errorf("MethodEnabled(password): got %v, want %v", got, tc.password)
			}
			err = p.CheckMethods("policy", nil)
			if got := err != nil; got != tc.nobodyLogin {
				t.Errorf("CheckMethods: got %v, want an error: %v", err, tc.nobodyLogin)
			}
			doc, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			q, err := policy.Parse(doc)
			if err != nil || q.EncryptPasswords() != tc.encrypt {
				t.Fatalf("round trip: EncryptPasswords %v, %v; want %v\n%s", q.EncryptPasswords(), err, tc.encrypt, doc)
			}
		})
	}
	if !policy.IsMethodOption("password_encryption") || policy.IsMethodOption("password") || policy.IsMethodOption("google") {
		t.Error("IsMethodOption: only password_encryption is an option")
	}
	if policy.PasswordEncryption != "password_encryption" {
		t.Errorf("the key is %q; it is documented as password_encryption", policy.PasswordEncryption)
	}
}
