package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/signing"
	"github.com/gatehouse-auth/gatehouse/proxy/assertion"
	"github.com/gatehouse-auth/gatehouse/session"
)

const alicePW = "correct horse battery staple"

func TestLoginProxyLogout(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), clk)
	alice := r.addUser(t, "alice", alicePW, "sales", "north", "south")
	b := newBrowser(t, r.URL)

	resp, _ := b.Get(t, "/accounts/7?tab=notes")
	wantLoginRedirect(t, resp, "")
	if got := resp.Header.Get("Location"); got != "/.gatehouse/login?rd=%2Faccounts%2F7%3Ftab%3Dnotes" {
		t.Fatalf("Location = %q", got)
	}
	resp, body := b.Get(t, resp.Header.Get("Location"))
	if resp.StatusCode != 200 || !strings.Contains(body, `name="password"`) || !strings.Contains(body, `value="/accounts/7?tab=notes"`) {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}, "rd": {"/accounts/7?tab=notes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts/7?tab=notes" {
		t.Fatalf("login: %d Location %q, want 303 to the original path", resp.StatusCode, resp.Header.Get("Location"))
	}
	setCookie := resp.Header.Get("Set-Cookie")
	for _, attr := range []string{"gatehouse=v1.", "Path=/", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("Set-Cookie %q lacks %q", setCookie, attr)
		}
	}
	oldCookie := b.Cookie("gatehouse").Value

	resp, body = b.Get(t, "/accounts/7?tab=notes", "Cookie", "crm_pref=dark")
	if resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("proxied: %d %q", resp.StatusCode, body)
	}
	in := up.Last(t)
	want := map[string]string{
		"X-Gatehouse-User": "alice", "X-Gatehouse-Email": "alice@corp.example", "X-Gatehouse-Role": "sales",
		"X-Gatehouse-Groups": "north,south", "X-Gatehouse-Auth-Method": "password", "X-Forwarded-For": "127.0.0.1",
	}
	for k, v := range want {
		if got := in.Header.Get(k); got != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	if in.URL.RequestURI() != "/accounts/7?tab=notes" {
		t.Errorf("upstream path %q, want the requested one", in.URL.RequestURI())
	}
	if strings.Contains(in.Header.Get("Cookie"), "gatehouse=") {
		t.Errorf("upstream received the gateway session cookie: %q", in.Header.Get("Cookie"))
	}
	sid := in.Header.Get("X-Gatehouse-Session")
	if tk, err := session.ParseTicket(oldCookie); err != nil || tk.ID != sid {
		t.Errorf("X-Gatehouse-Session %q: want the session's public id", sid)
	}
	claims := verifyAssertion(t, r, in.Header.Get("X-Gatehouse-Assertion"), clk.Now())
	if claims.Subject != alice.ID || claims.Username != "alice" || claims.Session != sid || strings.Join(claims.Groups, ",") != "north,south" {
		t.Errorf("assertion claims %+v do not match the session", claims)
	}

	resp, _ = b.Do(t, "POST", "/.gatehouse/logout", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "reason=logged_out") {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if b.Cookie("gatehouse") != nil {
		t.Error("logout did not clear the cookie")
	}
	// Replaying the old cookie finds no session server-side.
	b.SetCookie("gatehouse", oldCookie)
	resp, _ = b.Get(t, "/")
	wantLoginRedirect(t, resp, "")
}

// verifyAssertion checks the token against the JWKS the gateway publishes
// over HTTP, as an upstream would.
func verifyAssertion(t *testing.T, r *replica, tok string, now time.Time) *assertion.Claims {
	t.Helper()
	return verifyAssertionWith(t, r, r.URL, tok, now)
}

// verifyAssertionWith verifies against r's JWKS a token whose issuer is iss.
func verifyAssertionWith(t *testing.T, r *replica, iss, tok string, now time.Time) *assertion.Claims {
	t.Helper()
	resp, err := http.Get(r.URL + "/.gatehouse/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	keys, err := signing.ParseJWKS(data)
	if err != nil || len(keys) == 0 {
		t.Fatalf("jwks: %v %s", err, data)
	}
	c, err := assertion.Verify(tok, keys, iss, now, 0)
	if err != nil {
		t.Fatalf("assertion %q does not verify: %v", tok, err)
	}
	return c
}

func TestJSONClientGets401(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), newClock())
	req, _ := http.NewRequest("GET", r.URL+"/api/v1/leads", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), `"error":"unauthenticated"`) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if up.Count() != 0 {
		t.Fatal("an unauthenticated request reached the upstream")
	}
}

