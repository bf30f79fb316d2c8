package email_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-auth/gatehouse/auth/email"
	"github.com/gatehouse-auth/gatehouse/auth/email/emailtest"
)

func config(t *testing.T, doc string) *email.Config {
	t.Helper()
	var wrap struct {
		Email email.Config `yaml:"email"`
	}
	if err := yaml.Unmarshal([]byte(doc), &wrap); err != nil {
		t.Fatal(err)
	}
	wrap.Email.SetDefaults()
	return &wrap.Email
}

func sender(t *testing.T, c *email.Config) *email.SMTPSender {
	t.Helper()
	if err := c.Validate("email"); err != nil {
		t.Fatal(err)
	}
	s, err := email.NewSender(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSendOverSTARTTLS: a message reaches a real SMTP server over
// STARTTLS, logged in with the password file, with the subject, sender
// and text as given.
func TestSendOverSTARTTLS(t *testing.T) {
	srv := emailtest.Start(t, emailtest.Options{})
	s := sender(t, config(t, srv.Config("CRM sign-in <no-reply@corp.example>")))
	err := s.Send(context.Background(), email.Message{To: "alice@corp.example", Subject: "Reset your password",
		Text: "Open this link: https://crm.example.com/.gatehouse/password/reset?token=abc\n"})
	if err != nil {
		t.Fatal(err)
	}
	m := srv.Wait(t, 1)
	if m.From != "no-reply@corp.example" || len(m.To) != 1 || m.To[0] != "alice@corp.example" {
		t.Fatalf("envelope %q → %v", m.From, m.To)
	}
	if m.Header("Subject") != "Reset your password" || !strings.Contains(m.Body(), "password/reset?token=abc") {
		t.Fatalf("message:\n%s", m.Data)
	}
}

// TestSendRefusals: a relay without STARTTLS is refused before the
// password or the message is sent; a wrong password and a relay that
// refuses the message are errors; an unverifiable certificate (no
// ca_file) is refused.
func TestSendRefusals(t *testing.T) {
	ctx := context.Background()
	msg := email.Message{To: "alice@corp.example", Subject: "s", Text: "secret link"}

	plain := emailtest.Start(t, emailtest.Options{NoTLS: true})
	c := config(t, plain.Config("no-reply@corp.example"))
	c.SMTP.TLS = email.TLSStartTLS
	if err := sender(t, c).Send(ctx, msg); err == nil || len(plain.Messages()) != 0 {
		t.Fatalf("a relay without STARTTLS: err %v, %d messages; want refused", err, len(plain.Messages()))
	}

	srv := emailtest.Start(t, emailtest.Options{})
	wrong := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(wrong, []byte("not-the-password\n"), 0o600)
	c = config(t, srv.Config("no-reply@corp.example"))
	c.SMTP.PasswordFile = wrong
	if err := sender(t, c).Send(ctx, msg); err == nil {
		t.Fatal("wrong password: sent")
	}
	c = config(t, srv.Config("no-reply@corp.example"))
	c.SMTP.CAFile = ""
	if err := sender(t, c).Send(ctx, msg); err == nil {
		t.Fatal("a certificate from an unknown CA: sent")
	}
	srv.SetFailing(true)
	if err := sender(t, config(t, srv.Config("no-reply@corp.example"))).Send(ctx, msg); err == nil || strings.Contains(err.Error(), "secret link") {
		t.Fatalf("a refused message: %v; want an error that does not quote the body", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages accepted", n)
	}
}

// TestValidate: every problem names its key and the fix; nothing is
// read without a host.
func TestValidate(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("pw\n"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, tt := range []struct {
		doc, want string
	}{
		{"email: {smtp: {from: a@b.example}}", "email.smtp.host: required when from is set"},
		{"email: {smtp: {host: 'smtp.example.com:587', from: a@b.example}}", "email.smtp.host: \"smtp.example.com:587\" must be a host name or address alone"},
		{"email: {smtp: {host: smtp.example.com, tls: none, from: a@b.example}}", "email.smtp.tls: none sends the password"},
		{"email: {smtp: {host: smtp.example.com, tls: ssl, from: a@b.example}}", "email.smtp.tls: \"ssl\" is not one of"},
		{"email: {smtp: {host: smtp.example.com}}", "email.smtp.from: required"},
		{"email: {smtp: {host: smtp.example.com, from: 'not an address'}}", "email.smtp.from: \"not an address\" is not an email address"},
		{"email: {smtp: {host: smtp.example.com, from: a@b.example, port: 70000}}", "email.smtp.port: must be 1-65535"},
		{"email: {smtp: {host: smtp.example.com, from: a@b.example, timeout: 2m}}", "email.smtp.timeout: must be between 1s and 1m"},
		{"email: {smtp: {host: smtp.example.com, from: a@b.example, username: u}}", "email.smtp.password_file: username and password_file go together"},
		{"email: {smtp: {host: smtp.example.com, from: a@b.example, username: u, password_file: " + open + "}}", "email.smtp.password_file: " + open + " has mode 0644"},
		{"email: {smtp: {host: smtp.example.com, from: a@b.example, username: u, password_file: " + empty + "}}", "is empty"},
		{"email: {smtp: {host: smtp.example.com, from: a@b.example, ca_file: " + open + "}}", "email.smtp.ca_file: " + open + " holds no PEM certificate"},
	} {
		err := config(t, tt.doc).Validate("email")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant %q", tt.doc, err, tt.want)
		}
	}
	c := config(t, "email: {smtp: {host: 127.0.0.1, tls: none, from: a@b.example}}")
	if err := c.Validate("email"); err != nil || c.SMTP.Port != 25 || c.SMTP.Timeout != 10*time.Second {
		t.Fatalf("loopback without TLS: %v, port %d", err, c.SMTP.Port)
	}
	if c := config(t, "email: {}"); c.Enabled() || c.Validate("email") != nil {
		t.Fatal("an empty section is not off")
	}
	if c := config(t, "email: {smtp: {host: smtp.example.com, from: a@b.example}}"); c.Validate("email") != nil || c.SMTP.Port != 587 {
		t.Fatalf("defaults: port %d", c.SMTP.Port)
	}
}
