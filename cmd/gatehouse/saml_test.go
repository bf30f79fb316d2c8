package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/saml"
	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
)

// samlReplica starts a replica with a SAML provider "adfs" trusting a real
// test IdP (crewjam's IdentityProvider signing real assertions), and
// registers the gateway's SP metadata with that IdP.
func samlReplica(t *testing.T) (*replica, *upstream, *samltest.IdP) {
	t.Helper()
	idp := samltest.New(t, samltest.User{NameID: "alice@corp.example", NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		Attributes: []samltest.Attribute{
			{Name: saml.ClaimUPN, Values: []string{"alice@corp.example"}},
			{Name: saml.ClaimEmail, Values: []string{"alice@corp.example"}},
			{Name: saml.ClaimGroup, Values: []string{"North"}},
		}})
	dir := t.TempDir()
	key, cert := samltest.NewKeyPair(t)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	meta := write("idp.xml", idp.Metadata())
	crt := write("sp.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	k := write("sp.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	up := startUpstream(t)
	r := startReplica(t, fmt.Sprintf("upstream: %s\ndirectory: {driver: sqlite, dsn: %s}\nproviders:\n  - {id: adfs, type: saml, label: ADFS, idp_metadata_file: %s, sp_cert_file: %s, sp_key_file: %s, group_map: {North: {groups: [north]}}}\n",
		up.URL, filepath.Join(dir, "data", "d.db"), meta, crt, k), newClock())
	resp, err := http.Get(r.URL + "/.gatehouse/saml/adfs/metadata")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(md), r.URL+"/.gatehouse/saml/adfs/acs") {
		t.Fatalf("SP metadata: %d\n%s", resp.StatusCode, md)
	}
	if err := idp.AddServiceProvider(md); err != nil {
		t.Fatal(err)
	}
	return r, up, idp
}

// samlLogin starts at the gateway, lets the IdP sign in, and returns the
// auto-POST form the IdP gives the browser.
func samlLogin(t *testing.T, b *browser, rd string) (string, url.Values) {
	t.Helper()
	resp, _ := b.Get(t, "/.gatehouse/login/adfs?rd="+url.QueryEscape(rd))
	sso := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(sso, "/sso?") {
		t.Fatalf("start: %d %q", resp.StatusCode, sso)
	}
	ir, err := http.Get(sso)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(ir.Body)
	ir.Body.Close()
	action, fields, err := samltest.ParseForm(page)
	if err != nil {
		t.Fatalf("%v\n%s", err, page)
	}
	return action, fields
}

// postACS posts the IdP's form as a browser would: a cross-site POST.
func postACS(t *testing.T, b *browser, action string, fields url.Values, idp *samltest.IdP) *http.Response {
	t.Helper()
	resp, _ := b.Do(t, "POST", strings.TrimPrefix(action, b.Base), fields, "Origin", idp.URL, "Sec-Fetch-Site", "cross-site")
	return resp
}

func TestSAMLLoginThroughGateway(t *testing.T) {
	r, up, idp := samlReplica(t)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	action, fields := samlLogin(t, b, "/accounts/7")
	if action != r.URL+"/.gatehouse/saml/adfs/acs" {
		t.Fatalf("IdP posts to %q", action)
	}
	resp := postACS(t, b, action, fields, idp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts/7" {
		t.Fatalf("ACS (a cross-site POST, exempt from the origin check): %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	b.Get(t, "/accounts/7")
	in := up.Last(t)
	if in.Header.Get("X-Gatehouse-User") != "alice" || in.Header.Get("X-Gatehouse-Auth-Method") != "saml" || in.Header.Get("X-Gatehouse-Groups") != "north" {
		t.Fatalf("upstream saw %q via %q groups %q", in.Header.Get("X-Gatehouse-User"), in.Header.Get("X-Gatehouse-Auth-Method"), in.Header.Get("X-Gatehouse-Groups"))
	}
	// The same signed response posted again is refused (crewjam alone
	// would accept it).
	c := newBrowser(t, r.URL)
	c.Jar = b.Jar
	if resp := postACS(t, c, action, fields, idp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed SAML response: %d, want 401", resp.StatusCode)
	}
	wantAudit(t, r, "login_failure", "")
}

// TestSAMLLoginCSRF: the attacker's own signed response, posted by a
// victim's browser that did not start that login, is refused.
func TestSAMLLoginCSRF(t *testing.T) {
	r, _, idp := samlReplica(t)
	r.addUser(t, "alice", alicePW, "sales")
	attacker := newBrowser(t, r.URL)
	action, fields := samlLogin(t, attacker, "/")
	victim := newBrowser(t, r.URL)
	if resp := postACS(t, victim, action, fields, idp); resp.StatusCode != http.StatusUnauthorized || victim.Cookie("gatehouse") != nil {
		t.Fatalf("victim posting the attacker's response: %d", resp.StatusCode)
	}
}

func TestSAMLUnsolicitedResponseRefused(t *testing.T) {
	r, _, idp := samlReplica(t)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	action, fields := samlLogin(t, b, "/")
	fields.Set("RelayState", "AAAAAAAAAAAAAAAAAAAAAAAAAA") // a login this gateway never started
	if resp := postACS(t, b, action, fields, idp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsolicited response: %d, want 401", resp.StatusCode)
	}
}
