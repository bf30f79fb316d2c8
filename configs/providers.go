package configs

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/federation"
)

// Provider is one external identity provider (providers[]). Route names
// use the id: /.gatehouse/login/{id}, /.gatehouse/oidc/{id}/callback,
// /.gatehouse/saml/{id}/metadata and /.gatehouse/saml/{id}/acs. A
// configured provider is on unless policy.methods.<id> is false.
type Provider struct {
	ID    string `yaml:"id"`
	Type  string `yaml:"type"`  // google | oidc | saml
	Label string `yaml:"label"` // login button text; default from the type

	// google and oidc
	Issuer           string   `yaml:"issuer"` // oidc only; google's is fixed
	ClientID         string   `yaml:"client_id"`
	ClientSecret     string   `yaml:"client_secret"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"`
	HostedDomains    []string `yaml:"hosted_domains"` // google: allowed Workspace domains

	// saml
	IDPMetadataFile   string        `yaml:"idp_metadata_file"`
	IDPMetadataURL    string        `yaml:"idp_metadata_url"` // fetched at start; needs idp_cert_file
	IDPCertFile       string        `yaml:"idp_cert_file"`    // PEM: the only IdP signing certificates trusted
	SPCertFile        string        `yaml:"sp_cert_file"`
	SPKeyFile         string        `yaml:"sp_key_file"`
	AllowIDPInitiated bool          `yaml:"allow_idp_initiated"`
	AllowSHA1         bool          `yaml:"allow_sha1"` // accept SHA-1 signatures (off: collisions are practical)
	ClockSkew         time.Duration `yaml:"clock_skew"`

	// common: how an identity finds its directory user
	Match    string                             `yaml:"match"` // email | upn | subject
	JIT      federation.JIT                     `yaml:"jit"`
	GroupMap map[string]federation.GroupMapping `yaml:"group_map"`
}

// GoogleIssuer is the only issuer a google provider accepts.
const GoogleIssuer = "https://accounts.google.com"

var providerID = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// reservedIDs would collide with the policy's own method names.
var reservedIDs = []string{"password", "totp", "apikey"}

// Rule is the provider's mapping rule.
func (p *Provider) Rule() federation.Rule {
	return federation.Rule{Match: p.Match, JIT: p.JIT, GroupMap: p.GroupMap}
}

func (p *Provider) setDefaults() {
	if p.Label == "" {
		p.Label = map[string]string{"google": "Google", "oidc": p.ID, "saml": p.ID}[p.Type]
	}
	if p.Type == "google" && p.Issuer == "" {
		p.Issuer = GoogleIssuer
	}
	if len(p.Scopes) == 0 && p.Type != "saml" {
		p.Scopes = []string{"openid", "email", "profile"}
	}
	if p.ClockSkew == 0 {
		p.ClockSkew = 90 * time.Second
	}
	if p.Match == "" {
		p.Match = map[bool]string{true: "upn", false: "email"}[p.Type == "saml"]
	}
}

func validateProviders(ps []Provider) error {
	var errs []error
	seen := map[string]bool{}
	for i := range ps {
		p := &ps[i]
		key := fmt.Sprintf("providers[%d]", i)
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
		}
		switch {
		case !providerID.MatchString(p.ID):
			bad("id", "required; lower-case letters, digits, _ and -, starting with a letter (it is part of URLs)")
		case slices.Contains(reservedIDs, p.ID):
			bad("id", "%q is reserved; pick another", p.ID)
		case seen[p.ID]:
			bad("id", "%q is used twice", p.ID)
		}
		seen[p.ID] = true
		switch p.Type {
		case "google", "oidc":
			if p.ClientID == "" {
				bad("client_id", "required for type %s", p.Type)
			}
			if (p.ClientSecret == "") == (p.ClientSecretFile == "") {
				bad("client_secret_file", "set exactly one of client_secret and client_secret_file")
			}
			if p.Type == "google" && p.Issuer != GoogleIssuer {
				bad("issuer", "is fixed to %s for type google; remove it", GoogleIssuer)
			}
			if u, err := url.Parse(p.Issuer); p.Type == "oidc" && (err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname())))) {
				bad("issuer", "must be the provider's https:// issuer URL (plain http only on a loopback address, for tests)")
			}
			if !slices.Contains(p.Scopes, "openid") {
				bad("scopes", "must include openid")
			}
		case "saml":
			switch {
			case (p.IDPMetadataFile == "") == (p.IDPMetadataURL == ""):
				bad("idp_metadata_file", "set exactly one of idp_metadata_file (pinned metadata) and idp_metadata_url (with idp_cert_file)")
			case p.IDPMetadataURL != "" && p.IDPCertFile == "":
				bad("idp_cert_file", "required with idp_metadata_url: metadata fetched over the network is trusted only with a pinned certificate")
			}
			if u, err := url.Parse(p.IDPMetadataURL); p.IDPMetadataURL != "" && (err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname())))) {
				bad("idp_metadata_url", "must be an https:// URL")
			}
			if p.SPCertFile == "" || p.SPKeyFile == "" {
				bad("sp_cert_file", "sp_cert_file and sp_key_file are required for type saml")
			}
			if p.ClockSkew < 0 || p.ClockSkew > 10*time.Minute {
				bad("clock_skew", "must be 0..10m, got %s", p.ClockSkew)
			}
		default:
			bad("type", "must be google, oidc or saml, got %q", p.Type)
		}
		if !slices.Contains([]string{"email", "upn", "subject"}, p.Match) {
			bad("match", "must be email, upn or subject, got %q", p.Match)
		}
		if p.JIT.Enabled && p.JIT.Role == "" {
			bad("jit.role", "required when jit.enabled (the role new users get)")
		}
	}
	return errors.Join(errs...)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
