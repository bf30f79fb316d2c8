// Package email sends the gateway's few messages (a password reset link)
// through an SMTP relay with github.com/wneessen/go-mail. TLS is required
// (STARTTLS on the submission port by default, or implicit TLS); plain
// SMTP is allowed only to a relay on this machine's loopback, where
// nothing crosses a network. The relay's password is read from a file
// under the key file's mode rule, never from the configuration itself.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
)

// Message is one plain-text email to one recipient.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Sender delivers a Message. Implementations must not log the body: it
// carries one-time links.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// TLS modes of the smtp section.
const (
	TLSStartTLS = "starttls" // port 587: plain connection upgraded, refused without STARTTLS
	TLSImplicit = "tls"      // port 465: TLS from the first byte
	TLSNone     = "none"     // loopback relays only
)

// Config is the email section.
type Config struct {
	SMTP SMTP `yaml:"smtp"`
}

// SMTP is the relay the gateway submits messages to.
type SMTP struct {
	Host string `yaml:"host"`
	// Port defaults by TLS mode: 587, 465, 25.
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	// PasswordFile holds the relay password on its first line (mode
	// 0600, or 0640 when root owns it).
	PasswordFile string `yaml:"password_file"`
	// From is the sender, "Name <address>" or an address.
	From string `yaml:"from"`
	// TLS is starttls (default), tls, or none (loopback hosts only).
	TLS string `yaml:"tls"`
	// CAFile, when set, holds the PEM roots the relay's certificate is
	// checked against instead of the system's (an internal relay).
	CAFile  string        `yaml:"ca_file"`
	Timeout time.Duration `yaml:"timeout"`

	// Filled by Validate; behind a pointer so printing the Config never
	// prints the password.
	opened *opened
}

type opened struct {
	password string
	roots    *x509.CertPool
}

// Enabled reports whether a relay is configured.
func (c *Config) Enabled() bool { return c.SMTP.Host != "" }

// SetDefaults fills the TLS mode, its port and the timeout.
func (c *Config) SetDefaults() {
	s := &c.SMTP
	if s.TLS == "" {
		s.TLS = TLSStartTLS
	}
	if s.Port == 0 {
		s.Port = map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}[s.TLS]
	}
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
}

// Validate reports every problem as "<key>.smtp.<field>: what is wrong;
// the fix", and reads the password and CA files, so check-config and
// serve judge the same files. Nothing is read without a host.
func (c *Config) Validate(key string) error {
	s := &c.SMTP
	s.opened = nil
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.smtp.%s: %s", key, field, fmt.Sprintf(format, args...)))
	}
	if s.Host == "" {
		for field, set := range map[string]bool{"from": s.From != "", "username": s.Username != "", "password_file": s.PasswordFile != ""} {
			if set {
				add("host", "required when %s is set: the SMTP relay's host name, such as smtp.example.com", field)
			}
		}
		return errors.Join(errs...)
	}
	if strings.ContainsAny(s.Host, ":/ ") {
		add("host", "%q must be a host name or address alone; put the port in %s.smtp.port", s.Host, key)
	}
	if s.Port < 1 || s.Port > 65535 {
		add("port", "must be 1-65535, got %d", s.Port)
	}
	switch s.TLS {
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if !auth.LoopbackHost(s.Host) {
			add("tls", "none sends the password and every reset link in clear text; it is allowed only for a relay on this machine (localhost, 127.0.0.1, ::1), not %q: use starttls or tls", s.Host)
		}
	default:
		add("tls", "%q is not one of starttls, tls, none", s.TLS)
	}
	if s.From == "" {
		add("from", "required: the sender address, such as \"CRM sign-in <no-reply@example.com>\"")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		add("from", "%q is not an email address: %v", s.From, err)
	}
	if d := s.Timeout; d < time.Second || d > time.Minute {
		add("timeout", "must be between 1s and 1m, got %s", d)
	}
	o := &opened{}
	if (s.Username == "") != (s.PasswordFile == "") {
		add("password_file", "username and password_file go together: set both for a relay that asks for a login, neither for one that does not")
	} else if s.PasswordFile != "" {
		data, err := secret.ReadPrivateFile(s.PasswordFile)
		pw, _, _ := strings.Cut(strings.TrimRight(string(data), "\r\n"), "\n")
		switch {
		case err != nil:
			add("password_file", "%v", err)
		case strings.TrimSpace(pw) == "":
			add("password_file", "%s is empty: put the relay password on its first line", s.PasswordFile)
		default:
			o.password = strings.TrimRight(pw, "\r")
		}
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		o.roots = x509.NewCertPool()
		if err != nil {
			add("ca_file", "%v", err)
		} else if !o.roots.AppendCertsFromPEM(pem) {
			add("ca_file", "%s holds no PEM certificate", s.CAFile)
		}
	}
	if len(errs) == 0 {
		s.opened = o
	}
	return errors.Join(errs...)
}

// SMTPSender submits messages to the configured relay, one connection
// per message (resets are rare; a pooled connection would only go stale).
type SMTPSender struct {
	cfg  SMTP
	from string
}

// NewSender returns the sender of a validated Config.
func NewSender(c *Config) (*SMTPSender, error) {
	if c.SMTP.opened == nil {
		return nil, errors.New("email: the smtp section was not validated")
	}
	return &SMTPSender{cfg: c.SMTP, from: c.SMTP.From}, nil
}

// Send delivers m, or says why not (never quoting the body).
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("email: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("email: recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)

	c := s.cfg
	opts := []gomail.Option{gomail.WithPort(c.Port), gomail.WithTimeout(c.Timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: c.Host, RootCAs: c.opened.roots, MinVersion: tls.VersionTLS12})}
	switch c.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if c.Username != "" {
		// PLAIN only over TLS (go-mail refuses it otherwise); the relay
		// picks among what it offers.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(c.Username), gomail.WithPassword(c.opened.password))
	}
	client, err := gomail.NewClient(c.Host, opts...)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("email: send to %s:%d: %w", c.Host, c.Port, err)
	}
	return nil
}