func TestIdleTimeout(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, "policy: {session: {absolute_lifetime: 12h, idle_timeout: 30m}}\n"), clk)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)

	// Used every 20 minutes, the session lives on past the idle timeout.
	for range 3 {
		clk.Advance(20 * time.Minute)
		r.refresh(t)
		if resp, _ := b.Get(t, "/"); resp.StatusCode != 200 {
			t.Fatalf("active session refused: %d", resp.StatusCode)
		}
	}
	clk.Advance(31 * time.Minute)
	r.refresh(t)
	resp, _ := b.Get(t, "/")
	wantLoginRedirect(t, resp, "idle_timeout")
	_, body := b.Get(t, resp.Header.Get("Location"))
	if !strings.Contains(body, "timed out after a period of inactivity") {
		t.Fatalf("login page does not explain the idle timeout:\n%s", body)
	}
}

func TestAbsoluteLifetime(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, "policy: {session: {absolute_lifetime: 1h, idle_timeout: 30m}}\n"), clk)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	for range 2 {
		clk.Advance(25 * time.Minute)
		r.refresh(t)
		if resp, _ := b.Get(t, "/"); resp.StatusCode != 200 {
			t.Fatalf("session refused before its lifetime: %d", resp.StatusCode)
		}
	}
	clk.Advance(11 * time.Minute) // 61 minutes since login, 11 idle
	r.refresh(t)
	resp, _ := b.Get(t, "/")
	wantLoginRedirect(t, resp, "absolute_lifetime")
	_, body := b.Get(t, resp.Header.Get("Location"))
	if !strings.Contains(body, "maximum lifetime") {
		t.Fatalf("login page does not explain the login expiration:\n%s", body)
	}
}

// TestPolicyChangeAppliesToExistingSessions: shortening the idle timeout
// ends sessions that are now idle too long, without a new login.
func TestPolicyChangeAppliesToExistingSessions(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), clk)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	clk.Advance(10 * time.Minute)
	r.refresh(t)
	if resp, _ := b.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("got %d before the policy change", resp.StatusCode)
	}
	file := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(file, []byte("session: {absolute_lifetime: 12h, idle_timeout: 5m}\nmethods: {password: true}\n"), 0o600)
	if code, out := runCLI(t, r, "policy", "set", "--yes", "--file", file); code != 0 {
		t.Fatalf("policy set: %d %s", code, out)
	}
	clk.Advance(6 * time.Minute)
	r.refresh(t)
	if got := r.watcher.Policy().Policy.Session.IdleTimeout; got != 5*time.Minute {
		t.Fatalf("policy in force has idle %s, want 5m", got)
	}
	resp, _ := b.Get(t, "/")
	wantLoginRedirect(t, resp, "idle_timeout")
	wantAudit(t, r, "policy_changed", "")
	wantAudit(t, r, "session_expired", "")
}

