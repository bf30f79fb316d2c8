package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/saml/samltest"
)

// The pysaml2 interop test proves SAML login against an IdP nobody on this
// project wrote: Debian's python3-pysaml2, signing with xmlsec1. Both must
// be installed; .ci/ensure-services.sh installs them for CI. The system
// Python is named explicitly: a python3 earlier on PATH (pyenv) lacks saml2.
const (
	pysaml2Python = "/usr/bin/python3"
	interopXMLSec = "/usr/bin/xmlsec1"
)

// needPySAML2 skips the test when pysaml2 or xmlsec1 is missing, except
// under CI=true, where a missing IdP is a failure.
func needPySAML2(t *testing.T) {
	t.Helper()
	out, err := exec.Command(pysaml2Python, "-c", "import saml2.server").CombinedOutput()
	if err == nil {
		_, err = os.Stat(interopXMLSec)
	}
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("pysaml2 interop IdP unavailable under CI (need %s with python3-pysaml2, and %s; run .ci/ensure-services.sh): %v\n%s", pysaml2Python, interopXMLSec, err, out)
	}
	t.Skipf("pysaml2 interop IdP unavailable (apt-get install python3-pysaml2 xmlsec1; CI=true makes this a failure): %v", err)
}

// pyIdPOptions is how the pysaml2 IdP signs.
type pyIdPOptions struct {
	signResponse bool   // sign the Response as well as the Assertion
	alg          string // "sha1" (pysaml2 7's default) or "sha256", for signature and digest
	allowSHA1    bool   // the gateway provider's allow_sha1
}

// pyIdP is the running pysaml2 IdP subprocess.
type pyIdP struct {
	URL    string // base URL; the entity id is URL + "/idp/metadata"
	stderr *syncBuffer
}

// startPySAML2 runs testdata/interop/pysaml2_idp.py with a key pair made
// here. The IdP reads the SP's metadata from spMeta on every SSO request,
// so the test can write it after the gateway (which needs the IdP's
// metadata first) is up.
func startPySAML2(t *testing.T, spMeta string, o pyIdPOptions) *pyIdP {
	t.Helper()
	dir := t.TempDir()
	key, cert := samltest.NewKeyPair(t)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath, certPath := filepath.Join(dir, "idp.key"), filepath.Join(dir, "idp.crt")
	interopWrite(t, keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	interopWrite(t, certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))

	// The deadline bounds the IdP's whole life; Cleanup kills it sooner.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	args := []string{filepath.Join("testdata", "interop", "pysaml2_idp.py"),
		"--key", keyPath, "--cert", certPath, "--sp-metadata", spMeta, "--xmlsec", interopXMLSec, "--alg", o.alg}
	if o.signResponse {
		args = append(args, "--sign-response")
	}
	cmd := exec.CommandContext(ctx, pysaml2Python, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in testdata
	p := &pyIdP{stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("pysaml2 IdP stderr:\n%s", p.stderr)
		}
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		base, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
		if !ok {
			t.Fatalf("pysaml2 IdP did not start: %q\n%s", line, p.stderr)
		}
		p.URL = base
	case <-time.After(10 * time.Second):
		t.Fatalf("pysaml2 IdP not ready after 10s\n%s", p.stderr)
	}
	return p
}

func interopWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// interopGet GETs url and requires a 200.
func interopGet(t *testing.T, url string) []byte {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", url, resp.StatusCode, body)
	}
	return body
}

// pySAML2Replica starts the IdP, a replica trusting its metadata, and
// hands the replica's SP metadata back to the IdP.
func pySAML2Replica(t *testing.T, o pyIdPOptions) (*replica, *upstream, *pyIdP) {
	t.Helper()
	dir := t.TempDir()
	spMeta := filepath.Join(dir, "sp.xml")
	idp := startPySAML2(t, spMeta, o)
	idpMeta := filepath.Join(dir, "idp.xml")
	interopWrite(t, idpMeta, interopGet(t, idp.URL+"/idp/metadata"))

	key, cert := samltest.NewKeyPair(t)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	crt, k := filepath.Join(dir, "sp.crt"), filepath.Join(dir, "sp.key")
	interopWrite(t, crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	interopWrite(t, k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, fmt.Sprintf(
		"providers:\n  - {id: adfs, type: saml, label: ADFS, idp_metadata_file: %s, sp_cert_file: %s, sp_key_file: %s, allow_sha1: %v}\n",
		idpMeta, crt, k, o.allowSHA1)), newClock())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", r.stderr)
		}
	})
	md := interopGet(t, r.URL+"/.gatehouse/saml/adfs/metadata")
	if !strings.Contains(string(md), r.URL+"/.gatehouse/saml/adfs/acs") {
		t.Fatalf("SP metadata lacks the ACS URL:\n%s", md)
	}
	interopWrite(t, spMeta, md)
	return r, up, idp
}

var (
	formTag   = regexp.MustCompile(`(?is)<form\b[^>]*>`)
	inputTag  = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attribute = regexp.MustCompile(`(?s)([A-Za-z]+)="([^"]*)"`)
)

// parsePostForm reads any IdP's auto-POST page: the form's action and its
// hidden inputs, whatever the attribute order (samltest.ParseForm knows
// only crewjam's exact markup).
func parsePostForm(page []byte) (string, url.Values, error) {
	attrs := func(tag []byte) map[string]string {
		m := map[string]string{}
		for _, a := range attribute.FindAllSubmatch(tag, -1) {
			m[strings.ToLower(string(a[1]))] = html.UnescapeString(string(a[2]))
		}
		return m
	}
	form := formTag.Find(page)
	if form == nil {
		return "", nil, errors.New("no form in the IdP's page")
	}
	f := attrs(form)
	if !strings.EqualFold(f["method"], "post") || f["action"] == "" {
		return "", nil, fmt.Errorf("form is not a POST with an action: %q", form)
	}
	fields := url.Values{}
	for _, in := range inputTag.FindAll(page, -1) {
		if a := attrs(in); a["type"] == "hidden" {
			fields.Set(a["name"], a["value"])
		}
	}
	return f["action"], fields, nil
}

