package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/secret"
)

// openTimeout bounds discovery, JWKS and token requests of a provider
// opened from its Section without a client of the caller's.
const openTimeout = 15 * time.Second

// Section is what a providers[] entry of type google or oidc says beyond
// the keys every provider has (id, type, label, match, jit, group_map):
// the YAML keys below. The configuration decodes an entry's remaining
// keys into it, refusing any other; SetDefaults, Validate and Open are
// the one place these keys are interpreted, so `gatehouse check-config`
// and `gatehouse serve` cannot judge them differently.
type Section struct {
	// Type is the entry's type, TypeGoogle or TypeOIDC.
	Type string `yaml:"-"`
	// Issuer is the provider's OpenID issuer URL; fixed for google.
	Issuer           string   `yaml:"issuer"`
	ClientID         string   `yaml:"client_id"`
	ClientSecret     string   `yaml:"client_secret"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"`
	// HostedDomains are the Google Workspace domains allowed (the hd
	// claim); google only.
	HostedDomains []string `yaml:"hosted_domains"`
	// BackchannelLogout accepts the provider's back-channel logout
	// tokens at BackchannelLogoutPath(id) (register public_url + that
	// path at the provider); off by default (README, "Back-channel logout").
	BackchannelLogout bool `yaml:"backchannel_logout"`
}

// NewSection returns the empty section of a provider of type typ
// (TypeGoogle or TypeOIDC), ready to decode into.
func NewSection(typ string) *Section { return &Section{Type: typ} }

// SetDefaults fills what the admin may leave out: Google's issuer and the
// scopes openid, email and profile.
func (s *Section) SetDefaults() {
	if s.Type == TypeGoogle && s.Issuer == "" {
		s.Issuer = GoogleIssuer
	}
	if len(s.Scopes) == 0 {
		s.Scopes = []string{"openid", "email", "profile"}
	}
}

// Validate reports every problem at once as "<key>.<field>: what is wrong;
// the fix", key being the entry's path (providers[0]). It checks the
// connector configuration Open will build for provider id behind
// publicURL (nil when that is itself invalid and reported elsewhere),
// with the same rules New applies, plus the rules of the file's keys. It
// does no I/O: the secret file is read by Open.
func (s *Section) Validate(key, id string, publicURL *url.URL) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
	}
	if (s.ClientSecret == "") == (s.ClientSecretFile == "") {
		add("client_secret_file", "set exactly one of client_secret and client_secret_file (or the client secret's environment variable)")
	}
	if s.Type == TypeGoogle && s.Issuer != GoogleIssuer {
		add("issuer", "is fixed to %s for type google; remove it", GoogleIssuer)
	}
	if !slices.Contains(s.Scopes, "openid") {
		add("scopes", "must include openid")
	}
	c := s.config(id, publicURL)
	c.ClientSecret = "checked above" // from the file, read when opened
	if publicURL == nil {
		c.RedirectURL = "https://public-url.invalid/" // public_url's own error says it
	}
	if s.Type == TypeGoogle {
		c.Issuer = GoogleIssuer // a wrong one is reported above
	}
	return errors.Join(append(errs, c.problems(key)...)...)
}

// CallbackPath is the gateway route an OIDC provider sends the browser
// back to: register publicURL + CallbackPath(id) at the provider.
func CallbackPath(id string) string { return "/.gatehouse/oidc/" + url.PathEscape(id) + "/callback" }

// BackchannelLogoutPath is where the provider POSTs its back-channel
// logout tokens: register publicURL + BackchannelLogoutPath(id) at the
// provider as the client's backchannel_logout_uri.
func BackchannelLogoutPath(id string) string {
	return "/.gatehouse/oidc/" + url.PathEscape(id) + "/backchannel-logout"
}

// config is the connector configuration, without the secret from a file.
func (s *Section) config(id string, publicURL *url.URL) Config {
	c := Config{ID: id, Type: s.Type, Issuer: s.Issuer, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		Scopes: s.Scopes, HostedDomains: s.HostedDomains}
	if publicURL != nil {
		c.RedirectURL = publicURL.JoinPath(CallbackPath(id)).String()
	}
	return c
}

// Open reads the client secret file, runs discovery and returns the
// provider as a login: the connector's verified claims mapped to
// federation.Claims (amr decides IdP MFA), the user found by env.Rule,
// and refusals worded for the user. Call Validate first (loading the
// configuration does); Open checks again, with the same rules, for
// callers that build a Section themselves.
func (s *Section) Open(ctx context.Context, env federation.Env) (auth.RedirectLogin, error) {
	if err := s.Validate("providers["+env.ID+"]", env.ID, env.PublicURL); err != nil {
		return nil, err
	}
	c := s.config(env.ID, env.PublicURL)
	if s.ClientSecretFile != "" {
		// The client secret lets whoever holds it complete logins as the
		// gateway: the file gets the key file's mode rule.
		b, err := secret.ReadPrivateFile(s.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("client_secret_file: %w", err)
		}
		if c.ClientSecret = strings.TrimSpace(string(b)); c.ClientSecret == "" {
			return nil, fmt.Errorf("client_secret_file: %s is empty", s.ClientSecretFile)
		}
	}
	client := env.Client
	if client == nil {
		client = &http.Client{Timeout: openTimeout}
	}
	conn, err := New(ctx, c, env.Transactions, client, env.Now)
	if err != nil {
		return nil, err
	}
	p := &provider{c: conn, id: env.ID, label: env.Label}
	if s.BackchannelLogout {
		return federation.NewLogin(&logoutProvider{p}, env), nil
	}
	return federation.NewLogin(p, env), nil
}
