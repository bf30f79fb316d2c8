// Package apilogin is the "API" login provider: the customer exposes an
// HTTPS endpoint that checks a username and password against their own
// system, and the gateway, which keeps its one login form, sends it the
// credentials typed there and trusts a positive answer. The user that
// answer names must be a directory user by email (auth/federation's
// rules: a stored link, then email, then just-in-time creation when the
// provider allows it).
//
// An endpoint that cannot be asked (timeout, 5xx, TLS, bad JSON, a
// redirect) is "could not check": the login is refused as unavailable and
// counts as nothing, so an outage of the customer's system never locks,
// disables or changes a user (Keycloak once shipped the opposite).
package apilogin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
)

// Type is the providers[] type of this method.
const Type = "api"

// Section is a providers[] entry's own keys for type api.
type Section struct {
	// URL is the endpoint, https only.
	URL string `yaml:"url"`
	// SecretFile holds the shared secret the request is signed with
	// (HMAC-SHA256), so the endpoint can refuse forgeries and replays.
	SecretFile string `yaml:"secret_file"`
	// CAFile, when set, holds the only CA certificates trusted for the
	// endpoint (PEM); otherwise the system's.
	CAFile string `yaml:"ca_file"`
	// ClientCertFile and ClientKeyFile, together, make the gateway
	// present a client certificate (mutual TLS).
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	// Timeout bounds a whole check (connect, TLS, answer); the connect
	// alone gets half of it.
	Timeout time.Duration `yaml:"timeout"`
}

// NewSection returns an empty section to decode into.
func NewSection() *Section { return &Section{} }

// SetDefaults sets the 5-second timeout.
func (s *Section) SetDefaults() {
	if s.Timeout == 0 {
		s.Timeout = 5 * time.Second
	}
}

// Validate reports every problem as "<key>.<field>: ...".
func (s *Section) Validate(key, id string, _ *url.URL) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
	}
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		bad("url", "required: the https endpoint that checks passwords")
	case err != nil || u.Host == "":
		bad("url", "%q is not an absolute URL", s.URL)
	case u.Scheme != "https":
		bad("url", "must be https (the request carries a password), got %q", u.Scheme)
	case u.User != nil:
		bad("url", "must not carry credentials; the request is signed with secret_file")
	}
	if s.SecretFile == "" {
		bad("secret_file", "required: a file holding the secret the requests are signed with")
	}
	if (s.ClientCertFile == "") != (s.ClientKeyFile == "") {
		bad("client_cert_file", "set client_cert_file and client_key_file together (mutual TLS), or neither")
	}
	if s.Timeout < time.Second || s.Timeout > 30*time.Second {
		bad("timeout", "must be between 1s and 30s, got %s", s.Timeout)
	}
	return errors.Join(errs...)
}

// readSecret reads the signing secret: one line, at least 32 bytes. It
// is held to the key file's mode rule (auth/secret): whoever reads it can
// sign an answer the endpoint trusts.
func (s *Section) readSecret() ([]byte, error) {
	b, err := secret.ReadPrivateFile(s.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("secret_file: %w", err)
	}
	sec := strings.TrimSpace(string(b))
	if len(sec) < 32 {
		return nil, fmt.Errorf("secret_file: the secret must be at least 32 characters")
	}
	return []byte(sec), nil
}

// clientCertificate loads the mutual-TLS pair. tls.LoadX509KeyPair would
// read a private key that every local user can read; the key goes
// through the key file's mode rule instead, and each file's problem is
// named by its own key.
func (s *Section) clientCertificate() (tls.Certificate, error) {
	return secret.KeyPair(s.ClientCertFile, s.ClientKeyFile, "client_cert_file", "client_key_file")
}

// OpenPassword builds the provider's login from the section.
func (s *Section) OpenPassword(_ context.Context, env federation.Env) (auth.PasswordLogin, error) {
	c, err := NewClient(s)
	if err != nil {
		return nil, err
	}
	return &Login{id: env.ID, client: c, users: env.Users, rule: env.Rule, now: env.Now}, nil
}
