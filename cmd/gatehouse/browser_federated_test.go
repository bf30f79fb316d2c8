package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
	"github.com/gatehouse-auth/gatehouse/auth/saml"
	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
)

// runFederatedBrowser starts the real binary with config and the user
// alice (e.start creates her; the IdP vouches for alice@corp.example), and
// drives Chromium through the provider's button.
func runFederatedBrowser(e *e2eRun, config, provider, method string, afterStart func(base string)) {
	t := e.t
	t.Helper()
	e.start(config)
	if afterStart != nil {
		afterStart(e.base)
	}
	e.node("federated.mjs", e.base, provider, "alice", method, filepath.Join(e.dir, provider+".png"))
}

func TestBrowserOIDC(t *testing.T) {
	e := newE2E(t)
	idp := oidctest.New(t, oidctest.WithRedirectURL(e.base+"/.gatehouse/oidc/corp/callback"))
	runFederatedBrowser(e, fmt.Sprintf("providers:\n  - {id: corp, type: oidc, label: Corp SSO, issuer: %q, client_id: %q, client_secret: %q}\n",
		idp.Issuer, idp.ClientID, idp.ClientSecret), "corp", "oidc", nil)
}

func TestBrowserSAML(t *testing.T) {
	e := newE2E(t)
	dir := e.dir
	idp := samltest.New(t, samltest.User{NameID: "alice@corp.example", Attributes: []samltest.Attribute{
		{Name: saml.ClaimUPN, Values: []string{"alice@corp.example"}}, {Name: saml.ClaimEmail, Values: []string{"alice@corp.example"}}}})
	key, cert := samltest.NewKeyPair(t)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	meta, crt, k := filepath.Join(dir, "idp.xml"), filepath.Join(dir, "sp.crt"), filepath.Join(dir, "sp.key")
	e2eWriteFile(t, meta, string(idp.Metadata()))
	e2eWriteFile(t, crt, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
	e2eWriteFile(t, k, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	runFederatedBrowser(e, fmt.Sprintf("providers:\n  - {id: adfs, type: saml, label: ADFS, idp_metadata_file: %s, sp_cert_file: %s, sp_key_file: %s}\n", meta, crt, k),
		"adfs", "saml", func(base string) {
			resp, err := http.Get(base + "/.gatehouse/saml/adfs/metadata")
			if err != nil {
				t.Fatal(err)
			}
			md, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := idp.AddServiceProvider(md); err != nil {
				t.Fatal(err)
			}
		})
}
