package configs

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/auth/saml"
)

func TestProvidersValid(t *testing.T) {
	c, err := Parse([]byte(`providers:
  - {id: google, type: google, client_id: x, client_secret_file: /run/g, hosted_domains: [corp.example]}
  - {id: corp, type: oidc, issuer: "https://login.corp.example", client_id: x, client_secret: s, scopes: [openid, email, groups], jit: {enabled: true, role: sales}}
  - {id: adfs, type: saml, idp_metadata_file: /etc/m.xml, sp_cert_file: /etc/sp.crt, sp_key_file: /etc/sp.key, jit: {role: sales}, group_map: {CRM-Admins: {role: admin}}, clock_skew: 2m}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, corp, adfs := c.Providers[0], c.Providers[1], c.Providers[2]
	gs, ok := g.Method.(*oidc.Section)
	if !ok || gs.Issuer != oidc.GoogleIssuer || g.Label != "Google" || g.Match != "email" || len(gs.Scopes) != 3 || gs.HostedDomains[0] != "corp.example" {
		t.Errorf("google defaults: %+v %+v", g, g.Method)
	}
	if cs := corp.Method.(*oidc.Section); cs.ClientSecret != "s" || len(cs.Scopes) != 3 || corp.Label != "corp" {
		t.Errorf("corp: %+v %+v", corp, cs)
	}
	as, ok := adfs.Method.(*saml.Section)
	if !ok || as.ClockSkew != 2*time.Minute || as.SPKeyFile != "/etc/sp.key" {
		t.Errorf("adfs section: %+v", adfs.Method)
	}
	if corp.Rule().JIT.Role != "sales" || adfs.Match != "upn" || adfs.Rule().GroupMap["CRM-Admins"].Role != "admin" {
		t.Errorf("rules: %+v %+v", corp.Rule(), adfs.Rule())
	}
	for _, p := range c.Providers {
		if len(p.Rest) != 0 {
			t.Errorf("%s: keys left undecoded: %v", p.ID, p.Rest)
		}
	}
}

func TestProvidersInvalid(t *testing.T) {
	_, err := Parse([]byte(`providers:
  - {id: Corp, type: oidc, issuer: "http://login.corp.example", client_id: x}
  - {id: password, type: saml}
  - {id: g, type: google, issuer: "https://evil.example", client_id: x, client_secret: a, client_secret_file: b}
  - {id: g, type: ldap, match: nickname, jit: {enabled: true}}
`), nil)
	if err == nil {
		t.Fatal("invalid providers accepted")
	}
	for _, want := range []string{
		"line 2: providers[0].id:", "line 2: providers[0].issuer:", "line 2: providers[0].client_secret_file:",
		"line 3: providers[1].id: \"password\" is reserved", "line 3: providers[1].idp_metadata_file:", "line 3: providers[1].sp_cert_file:",
		"line 4: providers[2].issuer: is fixed", "line 4: providers[2].client_secret_file: set exactly one",
		"line 5: providers[3].id: \"g\" is used twice", "line 5: providers[3].type:", "line 5: providers[3].match:", "line 5: providers[3].jit.role:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestProviderKeysBelongToTheType: a key of another type, or of none, is
// an unknown key of this entry, named with its path and line.
func TestProviderKeysBelongToTheType(t *testing.T) {
	_, err := Parse([]byte(`providers:
  - id: corp
    type: oidc
    issuer: https://login.corp.example
    client_id: x
    client_secret: s
    idp_metadata_file: /etc/m.xml
  - {id: adfs, type: saml, idp_metadata_file: /etc/m.xml, sp_cert_file: a, sp_key_file: b, scopes: [openid]}
`), nil)
	for _, want := range []string{
		"line 7: providers[0].idp_metadata_file: unknown key for type oidc",
		"line 8: providers[1].scopes: unknown key for type saml",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}

func TestProviderSecretFromEnvironment(t *testing.T) {
	c, err := Parse([]byte(`providers:
  - {id: corp-sso, type: oidc, issuer: "https://login.corp.example", client_id: x}
  - {id: adfs, type: saml, idp_metadata_file: /etc/m.xml, sp_cert_file: a, sp_key_file: b}
`), []string{"GATEHOUSE_PROVIDERS_CORP_SSO_CLIENT_SECRET=from-env", "GATEHOUSE_PROVIDERS_ADFS_CLOCK_SKEW=3m", "GATEHOUSE_PROVIDERS_ADFS_LABEL=ADFS"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Providers[0].Method.(*oidc.Section).ClientSecret; got != "from-env" {
		t.Fatalf("client_secret = %q, want it from the environment", got)
	}
	if got := c.Providers[1].Method.(*saml.Section).ClockSkew; got != 3*time.Minute || c.Providers[1].Label != "ADFS" {
		t.Fatalf("clock_skew = %s, label %q, want 3m and ADFS from the environment", got, c.Providers[1].Label)
	}
	for _, v := range []string{"GATEHOUSE_PROVIDERS_NOPE_CLIENT_SECRET=x", "GATEHOUSE_PROVIDERS_ADFS_CLIENT_SECRET=x", "GATEHOUSE_PROVIDERS_ADFS_TYPE=oidc"} {
		if _, err := Parse([]byte("providers: [{id: adfs, type: saml, idp_metadata_file: m, sp_cert_file: a, sp_key_file: b}]\n"), []string{v}); err == nil {
			t.Errorf("%s accepted, want an unknown variable", v)
		}
	}
	// A bad value from a variable is named by the variable, not by a line.
	_, err = Parse([]byte("providers: [{id: adfs, type: saml, idp_metadata_file: m, sp_cert_file: a, sp_key_file: b}]\n"), []string{"GATEHOUSE_PROVIDERS_ADFS_CLOCK_SKEW=1h"})
	if err == nil || !strings.Contains(err.Error(), "providers[0].clock_skew: must be 0s..10m0s, got 1h0m0s (set by GATEHOUSE_PROVIDERS_ADFS_CLOCK_SKEW)") {
		t.Errorf("got %v, want the clock_skew error naming the variable", err)
	}
}

// TestProviderIDNotAMethodOption: policy.methods.password_encryption is a
// setting of the login form, so no provider may be called that (its
// policy switch would turn encryption on and off with it).
func TestProviderIDNotAMethodOption(t *testing.T) {
	_, err := Parse([]byte(`providers:
  - {id: password_encryption, type: oidc, issuer: "https://login.corp.example", client_id: x, client_secret: s}
`), nil)
	if want := `providers[0].id: "password_encryption" is reserved`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	c, err := Parse([]byte("policy: {methods: {password: true, password_encryption: true}}\n"), nil)
	if err != nil || !c.Policy.EncryptPasswords() {
		t.Fatalf("policy.methods.password_encryption: %v, want it accepted and on", err)
	}
}
