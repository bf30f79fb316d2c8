package main

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/email/emailtest"
	"github.com/gatehouse-auth/gatehouse/auth/mfa/passkeytest"
)

// A password reset asks for the second factor the user has, not only an
// app's code: a texted code, a passkey, and for a user whose codes are
// emailed (the mailbox the link went to, so no second proof) a recovery
// code, which the page says.

var recoveryCodeRe = regexp.MustCompile(`<li><code>([a-z2-7-]+)</code></li>`)

// resetFactorReplica runs a gateway at http://localhost:PORT (passkeys
// need a host name) with "Forgot password?" on, a real SMTP server, the
// given mfa policy and extra config.
func resetFactorReplica(t *testing.T, clk *clock, mfa, extra string) (*replica, *emailtest.Server, *upstream) {
	t.Helper()
	mail := emailtest.Start(t, emailtest.Options{})
	ln := listenLocal(t)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	up := startUpstream(t)
	r := startReplicaOn(t, ln, sqliteConfig(t, up, "public_url: "+base+"\n"+mail.Config("CRM sign-in <no-reply@corp.example>")+extra+
		"branding: {product_name: Acme CRM}\npolicy: {methods: {password: true, password_reset: true}, mfa: "+mfa+"}\n"), clk)
	r.URL = base
	r.addUser(t, "alice", alicePW, "sales")
	return r, mail, up
}

// askReset asks for alice's link and returns its path (the n-th email).
func askReset(t *testing.T, r *replica, mail *emailtest.Server, n int) string {
	t.Helper()
	newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/password/forgot", url.Values{"identifier": {"alice"}})
	return linkIn(t, mail, n, r.URL)
}

// wantNewPassword checks that alice logs in with pw.
func wantNewPassword(t *testing.T, r *replica, pw string) {
	t.Helper()
	b := newBrowser(t, r.URL)
	resp, _ := b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {pw}, "rd": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logging in with the new password: %d", resp.StatusCode)
	}
}

const resetPW = "a brand new passphrase"

// TestPasswordResetWithTextedCode: an SMS-only user's reset page offers
// "Text me a code", worded as a reset's; the texted code sets the
// password, a wrong one does not, and a login's 2FA step refuses it; the
// page names the field for what it takes.
func TestPasswordResetWithTextedCode(t *testing.T) {
	clk := newClock()
	svc, secret := startSMSService(t)
	r, mail, _ := resetFactorReplica(t, clk, "{mode: required, methods: [sms]}",
		"sms: {webhook: {url: "+svc.URL+"/send, secret_file: "+secret+"}}\n")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	const phone = "+919812345678"
	b.Do(t, "POST", "/.gatehouse/2fa/enroll/sms", url.Values{"rd": {"/"}, "phone": {phone}})
	if resp, body := b.Do(t, "POST", "/.gatehouse/2fa/enroll/code", url.Values{"rd": {"/"}, "code": {svc.code(t, 1, phone)}}); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="codes"`) {
		t.Fatalf("enrolling SMS: %d\n%s", resp.StatusCode, body)
	}

	link := askReset(t, r, mail, 1)
	token := tokenOf(t, link)
	c := newBrowser(t, r.URL)
	_, body := c.Get(t, link)
	if !strings.Contains(body, `id="send-sms"`) || !strings.Contains(body, "Code from the text message") || strings.Contains(body, "authenticator app") {
		t.Fatalf("an SMS user's reset page:\n%s", body)
	}
	resp, body := c.Do(t, "POST", "/.gatehouse/password/reset/sms", url.Values{"token": {token}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "We sent a code to &#43;••••••••••78") {
		t.Fatalf("Text me a code: %d\n%s", resp.StatusCode, body)
	}
	code := svc.resetCode(t, 2, phone)
	// The reset's code is no login's: the 2FA step refuses it.
	l := newBrowser(t, r.URL)
	loginTo(t, l, "alice", "/.gatehouse/2fa")
	if resp, _ := l.Do(t, "POST", "/.gatehouse/2fa", url.Values{"rd": {"/"}, "code": {code}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the reset's texted code at a login: %d, want 401", resp.StatusCode)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if resp, _ := postReset(t, c, token, resetPW, resetPW, wrong); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong code: %d, want 401", resp.StatusCode)
	}
	if resp, body := postReset(t, c, token, resetPW, resetPW, code); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Password changed") {
		t.Fatalf("the texted code: %d\n%s", resp.StatusCode, body)
	}
	wantNewPassword(t, r, resetPW)
	// A forged or spent link texts nobody.
	if resp, _ := c.Do(t, "POST", "/.gatehouse/password/reset/sms", url.Values{"token": {token}}); resp.StatusCode != http.StatusBadRequest || svc.count() != 2 {
		t.Fatalf("Text me a code on a spent link: %d, %d texts", resp.StatusCode, svc.count())
	}
	wantAudit(t, r, "mfa_code_sent", "")
}

// TestPasswordResetWithPasskey: a passkey-only user confirms the reset
// with the passkey (asked for on the reset page, answered in the same
// form as the password); an answer made on another origin is refused and
// the link stays usable; without the passkey the field takes a recovery
// code only.
func TestPasswordResetWithPasskey(t *testing.T) {
	clk := newClock()
	r, mail, _ := resetFactorReplica(t, clk, "{mode: required, methods: [totp, webauthn]}", "")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	k, resp, body := enrolPasskey(t, b, r.URL, false)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="codes"`) {
		t.Fatalf("registering: %d\n%s", resp.StatusCode, body)
	}

	link := askReset(t, r, mail, 1)
	token := tokenOf(t, link)
	c := newBrowser(t, r.URL)
	answer := func(origin string) string {
		t.Helper()
		_, body := c.Get(t, link)
		if !strings.Contains(body, `data-passkey="get"`) || !strings.Contains(body, ">Recovery code<") {
			t.Fatalf("a passkey user's reset page:\n%s", body)
		}
		a, err := k.Get(optionsIn(t, body), passkeytest.Ceremony{Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		return string(a)
	}
	post := func(credential string) (*http.Response, string) {
		return c.Do(t, "POST", "/.gatehouse/password/reset", url.Values{"token": {token}, "new_password": {resetPW}, "confirm_password": {resetPW}, "credential": {credential}})
	}
	if resp, body := post(answer("http://evil.test")); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "passkey could not be verified") {
		t.Fatalf("an answer made on another origin: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := postReset(t, c, token, resetPW, resetPW, "123456"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a made-up code instead of the passkey: %d, want 401", resp.StatusCode)
	}
	if resp, body := post(answer(r.URL)); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Password changed") {
		t.Fatalf("the passkey: %d\n%s", resp.StatusCode, body)
	}
	wantNewPassword(t, r, resetPW)
	wantAudit(t, r, "mfa_failure", "")
}

