package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/email/emailtest"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

var resetLink = regexp.MustCompile(`https?://\S+/\.gatehouse/password/reset\?token=\S+`)

// resetReplica runs a gateway with "Forgot password?" on, sending through
// a real SMTP server (STARTTLS, a login) that keeps what it receives.
func resetReplica(t *testing.T, clk *clock, mfa string) (*replica, *emailtest.Server) {
	t.Helper()
	mail := emailtest.Start(t, emailtest.Options{})
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, mail.Config("CRM sign-in <no-reply@corp.example>")+
		"branding: {product_name: Acme CRM}\npolicy: {methods: {password: true, password_reset: true}, mfa: "+mfa+"}\n"), clk)
	r.addUser(t, "alice", alicePW, "sales")
	return r, mail
}

// linkIn is the reset link of the n-th email, as a path on the gateway.
func linkIn(t *testing.T, mail *emailtest.Server, n int, base string) string {
	t.Helper()
	m := mail.Wait(t, n)
	link := resetLink.FindString(m.Body())
	if link == "" || !strings.HasPrefix(link, base+"/") {
		t.Fatalf("email %d has no reset link on %s:\n%s", n, base, m.Body())
	}
	return strings.TrimPrefix(link, base)
}

// postReset posts the reset form (code only when not empty) with the
// extra request headers hdr.
func postReset(t *testing.T, b *browser, token, pw, confirm, code string, hdr ...string) (*http.Response, string) {
	t.Helper()
	form := url.Values{"token": {token}, "new_password": {pw}, "confirm_password": {confirm}}
	if code != "" {
		form.Set("code", code)
	}
	return b.Do(t, "POST", "/.gatehouse/password/reset", form, hdr...)
}

