package configs

import (
	"strings"
	"testing"
)

func TestProvidersValid(t *testing.T) {
	c, err := Parse([]byte(`providers:
  - {id: google, type: google, client_id: x, client_secret_file: /run/g, hosted_domains: [corp.example]}
  - {id: corp, type: oidc, issuer: "https://login.corp.example", client_id: x, client_secret: s, scopes: [openid, email, groups], jit: {enabled: true, role: sales}}
  - {id: adfs, type: saml, idp_metadata_file: /etc/m.xml, sp_cert_file: /etc/sp.crt, sp_key_file: /etc/sp.key, group_map: {CRM-Admins: {role: admin}}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, corp, adfs := c.Providers[0], c.Providers[1], c.Providers[2]
	if g.Issuer != GoogleIssuer || g.Label != "Google" || g.Match != "email" || len(g.Scopes) != 3 {
		t.Errorf("google defaults: %+v", g)
	}
	if corp.Rule().JIT.Role != "sales" || adfs.Match != "upn" || adfs.Rule().GroupMap["CRM-Admins"].Role != "admin" {
		t.Errorf("rules: %+v %+v", corp.Rule(), adfs.Rule())
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
		"providers[0].id:", "providers[0].issuer:", "providers[0].client_secret_file:",
		"providers[1].id: \"password\" is reserved", "providers[1].idp_metadata_file:", "providers[1].sp_cert_file:",
		"providers[2].issuer: is fixed", "providers[2].client_secret_file: set exactly one",
		"providers[3].id: \"g\" is used twice", "providers[3].type:", "providers[3].match:", "providers[3].jit.role:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestProviderSecretFromEnvironment(t *testing.T) {
	c, err := Parse([]byte(`providers:
  - {id: corp-sso, type: oidc, issuer: "https://login.corp.example", client_id: x}
`), []string{"GATEHOUSE_PROVIDERS_CORP_SSO_CLIENT_SECRET=from-env"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Providers[0].ClientSecret; got != "from-env" {
		t.Fatalf("client_secret = %q, want it from the environment", got)
	}
	if _, err := Parse([]byte("providers: []\n"), []string{"GATEHOUSE_PROVIDERS_NOPE_CLIENT_SECRET=x"}); err == nil {
		t.Fatal("a variable for a provider that is not configured was accepted")
	}
}