// pySAML2Login starts a login at the gateway, follows it to the IdP and
// returns the IdP's auto-POST form.
func pySAML2Login(t *testing.T, b *browser, idp *pyIdP, rd string) (string, url.Values) {
	t.Helper()
	resp, _ := b.Get(t, "/.gatehouse/login/adfs?rd="+url.QueryEscape(rd))
	sso := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(sso, idp.URL+"/sso?") {
		t.Fatalf("start: got %d %q, want 302 to %s/sso?...", resp.StatusCode, sso, idp.URL)
	}
	action, fields, err := parsePostForm(interopGet(t, sso))
	if err != nil {
		t.Fatal(err)
	}
	if action != b.Base+"/.gatehouse/saml/adfs/acs" || fields.Get("SAMLResponse") == "" || fields.Get("RelayState") == "" {
		t.Fatalf("IdP form: got action %q fields %v, want the ACS with SAMLResponse and RelayState", action, fields)
	}
	return action, fields
}

// pySAML2Post posts the IdP's form as a browser would: a cross-site POST.
func pySAML2Post(t *testing.T, b *browser, idp *pyIdP, action string, fields url.Values) *http.Response {
	t.Helper()
	resp, _ := b.Do(t, http.MethodPost, strings.TrimPrefix(action, b.Base), fields, "Origin", idp.URL, "Sec-Fetch-Site", "cross-site")
	return resp
}

// TestSAMLInteropSHA1RefusedByDefault: pysaml2's default SHA-1 signature
// is refused unless the provider sets allow_sha1.
func TestSAMLInteropSHA1RefusedByDefault(t *testing.T) {
	needPySAML2(t)
	r, _, idp := pySAML2Replica(t, pyIdPOptions{alg: "sha1"})
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	action, fields := pySAML2Login(t, b, idp, "/")
	if resp := pySAML2Post(t, b, idp, action, fields); resp.StatusCode != http.StatusUnauthorized || b.Cookie("gatehouse") != nil {
		t.Fatalf("SHA-1 signed response without allow_sha1: got %d, want 401 and no session", resp.StatusCode)
	}
	if !strings.Contains(r.stderr.String(), "signed with SHA-1") {
		t.Fatal("the log does not say why the response was refused")
	}
}

func TestSAMLInteropPySAML2(t *testing.T) {
	needPySAML2(t)
	for _, tc := range []struct {
		name string
		o    pyIdPOptions
	}{
		{"assertion_signed_sha1_allowed", pyIdPOptions{alg: "sha1", allowSHA1: true}},
		{"assertion_signed_sha256", pyIdPOptions{alg: "sha256"}},
		{"response_and_assertion_signed_sha256", pyIdPOptions{signResponse: true, alg: "sha256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, up, idp := pySAML2Replica(t, tc.o)
			r.addUser(t, "alice", alicePW, "sales")
			b := newBrowser(t, r.URL)
			action, fields := pySAML2Login(t, b, idp, "/accounts/7")
			doc, _ := base64.StdEncoding.DecodeString(fields.Get("SAMLResponse"))
			wantAlg := map[string]string{"sha1": "xmldsig#rsa-sha1", "sha256": "xmldsig-more#rsa-sha256"}[tc.o.alg]
			if n := map[bool]int{false: 1, true: 2}[tc.o.signResponse]; strings.Count(string(doc), wantAlg+`"`) != n {
				t.Fatalf("pysaml2 response: want %d signature(s) with %s\n%s", n, wantAlg, doc)
			}
			if resp := pySAML2Post(t, b, idp, action, fields); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts/7" {
				t.Fatalf("ACS: got %d %q, want 303 /accounts/7", resp.StatusCode, resp.Header.Get("Location"))
			}
			b.Get(t, "/accounts/7")
			in := up.Last(t)
			if got, method := in.Header.Get("X-Gatehouse-User"), in.Header.Get("X-Gatehouse-Auth-Method"); got != "alice" || method != "saml" {
				t.Fatalf("upstream: got user %q via %q, want alice via saml", got, method)
			}
			replay := newBrowser(t, r.URL)
			replay.Jar = b.Jar
			if resp := pySAML2Post(t, replay, idp, action, fields); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("replayed pysaml2 response: got %d, want 401", resp.StatusCode)
			}
			wantAudit(t, r, "login_failure", "")

			// A fresh response with its signed NameID edited must be refused:
			// proof that pysaml2's signatures are checked, not just parsed.
			r.addUser(t, "mallory", alicePW, "admin")
			c := newBrowser(t, r.URL)
			action, fields = pySAML2Login(t, c, idp, "/")
			doc, _ = base64.StdEncoding.DecodeString(fields.Get("SAMLResponse"))
			forged := strings.Replace(string(doc), ">alice@corp.example</", ">mallory@corp.example</", 1)
			if forged == string(doc) {
				t.Fatalf("no NameID to edit in\n%s", doc)
			}
			fields.Set("SAMLResponse", base64.StdEncoding.EncodeToString([]byte(forged)))
			if resp := pySAML2Post(t, c, idp, action, fields); resp.StatusCode != http.StatusUnauthorized || c.Cookie("gatehouse") != nil {
				t.Fatalf("pysaml2 response with an edited NameID: got %d, want 401 and no session", resp.StatusCode)
			}
		})
	}
}
