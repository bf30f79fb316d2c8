package main

import (
	"fmt"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/oidc/oidctest"
)

// oidcReplica starts a replica with an OIDC provider "corp" backed by a
// real test OpenID provider that signs real tokens.
func oidcReplica(t *testing.T, extra string, opts ...oidctest.Option) (*replica, *upstream, *oidctest.Provider) {
	t.Helper()
	ln := listenLocal(t)
	base := "http://" + ln.Addr().String()
	idp := oidctest.New(t, append([]oidctest.Option{oidctest.WithRedirectURL(base + "/.gatehouse/oidc/corp/callback")}, opts...)...)
	up := startUpstream(t)
	cfg := fmt.Sprintf("upstream: %s\ndirectory: {driver: sqlite, dsn: %s}\nproviders:\n  - {id: corp, type: oidc, label: Corp SSO, issuer: %q, client_id: %q, client_secret: %q%s}\n",
		up.URL, filepath.Join(t.TempDir(), "data", "d.db"), idp.Issuer, idp.ClientID, idp.ClientSecret, extra)
	r := startReplicaOn(t, ln, cfg, newClock())
	return r, up, idp
}

// oidcLogin walks a browser through the test provider's login.
func oidcLogin(t *testing.T, b *browser, idp *oidctest.Provider, rd string) (*http.Response, string, string) {
	t.Helper()
	return gatewaytest.OIDCLogin(t, b, idp.Issuer, "corp", rd)
}

func TestOIDCLoginThroughGateway(t *testing.T) {
	r, up, idp := oidcReplica(t, "")
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	if _, body := b.Get(t, "/.gatehouse/login"); !strings.Contains(body, `id="login-corp"`) || !strings.Contains(body, "Log in with Corp SSO") {
		t.Fatalf("login page has no provider button:\n%s", body)
	}
	resp, body, _ := oidcLogin(t, b, idp, "/accounts/7")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts/7" {
		t.Fatalf("callback: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if resp, _ := b.Get(t, "/accounts/7"); resp.StatusCode != 200 {
		t.Fatalf("after OIDC login: %d", resp.StatusCode)
	}
	in := up.Last(t)
	if in.Header.Get("X-Gatehouse-User") != "alice" || in.Header.Get("X-Gatehouse-Auth-Method") != "oidc" {
		t.Fatalf("upstream saw %q via %q", in.Header.Get("X-Gatehouse-User"), in.Header.Get("X-Gatehouse-Auth-Method"))
	}
	wantAudit(t, r, "login_success", "")
}

// TestOIDCLoginCSRF: a victim's browser opening the callback URL of the
// attacker's own login (without the attacker's binding cookie) is refused.
func TestOIDCLoginCSRF(t *testing.T) {
	r, _, _ := oidcReplica(t, "")
	r.addUser(t, "alice", alicePW, "sales")
	attacker := newBrowser(t, r.URL)
	resp, _ := attacker.Get(t, "/.gatehouse/login/corp")
	req, _ := http.NewRequest("GET", resp.Header.Get("Location"), nil)
	ar, err := attacker.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ar.Body.Close()
	victim := newBrowser(t, r.URL)
	resp, body := victim.Get(t, strings.TrimPrefix(ar.Header.Get("Location"), r.URL))
	if resp.StatusCode != http.StatusBadRequest || victim.Cookie("gatehouse") != nil || !strings.Contains(body, "start again") {
		t.Fatalf("victim opening the attacker's callback: %d (session: %v)", resp.StatusCode, victim.Cookie("gatehouse") != nil)
	}
}

func TestOIDCReplayedCallbackRefused(t *testing.T) {
	r, _, idp := oidcReplica(t, "")
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	_, _, callback := oidcLogin(t, b, idp, "/")
	c := newBrowser(t, r.URL)
	c.Jar = b.Jar // even the same browser cannot use a callback twice
	if resp, _ := c.Get(t, strings.TrimPrefix(callback, r.URL)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d, want 400", resp.StatusCode)
	}
}