func TestDisabledUserSessionEnds(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), clk)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	if code, out := runCLI(t, r, "user", "disable", "alice"); code != 0 {
		t.Fatalf("user disable: %d %s", code, out)
	}
	r.refresh(t)
	resp, _ := b.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	wantAudit(t, r, "user_disabled", "")
	wantAudit(t, r, "session_revoked", "")
	// And the disabled user cannot log in again, with the usual message.
	resp, body := b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}})
	if resp.StatusCode != 401 || !strings.Contains(body, "Invalid username or password.") {
		t.Fatalf("disabled login: %d\n%s", resp.StatusCode, body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), newClock())
	for _, p := range []string{"/.gatehouse/healthz", "/.gatehouse/readyz"} {
		resp, err := http.Get(r.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	// SQLite and memory: one instance; the in-process channel is live and
	// the directory is polled, which /readyz says rather than hides.
	waitReadyDetail(t, r.URL, map[string]string{"invalidation": "live", "directory_push": "none: polling every 1s"})
}

func TestUpstreamDownGivesClean502(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	up.Close()
	resp, body := b.Get(t, "/")
	if resp.StatusCode != http.StatusBadGateway || strings.Contains(body, "127.0.0.1") || strings.Contains(body, "connection refused") {
		t.Fatalf("got %d, body leaks internals or wrong status:\n%s", resp.StatusCode, body)
	}
}

func TestDemoUpstreamShowsVerifiedIdentity(t *testing.T) {
	r := startReplica(t, "directory: {driver: sqlite, dsn: "+filepath.Join(t.TempDir(), "data", "gh.db")+"}\n", newClock())
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	resp, body := b.Get(t, "/")
	if resp.StatusCode != 200 || !strings.Contains(body, `id="X-Gatehouse-User">alice<`) || !strings.Contains(body, `id="assertion">verified<`) {
		t.Fatalf("demo page: %d\n%s", resp.StatusCode, body)
	}
}

// bootstrapPassword is the first admin's password from the banner of an
// interactive start, "" when there is none.
func bootstrapPassword(stderr string) string {
	i := strings.Index(stderr, "password: ")
	if i < 0 {
		return ""
	}
	return strings.Fields(stderr[i:])[1]
}

// TestBootstrapAdminMustEnrol2FA: the first admin's generated password is
// shown on the terminal only, never in a log line, and the first login
// with it must enrol a second factor (review finding F12).
func TestBootstrapAdminMustEnrol2FA(t *testing.T) {
	r := startReplicaTTY(t, listenLocal(t), "directory: {driver: sqlite, dsn: "+filepath.Join(t.TempDir(), "data", "gh.db")+"}\n", newClock(), true)
	pw := bootstrapPassword(r.stderr.String())
	if pw == "" {
		t.Fatalf("an interactive first start did not show the admin password:\n%s", r.stderr)
	}
	if strings.Contains(logLines(r.stderr.String()), pw) {
		t.Fatal("the admin password appears in a structured log line")
	}
	b := newBrowser(t, r.URL)
	resp, _ := b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"admin"}, "password": {pw}, "rd": {"/"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/2fa/enroll") {
		t.Fatalf("first admin login: %d %q, want enrolment", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode == http.StatusOK {
		t.Fatal("the first admin reached the CRM without a second factor")
	}
}

// TestBootstrapPasswordExpiresWithinAnHour: the generated password is
// refused an hour after it was shown (review finding F12, ASVS 6.4.1).
func TestBootstrapPasswordExpiresWithinAnHour(t *testing.T) {
	clk := newClock()
	r := startReplicaTTY(t, listenLocal(t), "directory: {driver: sqlite, dsn: "+filepath.Join(t.TempDir(), "data", "gh.db")+"}\n", clk, true)
	pw := bootstrapPassword(r.stderr.String())
	clk.Advance(61 * time.Minute)
	r.refresh(t)
	resp, _ := newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"admin"}, "password": {pw}, "rd": {"/"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with the bootstrap password after 61 minutes: %d, want 401", resp.StatusCode)
	}
	// Setting a password clears the expiry.
	if code, out := runCLIStdin(t, r, "a-password-of-my-own\n", "user", "set-password", "admin", "--password-stdin"); code != 0 {
		t.Fatalf("set-password: %d %s", code, out)
	}
	clk.Advance(2 * time.Hour)
	r.refresh(t)
	resp, _ = newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"admin"}, "password": {"a-password-of-my-own"}, "rd": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with a password set later: %d, want 303", resp.StatusCode)
	}
}