// TestPasswordResetEmailCodesNeedARecoveryCode: codes by email go to the
// mailbox the link went to, so an email-only user's reset asks for a
// recovery code and says why, and refuses an emailed code (one a login
// asked for); a recovery code sets the password.
func TestPasswordResetEmailCodesNeedARecoveryCode(t *testing.T) {
	clk := newClock()
	r, mail, _ := resetFactorReplica(t, clk, "{mode: required, methods: [email]}", "")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	page := enrolByEmail(t, b, mail, 1, "alice@corp.example")
	codes := recoveryCodeRe.FindAllStringSubmatch(page, -1)
	if len(codes) == 0 {
		t.Fatalf("no recovery codes:\n%s", page)
	}
	// A login's emailed code, still unused: whoever holds the mailbox
	// holds it too, so it is no second proof for the reset.
	l := newBrowser(t, r.URL)
	loginTo(t, l, "alice", "/.gatehouse/2fa")
	if resp, _ := l.Do(t, "POST", "/.gatehouse/2fa/email", url.Values{"rd": {"/"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("Email me a code: %d", resp.StatusCode)
	}
	emailed := codeIn(t, mail, 2, "alice@corp.example")
	link := askReset(t, r, mail, 3)
	c := newBrowser(t, r.URL)
	if resp, body := postReset(t, c, tokenOf(t, link), resetPW, resetPW, emailed); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an emailed code on the reset page: %d, want 401\n%s", resp.StatusCode, body)
	}
	_, body := c.Get(t, link)
	if !strings.Contains(body, `id="reset-help"`) || !strings.Contains(body, "enter one of your recovery codes") || !strings.Contains(body, ">Recovery code<") ||
		strings.Contains(body, "send-email") {
		t.Fatalf("an email-only user's reset page:\n%s", body)
	}
	if resp, body := postReset(t, c, tokenOf(t, link), resetPW, resetPW, codes[0][1]); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Password changed") {
		t.Fatalf("a recovery code: %d\n%s", resp.StatusCode, body)
	}
	wantNewPassword(t, r, resetPW)
}

// TestBrowserPasswordResetWithPasskey: in Chromium, a passkey-only
// user's reset is confirmed with the passkey (Chromium's virtual
// authenticator holding the one the test registered): passkey.js asks
// for it and posts its answer with the new password; the new password
// and the passkey then sign in (reset.mjs).
func TestBrowserPasswordResetWithPasskey(t *testing.T) {
	e := newE2E(t)
	_, port, _ := net.SplitHostPort(e.addr)
	e.base = "http://localhost:" + port
	mail := emailtest.Start(t, emailtest.Options{})
	pw := e.start(mail.Config("CRM sign-in <no-reply@corp.example>") +
		"policy: {methods: {password: true, password_reset: true}, mfa: {mode: required, methods: [totp, webauthn]}}\n")
	b := newBrowser(t, e.base)
	b.Login(t, e2eUser, pw)
	k, resp, body := enrolPasskey(t, b, e.base, false)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="codes"`) {
		t.Fatalf("registering: %d\n%s", resp.StatusCode, body)
	}
	newBrowser(t, e.base).Do(t, "POST", "/.gatehouse/password/forgot", url.Values{"identifier": {e2eUser}})
	link := resetLink.FindString(mail.Wait(t, 1).Body())
	if !strings.HasPrefix(link, e.base+"/.gatehouse/password/reset?token=") {
		t.Fatalf("no reset link in the email:\n%s", mail.Messages()[0].Body())
	}
	priv, err := k.PKCS8()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	passkey, _ := json.Marshal(map[string]any{"id": b64(k.ID), "key": b64(priv), "user": b64(k.User), "count": k.Count})
	e.node("reset.mjs", "complete", e.base, link, e2eUser, "a passphrase chosen in the browser", string(passkey))
}

// resetCode waits for the n-th text, which must go to to and be worded as
// a password reset's, and returns its code.
func (s *smsService) resetCode(t *testing.T, n int, to string) string {
	t.Helper()
	text := s.text(t, n, to)
	m := regexp.MustCompile(`^Acme CRM code to reset your password: (\d{6}) `).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("text %d is not a reset's: %q", n, text)
	}
	return m[1]
}