func TestOIDCUnknownUserRefusedUnlessJIT(t *testing.T) {
	r, _, idp := oidcReplica(t, "")
	if resp, body, _ := oidcLogin(t, newBrowser(t, r.URL), idp, "/"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not set up") {
		t.Fatalf("unknown user: %d\n%s", resp.StatusCode, body)
	}
	r2, up, idp2 := oidcReplica(t, ", jit: {enabled: true, role: sales}, group_map: {CRM-Admins: {role: admin}, North: {groups: [north]}}")
	b := newBrowser(t, r2.URL)
	if resp, _, _ := oidcLogin(t, b, idp2, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("JIT login: %d", resp.StatusCode)
	}
	b.Get(t, "/")
	in := up.Last(t)
	if in.Header.Get("X-Gatehouse-User") != "alice@corp.example" || in.Header.Get("X-Gatehouse-Role") != "admin" || in.Header.Get("X-Gatehouse-Groups") != "north" {
		t.Fatalf("JIT user: %q %q %q", in.Header.Get("X-Gatehouse-User"), in.Header.Get("X-Gatehouse-Role"), in.Header.Get("X-Gatehouse-Groups"))
	}
}

func TestOIDCProviderSwitchedOffByPolicy(t *testing.T) {
	r, _, _ := oidcReplica(t, "")
	pf := writeFile(t, "p.yaml", "methods: {password: true, corp: false}\n")
	if code, out := runCLI(t, r, "policy", "set", "--yes", "--file", pf); code != 0 {
		t.Fatal(out)
	}
	r.refresh(t)
	b := newBrowser(t, r.URL)
	if _, body := b.Get(t, "/.gatehouse/login"); strings.Contains(body, "login-corp") {
		t.Fatal("a disabled provider still has a button")
	}
	if resp, _ := b.Get(t, "/.gatehouse/login/corp"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("starting a disabled provider: %d, want 403", resp.StatusCode)
	}
}

// TestOIDCIdPMFATrusted: with mfa required and federated: trust_idp, an
// IdP that asserted MFA (amr) is not asked for a second code; with
// federated: always it is.
func TestOIDCIdPMFATrusted(t *testing.T) {
	r, _, idp := oidcReplica(t, "")
	r.addUser(t, "alice", alicePW, "sales")
	pf := writeFile(t, "p.yaml", "mfa: {mode: required, federated: trust_idp}\n")
	runCLI(t, r, "policy", "set", "--yes", "--file", pf)
	r.refresh(t)
	if resp, _, _ := oidcLogin(t, newBrowser(t, r.URL), idp, "/"); resp.Header.Get("Location") != "/" {
		t.Fatalf("IdP-asserted MFA under trust_idp: %q, want straight in", resp.Header.Get("Location"))
	}
	pf = writeFile(t, "p.yaml", "mfa: {mode: required, federated: always}\n")
	runCLI(t, r, "policy", "set", "--yes", "--file", pf)
	r.refresh(t)
	if resp, _, _ := oidcLogin(t, newBrowser(t, r.URL), idp, "/"); !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/2fa/enroll") {
		t.Fatalf("federated: always: %q, want enrolment", resp.Header.Get("Location"))
	}
}

// TestProviderRoutesBelongToTheirProtocol: an OIDC provider's id at the
// SAML routes (and the other way round) is not a provider.
func TestProviderRoutesBelongToTheirProtocol(t *testing.T) {
	r, _, _ := oidcReplica(t, "")
	b := newBrowser(t, r.URL)
	if resp, _ := b.Get(t, "/.gatehouse/saml/corp/metadata"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("SAML metadata of an OIDC provider: %d, want 404", resp.StatusCode)
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/saml/corp/acs", url.Values{"SAMLResponse": {"x"}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("SAML ACS of an OIDC provider: %d, want 404", resp.StatusCode)
	}
}

// TestOpenRedirectThroughFederatedLogin: rd survives the trip to the IdP
// only as a path on this origin.
func TestOpenRedirectThroughFederatedLogin(t *testing.T) {
	r, _, idp := oidcReplica(t, "")
	r.addUser(t, "alice", alicePW, "sales")
	for _, rd := range []string{"//evil.example", "https://evil.example/", "/\\evil.example"} {
		resp, body, _ := oidcLogin(t, newBrowser(t, r.URL), idp, rd)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("rd %q: got %d %q, want 303 to /\n%s", rd, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
}
