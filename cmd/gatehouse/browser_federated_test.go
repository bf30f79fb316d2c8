package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
	"github.com/gatehouse-auth/gatehouse/auth/saml"
	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
)

// runFederatedBrowser starts the real binary with config, a user alice,
// and drives Chromium through the provider's button.
func runFederatedBrowser(t *testing.T, dir, bin, addr, config, provider, method string, afterStart func(base string)) {
	t.Helper()
	chromium := e2eBrowser(t)
	base := "http://" + addr
	cfg := filepath.Join(dir, "gatehouse.yaml")
	e2eWriteFile(t, cfg, fmt.Sprintf("listen: %s\npublic_url: %s\nupstream: demo\ndirectory: {driver: sqlite, dsn: %s}\nsecrets: {key_file: %s}\n%s",
		addr, base, filepath.Join(dir, "data", "gatehouse.db"), filepath.Join(dir, "data", "gatehouse.keys"), config))
	e2eStart(t, bin, cfg)
	e2eWaitHealthy(t, base+"/.gatehouse/healthz")
	// The user exists in the directory; the IdP vouches for alice@corp.example.
	add := exec.Command(bin, "user", "add", "--username", "alice", "--email", "alice@corp.example", "--role", "sales", "--config", cfg)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	if afterStart != nil {
		afterStart(base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node := exec.CommandContext(ctx, "node", filepath.Join("testdata", "browser", "federated.mjs"), base, provider, "alice", method, filepath.Join(dir, provider+".png"))
	node.Env = append(os.Environ(), "CHROMIUM_PATH="+chromium)
	out, err := node.CombinedOutput()
	t.Logf("federated.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("browser %s flow failed: %v", provider, err)
	}
}

func TestBrowserOIDC(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and a browser; skipped with -short")
	}
	dir := t.TempDir()
	bin := e2eBuild(t, dir)
	addr := e2eFreeAddr(t)
	idp := oidctest.New(t, oidctest.WithRedirectURL("http://"+addr+"/.gatehouse/oidc/corp/callback"))
	runFederatedBrowser(t, dir, bin, addr, fmt.Sprintf("providers:\n  - {id: corp, type: oidc, label: Corp SSO, issuer: %q, client_id: %q, client_secret: %q}\n",
		idp.Issuer, idp.ClientID, idp.ClientSecret), "corp", "oidc", nil)
}

func TestBrowserSAML(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and a browser; skipped with -short")
	}
	dir := t.TempDir()
	bin := e2eBuild(t, dir)
	addr := e2eFreeAddr(t)
	idp := samltest.New(t, samltest.User{NameID: "alice@corp.example", Attributes: []samltest.Attribute{
		{Name: saml.ClaimUPN, Values: []string{"alice@corp.example"}}, {Name: saml.ClaimEmail, Values: []string{"alice@corp.example"}}}})
	key, cert := samltest.NewKeyPair(t)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	meta, crt, k := filepath.Join(dir, "idp.xml"), filepath.Join(dir, "sp.crt"), filepath.Join(dir, "sp.key")
	e2eWriteFile(t, meta, string(idp.Metadata()))
	e2eWriteFile(t, crt, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
	e2eWriteFile(t, k, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	runFederatedBrowser(t, dir, bin, addr, fmt.Sprintf("providers:\n  - {id: adfs, type: saml, label: ADFS, idp_metadata_file: %s, sp_cert_file: %s, sp_key_file: %s}\n", meta, crt, k),
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
