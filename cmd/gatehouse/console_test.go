package main

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

// adminPolicy: admins must enrol 2FA; "ops" holds the admin template
// without the mandate, to try an admin session without a second factor.
const adminPolicy = `policy:
  mfa: {mode: optional, required_roles: [admin]}
  access: {roles: {admin: admin, sales: sales_user, ops: admin}}
`

// apiCall sends a JSON request with a browser's session cookie (or none,
// or other headers) and returns the status and body.
func apiCall(t *testing.T, base string, b *browser, method, path, body string, hdr ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if b != nil {
		req.AddCookie(b.Cookie("gatehouse"))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// adminSession logs root in with password and TOTP (enrolling at first
// login, as the policy demands of admins).
func adminSession(t *testing.T, r *replica, clk *clock) *browser {
	t.Helper()
	b := newBrowser(t, r.URL)
	loginTo(t, b, "root", "/.gatehouse/2fa/enroll")
	gatewaytest.Enrol(t, b, clk)
	return b
}

// TestAdminAPIAccess: who may call the admin API — the attacks refused on
// every route — and the policy story: read, dry-run, save over the
// version edited (409 otherwise), re-authentication after 5 minutes,
// history, rollback.
func TestAdminAPIAccess(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "ops", alicePW, "ops")
	routes := []struct{ method, path, body string }{
		{"GET", "/.gatehouse/api/v1/admin/policy", ""},
		{"POST", "/.gatehouse/api/v1/admin/policy/dry-run", `{"document":"session: {idle_timeout: 10m}"}`},
		{"PUT", "/.gatehouse/api/v1/admin/policy", `{"document":"session: {idle_timeout: 10m}","version":1}`},
		{"GET", "/.gatehouse/api/v1/admin/policy/history", ""},
		{"POST", "/.gatehouse/api/v1/admin/policy/rollback", `{"to":1,"version":1}`},
		{"GET", "/.gatehouse/api/v1/admin/users", ""},
		{"POST", "/.gatehouse/api/v1/admin/users/alice/logout", ""},
		{"POST", "/.gatehouse/api/v1/admin/logout-all", `{"confirm":"log out everyone"}`},
	}
	alice := newBrowser(t, r.URL)
	alice.Login(t, "alice", alicePW)
	ops := newBrowser(t, r.URL)
	ops.Login(t, "ops", alicePW)
	aliceKey := createKey(t, r, "--user", "alice")
	rootKey := createKey(t, r, "--user", "root") // all of root's features, but not admin-scoped by name
	for _, rt := range routes {
		for _, c := range []struct {
			name string
			b    *browser
			hdr  []string
			want int
			code string
		}{
			{"no credential", nil, nil, 401, "unauthenticated"},
			{"a non-admin", alice, nil, 403, "forbidden"},
			{"an admin without a second factor", ops, nil, 403, "mfa_required"},
			{"a non-admin's API key", nil, []string{"Authorization", "Bearer " + aliceKey}, 403, "forbidden"},
			{"an admin's key without the admin scope", nil, []string{"Authorization", "Bearer " + rootKey}, 403, "forbidden"},
		} {
			if got, body := apiCall(t, r.URL, c.b, rt.method, rt.path, rt.body, c.hdr...); got != c.want || errorCode(body) != c.code {
				t.Errorf("%s %s by %s: %d %s, want %d %s", rt.method, rt.path, c.name, got, body, c.want, c.code)
			}
		}
	}

	root := adminSession(t, r, clk)
	code, body := apiCall(t, r.URL, root, "GET", "/.gatehouse/api/v1/admin/policy", "")
	var pv struct {
		Version  int64
		Document string
	}
	if json.Unmarshal([]byte(body), &pv); code != 200 || pv.Version != 1 || !strings.Contains(pv.Document, "required_roles") {
		t.Fatalf("get policy: %d %s", code, body)
	}
	code, body = apiCall(t, r.URL, root, "POST", "/.gatehouse/api/v1/admin/policy/dry-run", `{"document":"session: {idle_timeout: 10m}"}`)
	if code != 200 || !strings.Contains(body, `"merged":true`) || !strings.Contains(body, "+    idle_timeout: 10m0s") {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "POST", "/.gatehouse/api/v1/admin/policy/dry-run", `{"document":"session: {idle_timeout: forever}"}`); code != 422 || errorCode(body) != "invalid" {
		t.Fatalf("invalid dry run: %d %s", code, body)
	}
	// Cross-site: refused before any handler (cookie callers).
	if code, _ := apiCall(t, r.URL, root, "PUT", "/.gatehouse/api/v1/admin/policy", `{"document":"session: {idle_timeout: 10m}","version":1}`,
		"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); code != 403 {
		t.Fatalf("cross-site PUT: %d", code)
	}
	if code, body := apiCall(t, r.URL, root, "PUT", "/.gatehouse/api/v1/admin/policy", `{"document":"session: {idle_timeout: 10m}","version":1}`); code != 200 || !strings.Contains(body, `"version":2`) {
		t.Fatalf("put: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "PUT", "/.gatehouse/api/v1/admin/policy", `{"document":"session: {idle_timeout: 20m}","version":1}`); code != 409 || errorCode(body) != "conflict" {
		t.Fatalf("stale put: %d %s", code, body)
	}
	// Six minutes later a change needs the password (or a code) again;
	// reading does not.
	clk.Advance(6 * time.Minute)
	r.refresh(t)
	if code, body := apiCall(t, r.URL, root, "PUT", "/.gatehouse/api/v1/admin/policy", `{"document":"session: {idle_timeout: 20m}","version":2}`); code != 403 || errorCode(body) != "reauth_required" {
		t.Fatalf("put after 6 minutes: %d %s", code, body)
	}
	if code, _ := apiCall(t, r.URL, root, "GET", "/.gatehouse/api/v1/admin/policy/history", ""); code != 200 {
		t.Fatalf("history after 6 minutes: %d", code)
	}
	if code, body := apiCall(t, r.URL, root, "POST", "/.gatehouse/api/v1/reauth", `{"password":"wrong"}`); code != 403 || errorCode(body) != "reauth_failed" {
		t.Fatalf("reauth with a wrong password: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "POST", "/.gatehouse/api/v1/reauth", `{"password":"`+alicePW+`"}`); code != 204 {
		t.Fatalf("reauth: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "PUT", "/.gatehouse/api/v1/admin/policy", `{"document":"session: {idle_timeout: 20m}","version":2}`); code != 200 {
		t.Fatalf("put after reauth: %d %s", code, body)
	}
	code, body = apiCall(t, r.URL, root, "GET", "/.gatehouse/api/v1/admin/policy/history?limit=2", "")
	if code != 200 || !strings.Contains(body, `"version":3`) || !strings.Contains(body, "+    idle_timeout: 20m0s") || strings.Contains(body, `"version":1,`) {
		t.Fatalf("history: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "POST", "/.gatehouse/api/v1/admin/policy/rollback", `{"to":1,"version":3}`); code != 200 || !strings.Contains(body, `"version":4`) {
		t.Fatalf("rollback: %d %s", code, body)
	}
	if _, out := runCLI(t, r, "policy", "show"); !strings.Contains(out, "idle_timeout: 30m0s") || !strings.Contains(out, "set by root") {
		t.Fatalf("after the rollback: %s", out)
	}
	// An admin-scoped key of an admin works without a session.
	adminKey := createKey(t, r, "--user", "root", "--scopes", "admin")
	if code, body := apiCall(t, r.URL, nil, "GET", "/.gatehouse/api/v1/admin/users?q=ali", "", "Authorization", "Bearer "+adminKey); code != 200 ||
		!strings.Contains(body, `"username":"alice"`) || strings.Contains(body, `"username":"root"`) || !strings.Contains(body, `"total":1`) {
		t.Fatalf("users with an admin key: %d %s", code, body)
	}
	wantAudit(t, r, "admin_api_call", "")
}

// TestAdminAPILogout: an admin logs one user out, then everyone; each
// refused session lands on the login page.
func TestAdminAPILogout(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "sales")
	alice, bob := newBrowser(t, r.URL), newBrowser(t, r.URL)
	alice.Login(t, "alice", alicePW)
	bob.Login(t, "bob", alicePW)
	root := adminSession(t, r, clk)
	if code, body := apiCall(t, r.URL, root, "POST", "/.gatehouse/api/v1/admin/users/alice/logout", ""); code != 200 {
		t.Fatalf("logout alice: %d %s", code, body)
	}
	if code, _ := apiCall(t, r.URL, root, "POST", "/.gatehouse/api/v1/admin/users/nobody/logout", ""); code != 404 {
		t.Fatalf("logout of an unknown user: %d", code)
	}
	r.refresh(t)
	resp, _ := alice.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	if resp, _ := bob.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("bob after alice's logout: %d", resp.StatusCode)
	}
	if code, body := apiCall(t, r.URL, root, "POST", "/.gatehouse/api/v1/admin/logout-all", `{}`); code != 400 || errorCode(body) != "confirmation_required" {
		t.Fatalf("logout-all without the confirmation: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "POST", "/.gatehouse/api/v1/admin/logout-all", `{"confirm":"log out everyone"}`); code != 200 || !strings.Contains(body, `"users":4`) {
		t.Fatalf("logout-all: %d %s", code, body)
	}
	r.refresh(t)
	for name, b := range map[string]*browser{"bob": bob, "root": root} {
		resp, _ := b.Get(t, "/")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/login") {
			t.Fatalf("%s after logout-all: %d %s", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	wantAudit(t, r, "logout_all", "")
}

// TestLogoutAllCommand: the CLI's "log out everyone", with keys.
func TestLogoutAllCommand(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	key := createKey(t, r, "--user", "alice")
	if code, out := runCLI(t, r, "logout-all"); code != 2 || !strings.Contains(out, "add --yes") {
		t.Fatalf("without --yes: %d %s", code, out)
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatal("logged out without confirmation")
	}
	if code, out := runCLI(t, r, "logout-all", "--yes", "--include-api-keys"); code != 0 || !strings.Contains(out, "1 API keys revoked") {
		t.Fatalf("logout-all: %d %s", code, out)
	}
	r.refresh(t)
	resp, _ := b.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	if resp, _ := call(t, "GET", r.URL+"/", "X-API-Key", key); resp.StatusCode != 401 {
		t.Fatalf("key after logout-all --include-api-keys: %d", resp.StatusCode)
	}
}

// TestAdminAPIAuditExport: the audit log through the API — a filtered
// page, NDJSON, and CSV in which a typed-in formula stays inert.
func TestAdminAPIAuditExport(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	evil := "=cmd|' /C calc'!A0"
	b := newBrowser(t, r.URL)
	b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"nobody"}, "password": {"x"}, "rd": {"/"}})
	// Text an attacker controls reaching an event (a name, a user agent):
	// recorded as any such event would be.
	r.a.audit.Record(t.Context(), audit.Event{Event: audit.LoginFailure, Actor: evil, Detail: map[string]string{"ua": "@SUM(1+1)", "n": "-2+3"}})
	root := adminSession(t, r, clk)
	code, body := apiCall(t, r.URL, root, "GET", "/.gatehouse/api/v1/admin/audit?event=login_failure", "")
	if code != 200 || !strings.Contains(body, `"event":"login_failure"`) || strings.Contains(body, `"event":"login_success"`) {
		t.Fatalf("page: %d %s", code, body)
	}
	code, body = apiCall(t, r.URL, root, "GET", "/.gatehouse/api/v1/admin/audit?format=ndjson", "")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	var first map[string]any
	if code != 200 || len(lines) < 3 || json.Unmarshal([]byte(lines[0]), &first) != nil || first["event"] == nil {
		t.Fatalf("ndjson: %d %s", code, body)
	}
	code, body = apiCall(t, r.URL, root, "GET", "/.gatehouse/api/v1/admin/audit?event=login_failure&format=csv", "")
	if code != 200 || !strings.Contains(body, "login_failure") {
		t.Fatalf("csv: %d %s", code, body)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("a CSV cell a spreadsheet would run: %q", cell)
			}
		}
	}
	if !strings.Contains(body, "'"+evil) {
		t.Fatalf("the typed username is not in the export at all:\n%s", body)
	}
}

// TestPolicyDryRunImpact: before saving, the dry run says who the change
// locks out of which address they use, who must enrol a second factor,
// and how many live sessions end — in the API and in the CLI.
func TestPolicyDryRunImpact(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "sales")
	for _, u := range []string{"alice", "bob"} {
		newBrowser(t, r.URL).Login(t, u, alicePW)
	}
	root := adminSession(t, r, clk)
	code, body := apiCall(t, r.URL, root, "POST", "/.gatehouse/api/v1/admin/policy/dry-run",
		`{"document":"network: {allow_roles: {sales: [{cidr: 10.0.0.0/8, description: Bangalore office}]}}\nmfa: {required_roles: [admin, sales]}\n"}`)
	var plan struct {
		Impact struct {
			NetworkLoss []struct{ Username, Address, Rule string } `json:"network_loss"`
			Forced      []string                                   `json:"forced_enrolment"`
			Sessions    int                                        `json:"sessions_ending"`
		}
	}
	if json.Unmarshal([]byte(body), &plan); code != 200 || len(plan.Impact.NetworkLoss) != 2 || plan.Impact.NetworkLoss[0].Username != "alice" ||
		plan.Impact.NetworkLoss[0].Address != "127.0.0.1" || plan.Impact.NetworkLoss[0].Rule != "role_allowlist" ||
		strings.Join(plan.Impact.Forced, ",") != "alice,bob" || plan.Impact.Sessions != 0 {
		t.Fatalf("dry run: %d %s", code, body)
	}
	// Ten idle minutes later, a 5-minute idle timeout would end alice's
	// and bob's sessions (root's own use keeps hers).
	clk.Advance(10 * time.Minute)
	r.refresh(t)
	apiCall(t, r.URL, root, "GET", "/.gatehouse/api/v1/admin/policy", "")
	code, body = apiCall(t, r.URL, root, "POST", "/.gatehouse/api/v1/admin/policy/dry-run", `{"document":"session: {idle_timeout: 5m}"}`)
	if json.Unmarshal([]byte(body), &plan); code != 200 || plan.Impact.Sessions < 2 || len(plan.Impact.NetworkLoss) != 0 {
		t.Fatalf("dry run of a shorter idle timeout: %d %s", code, body)
	}
	// The CLI says the same, and that it cannot count sessions.
	code, out := runCLI(t, r, "policy", "set", "--dry-run", "--file", writeFile(t, "p.yaml", "network: {allow_roles: {sales: [10.0.0.0/8]}}\n"))
	if code != 0 || !strings.Contains(out, "network: alice would be refused from 127.0.0.1") || !strings.Contains(out, "nothing was stored") {
		t.Fatalf("CLI dry run: %d\n%s", code, out)
	}
}
