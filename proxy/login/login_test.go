package login_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
	"github.com/gatehouse-auth/gatehouse/session"
)

const alicePW = "correct horse battery"

func TestLoginProxyLogout(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	g.AddUser(t, "alice", alicePW, "sales", "north")
	b := gatewaytest.NewBrowser(g.URL)

	resp, _ := b.Get(t, "/accounts/7?tab=notes")
	gatewaytest.WantLoginRedirect(t, resp, "")
	if loc := resp.Header.Get("Location"); loc != "/.gatehouse/login?rd=%2Faccounts%2F7%3Ftab%3Dnotes" {
		t.Fatalf("Location %q", loc)
	}
	resp, body := b.Get(t, "/.gatehouse/login?rd=%2Faccounts%2F7")
	if resp.StatusCode != 200 || !strings.Contains(body, `name="password"`) {
		t.Fatalf("login page: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {"wrong password"}, "rd": {"/"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Invalid username or password.") {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp, _ = b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}, "rd": {"/accounts/7"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts/7" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = b.Get(t, "/accounts/7")
	if resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("proxied: %d %q", resp.StatusCode, body)
	}
	up := g.Upstream.Last(t)
	for k, want := range map[string]string{"X-Gatehouse-User": "alice", "X-Gatehouse-Role": "sales", "X-Gatehouse-Groups": "north",
		"X-Gatehouse-Auth-Method": "password"} {
		if got := up.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if up.Header.Get("X-Gatehouse-Assertion") == "" || up.Header.Get("X-Gatehouse-Session") == "" {
		t.Error("no assertion or session id upstream")
	}
	// Logged in, the login page sends the browser straight on.
	if resp, _ := b.Get(t, "/.gatehouse/login?rd=%2Fx"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/x" {
		t.Fatalf("login page while logged in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.Do(t, "POST", "/.gatehouse/logout", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "reason=logged_out") {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.Get(t, "/accounts/7")
	gatewaytest.WantLoginRedirect(t, resp, "")
}

// TestReturnToAccountPageAfterLogin: rd may name the gateway's own pages
// meant to be returned to (issue 8), and nothing else under /.gatehouse/.
func TestReturnToAccountPageAfterLogin(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	g.AddUser(t, "alice", alicePW, "sales")
	b := gatewaytest.NewBrowser(g.URL)
	resp, _ := b.Get(t, "/.gatehouse/account")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("account without a session: %d", resp.StatusCode)
	}
	for rd, want := range map[string]string{"/.gatehouse/account": "/.gatehouse/account", "/.gatehouse/logout": "/", "/%252egatehouse/logout": "/"} {
		b := gatewaytest.NewBrowser(g.URL)
		resp, _ := b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}, "rd": {rd}})
		if resp.Header.Get("Location") != want {
			t.Errorf("rd %q: Location %q, want %q", rd, resp.Header.Get("Location"), want)
		}
	}
	b.Login(t, "alice", alicePW)
	if resp, body := b.Get(t, "/.gatehouse/account"); resp.StatusCode != 200 || !strings.Contains(body, "alice") {
		t.Fatalf("account page: %d", resp.StatusCode)
	}
}

// TestSessionPublicIDCannotEndIt: the session id is public (it is in
// X-Gatehouse-Session, the assertion's sid and audit lines). A cookie
// carrying it with a secret that does not open the session must have no
// effect on it, neither through logout nor through a new login (review
// finding F2).
func TestSessionPublicIDCannotEndIt(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	g.AddUser(t, "alice", alicePW, "sales")
	g.AddUser(t, "mallory", "mallory's own password", "sales")
	alice := gatewaytest.NewBrowser(g.URL)
	alice.Login(t, "alice", alicePW)
	alice.Get(t, "/")
	sid := g.Upstream.Last(t).Header.Get("X-Gatehouse-Session")
	forged := session.Ticket{ID: sid, Secret: session.NewTicket().Secret}.Encode()

	mallory := gatewaytest.NewBrowser(g.URL)
	mallory.SetCookie("gatehouse", forged)
	mallory.Do(t, "POST", "/.gatehouse/logout", url.Values{})
	mallory.SetCookie("gatehouse", forged)
	mallory.Login(t, "mallory", "mallory's own password")
	// Past the local cache, so the store itself is asked.
	g.Clock.Advance(time.Second)
	if resp, body := alice.Get(t, "/"); resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("alice after a forged logout and login with her session id: %d %q", resp.StatusCode, body)
	}
	if _, err := g.Sessions.Load(context.Background(), alice.Cookie("gatehouse").Value, g.SessionLimits()); err != nil {
		t.Fatalf("alice's session: %v", err)
	}
}

// TestNetworkRulesCoverGatewayPages: a session outside its user's
// allowlist is refused on the gateway's own pages too, not only upstream:
// it must not reach the account page or see a TOTP secret (review
// finding F9).
func TestNetworkRulesCoverGatewayPages(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{})
	u := g.AddUser(t, "alice", alicePW, "sales")
	b := gatewaytest.NewBrowser(g.URL)
	b.Login(t, "alice", alicePW)
	u.AllowList = directory.AllowList{{CIDR: "10.0.0.0/8"}}
	if err := g.Dir.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	g.Refresh(t)
	for _, path := range []string{"/", "/.gatehouse/account", "/.gatehouse/2fa/enroll", "/.gatehouse/2fa"} {
		resp, body := b.Get(t, path)
		if resp.StatusCode != http.StatusForbidden || strings.Contains(body, `id="secret"`) {
			t.Errorf("GET %s from outside the allowlist: %d, want 403", path, resp.StatusCode)
		}
	}
	resp, _ := b.Do(t, "POST", "/.gatehouse/2fa/enroll", url.Values{"code": {"123456"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST enrol from outside the allowlist: %d, want 403", resp.StatusCode)
	}
	// Logging out always works.
	if resp, _ := b.Do(t, "POST", "/.gatehouse/logout", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
}

// TestMandatory2FAAppliesToExistingSessions: turning on mandatory 2FA
// ends sessions that never passed a second factor at their next request,
// and the next login enrols (review finding F16).
func TestMandatory2FAAppliesToExistingSessions(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{Policy: "mfa: {mode: optional, required_roles: []}"})
	g.AddUser(t, "alice", alicePW, "sales")
	g.AddUser(t, "bob", alicePW, "sales")
	alice := gatewaytest.NewBrowser(g.URL)
	alice.Login(t, "alice", alicePW)
	bob := gatewaytest.NewBrowser(g.URL)
	bob.Login(t, "bob", alicePW)
	g.Enrol(t, bob) // bob enrols by choice: his next login uses the factor
	bob.Do(t, "POST", "/.gatehouse/logout", url.Values{})
	resp := bob.Login(t, "bob", alicePW)
	if !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/2fa") {
		t.Fatalf("bob's login: %q, want the 2FA prompt", resp.Header.Get("Location"))
	}
	if resp, _ := alice.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("before the policy change: %d", resp.StatusCode)
	}
	g.SetPolicy(t, "mfa: {mode: required}")
	resp, _ = alice.Get(t, "/")
	gatewaytest.WantLoginRedirect(t, resp, "mfa_required")
	resp = alice.Login(t, "alice", alicePW)
	if !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/2fa/enroll") {
		t.Fatalf("next login: %q, want enrolment", resp.Header.Get("Location"))
	}
}