func tokenOf(t *testing.T, path string) string {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// TestPasswordResetByEmail: the login page offers the reset; asking for a
// link answers the same page for a known and an unknown account and
// emails only the known one; the link sets a new password, which ends
// every session of the user; the old password and the link stop working,
// and so does a second link asked for before.
func TestPasswordResetByEmail(t *testing.T) {
	clk := newClock()
	r, mail := resetReplica(t, clk, "{mode: optional}")
	if _, body := newBrowser(t, r.URL).Get(t, "/.gatehouse/login"); !strings.Contains(body, `id="forgot"`) {
		t.Fatal("no Forgot password? link on the login page")
	}
	before := newBrowser(t, r.URL)
	loginTo(t, before, "alice", "/")

	ask := func(id string) string {
		t.Helper()
		resp, body := newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/password/forgot", url.Values{"identifier": {id}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("asking for %q: %d\n%s", id, resp.StatusCode, body)
		}
		return body
	}
	known, unknown := ask("alice"), ask("mallory")
	if known != unknown || !strings.Contains(known, `id="notice"`) {
		t.Fatalf("the answers differ for a known and an unknown account:\n%s\n---\n%s", known, unknown)
	}
	first := linkIn(t, mail, 1, r.URL)
	ask("alice@corp.example") // by address: a second link
	second := linkIn(t, mail, 2, r.URL)
	if n := len(mail.Messages()); n != 2 {
		t.Fatalf("%d emails, want 2 (none for the unknown account)", n)
	}
	if m := mail.Messages()[0]; m.To[0] != "alice@corp.example" || m.Header("Subject") != "Reset your Acme CRM password" {
		t.Fatalf("email to %v, subject %q", m.To, m.Header("Subject"))
	}

	b := newBrowser(t, r.URL)
	resp, body := b.Get(t, first)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="token"`) || strings.Contains(body, `id="code"`) {
		t.Fatalf("the link: %d\n%s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the reset page may be cached: %q", resp.Header.Get("Cache-Control"))
	}
	token := tokenOf(t, first)
	const newPW = "a brand new passphrase"
	for _, c := range []struct{ pw, confirm, want string }{
		{newPW, newPW + "x", "not the same"},
		{"short", "short", "at least 8 characters"},
	} {
		if resp, body := postReset(t, b, token, c.pw, c.confirm, ""); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Fatalf("reset to %q/%q: %d, want 400 saying %q\n%s", c.pw, c.confirm, resp.StatusCode, c.want, body)
		}
	}
	if resp, body := postReset(t, b, token, newPW, newPW, "", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site post: %d, want 403\n%s", resp.StatusCode, body)
	}
	if resp, body := postReset(t, b, token, newPW, newPW, ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Your password was changed") {
		t.Fatalf("the reset: %d\n%s", resp.StatusCode, body)
	}
	r.refresh(t) // the replica applies the revocation at its next poll
	if resp, _ := before.Get(t, "/"); resp.StatusCode != http.StatusFound {
		t.Fatalf("a session from before the reset: %d, want ended", resp.StatusCode)
	}
	loginRefused(t, r, "alice", alicePW)
	after := newBrowser(t, r.URL)
	if resp, _ := after.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {newPW}, "rd": {"/"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with the new password: %d", resp.StatusCode)
	}
	for name, link := range map[string]string{"the used link": first, "the other link": second} {
		if resp, body := newBrowser(t, r.URL).Get(t, link); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid or has expired") {
			t.Errorf("%s after the reset: %d\n%s", name, resp.StatusCode, body)
		}
		if resp, _ := postReset(t, newBrowser(t, r.URL), tokenOf(t, link), "yet another passphrase", "yet another passphrase", ""); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("posting %s: %d, want 400", name, resp.StatusCode)
		}
	}
	wantAudit(t, r, "password_reset_requested", "")
	wantAudit(t, r, "password_reset", "")
	events, err := r.a.dir.ListAudit(t.Context(), 200)
	if err != nil {
		t.Fatal(err)
	}
	revoked := false
	for _, e := range events {
		revoked = revoked || e.Event == "session_revoked" && e.Detail["reason"] == "password_reset"
	}
	if !revoked {
		t.Fatal("no session_revoked event with reason password_reset (what the CRM's webhook is told)")
	}
}

// TestPasswordResetAttacks: a forged or expired link is refused; the
// per-network limit answers 429; the reset of a user who has a second
// factor asks for it, counts wrong codes, and refuses without it; with
// the policy's password_reset off the pages do not exist.
func TestPasswordResetAttacks(t *testing.T) {
	clk := newClock()
	r, mail := resetReplica(t, clk, "{mode: required}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	app, _ := gatewaytest.Enrol(t, b, clk)

	newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/password/forgot", url.Values{"identifier": {"alice"}})
	link := linkIn(t, mail, 1, r.URL)
	token := tokenOf(t, link)
	forged := token[:len(token)-4] + "AAAA"
	if resp, _ := newBrowser(t, r.URL).Get(t, "/.gatehouse/password/reset?token="+url.QueryEscape(forged)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a forged link: %d, want 400", resp.StatusCode)
	}
	c := newBrowser(t, r.URL)
	if _, body := c.Get(t, link); !strings.Contains(body, `id="code"`) {
		t.Fatalf("the reset of a user with a second factor does not ask for it:\n%s", body)
	}
	const newPW = "a brand new passphrase"
	if resp, _ := postReset(t, c, token, newPW, newPW, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the code: %d, want 401", resp.StatusCode)
	}
	if resp, _ := postReset(t, c, token, newPW, newPW, "000000"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong code: %d, want 401", resp.StatusCode)
	}
	wantAudit(t, r, "mfa_failure", "")
	nextStep(t, r, clk)
	if resp, body := postReset(t, c, token, newPW, newPW, app.Code(0)); resp.StatusCode != http.StatusOK {
		t.Fatalf("with the code: %d\n%s", resp.StatusCode, body)
	}

	newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/password/forgot", url.Values{"identifier": {"alice"}})
	late := linkIn(t, mail, 2, r.URL)
	clk.Advance(16 * 60e9)
	r.refresh(t)
	if resp, _ := newBrowser(t, r.URL).Get(t, late); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a link 16 minutes old: %d, want 400", resp.StatusCode)
	}

	limited := newBrowser(t, r.URL)
	got := 0
	for range 12 {
		resp, _ := limited.Do(t, "POST", "/.gatehouse/password/forgot", url.Values{"identifier": {"nobody"}})
		got = resp.StatusCode
	}
	if got != http.StatusTooManyRequests {
		t.Fatalf("12 requests from one address: last answered %d, want 429", got)
	}

	up := startUpstream(t)
	off := startReplica(t, sqliteConfig(t, up, mail.Config("no-reply@corp.example")), newClock())
	if _, body := newBrowser(t, off.URL).Get(t, "/.gatehouse/login"); strings.Contains(body, `id="forgot"`) {
		t.Fatal("the login page offers a reset the policy does not")
	}
	if resp, _ := newBrowser(t, off.URL).Get(t, "/.gatehouse/password/forgot"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the reset page with password_reset off: %d, want 404", resp.StatusCode)
	}
}

// TestBrowserPasswordReset: in Chromium, the login page's "Forgot
// password?" asks for a link; the test's SMTP server receives it; the
// link opened in Chromium sets a new password that then logs in, and
// does not work a second time. The real binary, as an operator runs it.
func TestBrowserPasswordReset(t *testing.T) {
	e := newE2E(t)
	mail := emailtest.Start(t, emailtest.Options{})
	e.start(mail.Config("CRM sign-in <no-reply@corp.example>") + "policy: {methods: {password: true, password_reset: true}}\n")
	e.node("reset.mjs", "ask", e.base, e2eUser)
	link := resetLink.FindString(mail.Wait(t, 1).Body())
	if !strings.HasPrefix(link, e.base+"/.gatehouse/password/reset?token=") {
		t.Fatalf("no reset link in the email:\n%s", mail.Messages()[0].Body())
	}
	e.node("reset.mjs", "complete", e.base, link, e2eUser, "a passphrase chosen in the browser")
}

// TestPasswordResetKeepsNetworkRules: a user confined to an office
// network cannot reset from outside it — the link, opened or submitted
// from another address, is refused as a login from there would be, the
// block is audited and the password stays.
func TestPasswordResetKeepsNetworkRules(t *testing.T) {
	clk := newClock()
	r, mail := resetReplica(t, clk, "{mode: off}")
	if code, out := runCLI(t, r, "user", "allow-ips", "alice", "10.0.0.0/8"); code != 0 {
		t.Fatalf("allow-ips: %d %s", code, out)
	}
	r.refresh(t)
	before, err := r.a.dir.UserByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/password/forgot", url.Values{"identifier": {"alice"}})
	link := linkIn(t, mail, 1, r.URL)
	c := newBrowser(t, r.URL)
	if resp, _ := c.Get(t, link); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the link from outside the user's allowlist: %d, want 403", resp.StatusCode)
	}
	const newPW = "a brand new passphrase"
	if resp, _ := postReset(t, c, tokenOf(t, link), newPW, newPW, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("submitting it from outside: %d, want 403", resp.StatusCode)
	}
	wantAudit(t, r, "network_blocked", "")
	after, err := r.a.dir.UserByUsername(t.Context(), "alice")
	if err != nil || after.PasswordHash != before.PasswordHash {
		t.Fatalf("the password changed through a refused reset (%v)", err)
	}
}
