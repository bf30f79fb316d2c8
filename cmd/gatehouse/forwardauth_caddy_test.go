package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/apikey"
)

// The caddyfile block of docs/forward-auth.md names these; the test puts
// its own addresses in their place. The gateway's address appears twice
// (its pages and the check), so each use is its own entry.
const (
	docCaddySite      = "crm.example.com {"
	docCaddyPages     = "reverse_proxy 127.0.0.1:8080\n"
	docCaddyCheck     = "forward_auth 127.0.0.1:8080 {"
	docCaddyCRM       = "reverse_proxy 127.0.0.1:8000\n"
	docCaddyGatehouse = "127.0.0.1:8080"
	docCaddyCRMAddr   = "127.0.0.1:8000"
)

// TestForwardAuthCaddy runs a real Caddy with forward_auth in front of the
// gateway and the CRM, with the configuration docs/forward-auth.md gives,
// and drives it as a browser and a program would.
func TestForwardAuthCaddy(t *testing.T) {
	bin := caddyBinary(t)
	up := startUpstream(t)
	port := freePort(t)
	front := "http://127.0.0.1:" + strconv.Itoa(port)
	r := startReplica(t, sqliteConfig(t, up, "public_url: "+front+"\ntrusted_proxies: [127.0.0.1]\nforward_auth: {enabled: true}\n"+accessPolicy), nil)
	r.addUser(t, "alice", alicePW, "sales")
	gw, _ := url.Parse(r.URL)
	crm, _ := url.Parse(up.URL)
	startCaddy(t, bin, port, caddySiteBlock(t, gw.Host, crm.Host, port))

	// An anonymous browser goes to the login page, rd naming the URL it
	// asked for; a program gets the 401. Neither reaches the CRM.
	anon := newBrowser(t, front)
	resp, _ := anon.Get(t, "/leads/7?tab=notes")
	// Caddy hands the check's answer over as it is: Location stays relative.
	wantLogin := "/.gatehouse/login?rd=" + url.QueryEscape(front+"/leads/7?tab=notes")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wantLogin {
		t.Fatalf("anonymous browser: %d Location %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), wantLogin)
	}
	if resp, _ := anon.Get(t, "/leads/7", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous program: %d, want 401", resp.StatusCode)
	}
	if resp, _ := anon.Get(t, "/leads/7", "X-Gatehouse-User", "alice"); resp.StatusCode != http.StatusFound {
		t.Fatalf("anonymous browser claiming to be alice: %d, want 302 to the login page", resp.StatusCode)
	}
	if up.Count() != 0 {
		t.Fatalf("the CRM received %d requests from anonymous clients", up.Count())
	}

	// Logging in through Caddy returns the browser to where it was.
	b := newBrowser(t, front)
	b.SetCookie("theme", "dark")
	resp, body := b.Get(t, wantLogin)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `value="/leads/7?tab=notes"`) {
		t.Fatalf("login page through Caddy: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.Do(t, http.MethodPost, "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}, "rd": {"/leads/7?tab=notes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/leads/7?tab=notes" {
		t.Fatalf("login through Caddy: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	session := b.Cookie("gatehouse")
	if session == nil {
		t.Fatal("no session cookie after the login")
	}

	// The CRM sees who it is, vouched for by the gateway; the client's own
	// identity headers never arrive, whatever their spelling (a CGI-style
	// CRM reads X_Gatehouse_User as X-Gatehouse-User), nor when the
	// check's answer lacks the header (X-Gatehouse-Key-Id for a session;
	// GHSA-7r4p-vjf4-gxv4).
	resp, body = b.Get(t, "/leads/7?tab=notes", "X-Gatehouse-User", "mallory", "X-Gatehouse-Key-Id", "forged",
		"X_Gatehouse_User", "mallory", "X_Gatehouse-Role", "mallory", "X-Gatehouse_Role", "mallory")
	if resp.StatusCode != http.StatusOK || body != "crm:alice" {
		t.Fatalf("signed in through Caddy: %d %q, want the CRM's answer for alice", resp.StatusCode, body)
	}
	last := up.Last(t)
	want := map[string]string{"X-Gatehouse-User": "alice", "X-Gatehouse-Email": "alice@corp.example", "X-Gatehouse-Role": "sales",
		"X-Gatehouse-Auth-Method": "password"}
	for h, v := range want {
		if got := last.Header.Values(h); len(got) != 1 || got[0] != v {
			t.Errorf("CRM got %s %q, want %q", h, got, v)
		}
	}
	if c := verifyAssertionWith(t, r, front, last.Header.Get("X-Gatehouse-Assertion"), time.Now()); c.Username != "alice" {
		t.Errorf("CRM got an assertion for %q, want alice", c.Username)
	}
	if last.Header.Get("X-Gatehouse-Session") == "" {
		t.Error("CRM got no X-Gatehouse-Session")
	}
	// A session has no key and no device: the CRM gets neither header,
	// not Caddy's placeholder text in their place.
	for _, h := range []string{"X-Gatehouse-Key-Id", "X-Gatehouse-Device"} {
		if v, ok := last.Header[h]; ok {
			t.Errorf("CRM got %s %q for a session, want none", h, v)
		}
	}
	crmMustNotSee(t, last, "mallory", "forged", "{")
	// The documented config leaves the browser's cookies alone (the
	// gateway's included, as the doc says); the CRM's own must arrive.
	if c, err := last.Cookie("theme"); err != nil || c.Value != "dark" {
		t.Errorf("CRM got Cookie %q, want theme=dark among them", last.Header.Get("Cookie"))
	}

	// A program with an API key: the CRM gets the key's id from the
	// check, and no X-Gatehouse-Device, neither Caddy's placeholder nor
	// the client's.
	key := createKey(t, r, "--user", "alice")
	id, _, _ := apikey.Parse(key)
	resp, body = call(t, http.MethodGet, front+"/leads/7", "Authorization", "Bearer "+key, "X-Gatehouse-Device", "forged")
	if resp.StatusCode != http.StatusOK || body != "crm:alice" {
		t.Fatalf("API key through Caddy: %d %q, want the CRM's answer for alice", resp.StatusCode, body)
	}
	last = up.Last(t)
	if got := last.Header.Values("X-Gatehouse-Key-Id"); len(got) != 1 || got[0] != id || last.Header.Get("X-Gatehouse-Auth-Method") != "api_key" {
		t.Errorf("CRM got Key-Id %q, Auth-Method %q for an API key, want %q, api_key", got, last.Header.Get("X-Gatehouse-Auth-Method"), id)
	}
	if v, ok := last.Header["X-Gatehouse-Device"]; ok {
		t.Errorf("CRM got X-Gatehouse-Device %q for an API key, want none", v)
	}
	crmMustNotSee(t, last, "forged", "{")

	// A route rule refuses on the original path; a client cannot name
	// another one in either family of headers.
	before := up.Count()
	if resp, _ := b.Get(t, "/admin/users"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("route rule through Caddy: %d, want 403", resp.StatusCode)
	}
	// Caddy sets X-Forwarded-Uri and -Method itself, over the client's.
	if resp, _ := b.Get(t, "/admin/users", "X-Forwarded-Uri", "/leads/7", "X-Forwarded-Method", "GET"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("route rule with a client's X-Forwarded-Uri: %d, want 403", resp.StatusCode)
	}
	// Caddy passes the client's X-Original-URI on; the gateway sees the
	// two families disagree.
	if resp, _ := b.Get(t, "/admin/users", "X-Original-URI", "/leads/7", "X-Original-Method", "GET"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("route rule with a client's X-Original-URI: %d, want 400", resp.StatusCode)
	}
	// Only Caddy asks the check: a client asking it itself (for a
	// signed assertion, or what a path would allow) gets Caddy's 404.
	if resp, body := b.Get(t, "/.gatehouse/auth", "X-Forwarded-Uri", "/admin/users", "X-Forwarded-Method", "GET"); resp.StatusCode != http.StatusNotFound ||
		resp.Header.Get("X-Gatehouse-Assertion") != "" || resp.Header.Get("X-Gatehouse-User") != "" {
		t.Errorf("a client asking /.gatehouse/auth through Caddy: %d %v\n%s, want 404 and no identity", resp.StatusCode, resp.Header, body)
	}
	if up.Count() != before {
		t.Errorf("the CRM received a refused request")
	}

	// After logout the browser, and anyone holding the old cookie, is
	// sent to the login page again.
	if resp, _ := b.Do(t, http.MethodPost, "/.gatehouse/logout", url.Values{}); resp.StatusCode >= 400 {
		t.Fatalf("logout through Caddy: %d", resp.StatusCode)
	}
	replay := newBrowser(t, front)
	replay.SetCookie("gatehouse", session.Value)
	for name, br := range map[string]*browser{"the browser": b, "the old cookie": replay} {
		resp, _ := br.Get(t, "/leads/7")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/login?") {
			t.Errorf("%s after logout: %d %q, want 302 to the login page", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if up.Count() != before {
		t.Errorf("the CRM received a request after logout")
	}
}

// crmMustNotSee fails when a header the CRM received carries one of bad.
func crmMustNotSee(t *testing.T, req *http.Request, bad ...string) {
	t.Helper()
	for k, vs := range req.Header {
		for _, v := range vs {
			for _, b := range bad {
				if strings.Contains(v, b) {
					t.Errorf("CRM got %s: %q", k, v)
				}
			}
		}
	}
}

// caddyBinary returns caddy, or skips (fails under CI=true) naming the
// package.
func caddyBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("caddy"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("caddy not installed (apt-get install caddy; .ci/ensure-services.sh does)")
	}
	t.Skip("caddy not installed (apt-get install caddy; .ci/ensure-services.sh does)")
	return ""
}

// caddySiteBlock is the caddyfile block of docs/forward-auth.md with the
// test's addresses, served over plain HTTP on port. Each address the doc
// names must appear exactly once per use, and no other use may be left,
// so the doc and the test cannot drift apart unnoticed.
func caddySiteBlock(t *testing.T, gatehouse, crm string, port int) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "forward-auth.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "\n## Caddy\n")
	if ok {
		_, rest, ok = strings.Cut(rest, "```caddyfile\n")
	}
	block, _, closed := strings.Cut(rest, "\n```\n")
	if !ok || !closed {
		t.Fatal("docs/forward-auth.md has no ```caddyfile block under ## Caddy")
	}
	for _, rp := range [][2]string{
		{docCaddySite, fmt.Sprintf("http://127.0.0.1:%d {", port)},
		{docCaddyPages, "reverse_proxy " + gatehouse + "\n"},
		{docCaddyCheck, "forward_auth " + gatehouse + " {"},
		{docCaddyCRM, "reverse_proxy " + crm + "\n"},
	} {
		if n := strings.Count(block, rp[0]); n != 1 {
			t.Fatalf("docs/forward-auth.md's caddyfile block names %q %d times, want once", rp[0], n)
		}
		block = strings.Replace(block, rp[0], rp[1], 1)
	}
	for _, addr := range []string{"crm.example.com", docCaddyGatehouse, docCaddyCRMAddr} {
		if strings.Contains(block, addr) {
			t.Fatalf("docs/forward-auth.md's caddyfile block names %q where the test does not replace it", addr)
		}
	}
	return block
}

// startCaddy runs caddy in the foreground as an unprivileged process,
// with no admin endpoint, no automatic HTTPS and everything it writes
// (storage, autosaved config) in a temporary folder, until the test ends.
func startCaddy(t *testing.T, bin string, port int, site string) {
	t.Helper()
	dir := t.TempDir()
	// The global options are the test's, not the doc's: an operator keeps
	// Caddy's defaults (automatic HTTPS for crm.example.com).
	conf := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %[1]s/data
}

%[2]s
`, dir, site)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Dir = dir
	// Caddy writes under HOME and the XDG folders (the autosaved config
	// among them); keep them in dir.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	runProxy(t, "caddy", cmd, dir, port, os.Interrupt, func() string { return conf })
}
