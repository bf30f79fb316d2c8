package configs

import (
	"strings"
	"testing"
)

// TestEmailSection: off by default; password_reset needs it; the
// environment sets it like any key; its own errors come with the rest.
func TestEmailSection(t *testing.T) {
	c, err := Parse(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Email.Enabled() || c.Email.SMTP.TLS != "starttls" {
		t.Errorf("email defaults: %+v, want off with starttls", c.Email.SMTP)
	}
	_, err = Parse([]byte("policy: {methods: {password: true, password_reset: true}}"), nil)
	if err == nil || !strings.Contains(err.Error(), "policy.methods.password_reset: the reset link is sent by email; configure email.smtp") {
		t.Errorf("password_reset without email: %v", err)
	}
	c, err = Parse([]byte("policy: {methods: {password: true, password_reset: true}}"),
		[]string{"GATEHOUSE_EMAIL_SMTP_HOST=smtp.example.com", "GATEHOUSE_EMAIL_SMTP_FROM=no-reply@example.com"})
	if err != nil || c.Email.SMTP.Host != "smtp.example.com" || c.Email.SMTP.Port != 587 || !c.Policy.SelfServiceReset() {
		t.Fatalf("email from the environment: %v %+v", err, c.Email.SMTP)
	}
	_, err = Parse([]byte("listen: nope\nemail: {smtp: {host: smtp.example.com, tls: none}}"), nil)
	for _, want := range []string{"listen:", "email.smtp.tls: none sends the password", "email.smtp.from: required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if _, err := Parse([]byte("providers: [{id: password_reset, type: oidc, issuer: 'https://idp.example.com', client_id: x, client_secret: y}]"), nil); err == nil {
		t.Error("a provider may take password_reset as its id")
	}
}

// TestSecondFactorSenders: a policy allowing email or SMS codes needs
// the sender, and passkeys a public_url naming a host; the SMS log sender is refused outside development and
// accepted on a loopback http public_url.
func TestSecondFactorSenders(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"policy: {mfa: {methods: [totp, email]}}", "policy.mfa.methods: email codes are sent through email.smtp"},
		{"policy: {mfa: {methods: [sms]}}", "policy.mfa.methods: SMS codes are sent through sms.webhook"},
		{"public_url: https://crm.example.com\nsms: {log: true}", "sms.log: the log sender writes every code to the log"},
		{"public_url: http://crm.example.com\nsms: {log: true}", "sms.log: the log sender writes every code to the log"},
		{"public_url: http://127.0.0.1:8080\nsms: {log: true}\npolicy: {mfa: {methods: [sms]}}", ""},
		{"policy: {mfa: {methods: [webauthn]}}", "passkeys are bound to public_url's host and browsers refuse an IP address (127.0.0.1)"},
		{"public_url: http://localhost:8080\npolicy: {mfa: {methods: [totp, webauthn]}, methods: {password: true, passkey: true}}", ""},
		{"public_url: http://localhost:8080\npolicy: {methods: {passkey: true}}", "policy.methods.passkey: passwordless login uses the passkeys"},
	} {
		_, err := Parse([]byte(c.yaml), nil)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.yaml, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
		}
	}
}