// TestBootstrapPasswordNotInLogStream: a start whose stderr is not a
// terminal (a container, systemd) writes the one-time password to a file
// beside the database that only this user can read, and the log says
// where — never the password itself.
func TestBootstrapPasswordNotInLogStream(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	r := startReplica(t, "directory: {driver: sqlite, dsn: "+filepath.Join(dataDir, "gh.db")+"}\n", newClock())
	file := filepath.Join(dataDir, "bootstrap-admin-password")
	data, err := os.ReadFile(file)
	pw := strings.TrimSpace(string(data))
	if err != nil || len(pw) < 20 {
		t.Fatalf("password file: %v %q", err, data)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode %v, want 0600", st.Mode().Perm())
	}
	if strings.Contains(r.stderr.String(), pw) || strings.Contains(r.stderr.String(), "password: ") {
		t.Fatalf("a non-interactive start printed the password:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr.String(), file) {
		t.Fatalf("the log does not say where the password is:\n%s", r.stderr)
	}
	u, err := r.a.dir.UserByUsername(context.Background(), "admin")
	if err != nil || !u.Require2FA || u.Role != "admin" || u.PasswordExpires.IsZero() {
		t.Fatalf("first admin: %+v %v, want role admin, 2FA required, an expiring password", u, err)
	}
	resp, _ := newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"admin"}, "password": {pw}, "rd": {"/"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/2fa/enroll") {
		t.Fatalf("login with the file's password: %d %q, want enrolment", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// logLines keeps only slog lines (time=…), dropping the operator banner.
func logLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "time=") || strings.HasPrefix(l, "{") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func runCLIStdin(t *testing.T, r *replica, stdin string, args ...string) (int, string) {
	t.Helper()
	var out strings.Builder
	args = append(args, "--config", r.cfgPath)
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &out, r.vars)
	return code, out.String()
}

func runCLI(t *testing.T, r *replica, args ...string) (int, string) {
	t.Helper()
	var out strings.Builder
	args = append(args, "--config", r.cfgPath)
	code := run(context.Background(), args, strings.NewReader(""), &out, &out, r.vars)
	return code, out.String()
}

func TestMetricsOnSeparateListener(t *testing.T) {
	up := startUpstream(t)
	port := freePort(t)
	r := startReplica(t, sqliteConfig(t, up, fmt.Sprintf("metrics_listen: 127.0.0.1:%d\npolicy: {network: {allow_roles: {ops: [10.0.0.0/8]}}}\n", port)), newClock())
	alice := r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "olga", alicePW, "ops")
	scrape := func() string {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(body)
	}
	before := scrape()
	// A scripted flow: a login, two proxied requests, a wrong password, a
	// login refused by the network rules, a logout.
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	b.Get(t, "/")
	if _, body := b.Get(t, "/metrics"); body != "crm:alice" {
		t.Fatalf("/metrics on the public listener: %q, want it proxied like any upstream path", body)
	}
	newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {"wrong"}, "rd": {"/"}})
	newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"olga"}, "password": {alicePW}, "rd": {"/"}})
	b.Do(t, "POST", "/.gatehouse/logout", url.Values{})
	body := scrape()
	for _, want := range []string{
		`gatehouse_requests_total{outcome="proxied"} 2`,
		`gatehouse_logins_total{method="password",result="success"} 1`,
		`gatehouse_logins_total{method="password",result="failure"} 1`,
		`gatehouse_network_blocks_total{rule="role_allowlist"} 1`,
		`gatehouse_sessions_created_total 1`,
		`gatehouse_sessions_ended_total{reason="logout"} 1`,
		`gatehouse_request_duration_seconds_count{code="2xx",route="upstream"} 2`,
		`gatehouse_upstream_duration_seconds_count{code="2xx"} 2`,
		"gatehouse_requests_in_flight 0",
		`gatehouse_build_info{version="dev"} 1`,
		"go_goroutines", "process_resident_memory_bytes",
		"gatehouse_directory_fresh 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(before, `gatehouse_logins_total{method="password",result="success"} 1`) {
		t.Error("the counters moved before the flow")
	}
	// No user id, address or path as a label value.
	for _, leak := range []string{alice.ID, "127.0.0.1", `"/metrics"`, "alice"} {
		if strings.Contains(body, leak) {
			t.Errorf("the metrics expose %q", leak)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}
