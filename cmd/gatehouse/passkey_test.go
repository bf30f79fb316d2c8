package main

import (
	"html"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/mfa/passkeytest"
	"github.com/gatehouse-auth/gatehouse/auth/token/client"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
	"github.com/gatehouse-auth/gatehouse/proxy/login"
)

// passkeyReplica runs a replica at http://localhost:PORT (WebAuthn
// refuses IP addresses as the relying party id) whose policy makes
// everyone use a second factor, allows passkeys, and allows signing in
// with a passkey alone. It returns the public base URL.
func passkeyReplica(t *testing.T, clk *clock, extra ...string) (*replica, *upstream, string) {
	t.Helper()
	ln := listenLocal(t)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	up := startUpstream(t)
	r := startReplicaOn(t, ln, sqliteConfig(t, up, "public_url: "+base+"\n"+strings.Join(extra, "")+
		"policy: {methods: {password: true, passkey: true}, mfa: {mode: required, methods: [totp, webauthn]}}\n"), clk)
	r.URL = base
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "sales")
	return r, up, base
}

var passkeyOptions = regexp.MustCompile(`data-options="([^"]+)"`)

// optionsIn is the WebAuthn options a page carries for its passkey button.
func optionsIn(t *testing.T, body string) []byte {
	t.Helper()
	m := passkeyOptions.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the page carries no passkey options:\n%s", body)
	}
	return []byte(html.UnescapeString(m[1]))
}

// enrolPasskey registers a passkey for a browser at the enrolment page
// (add: the account page's "add a factor") and returns the key and the
// response.
func enrolPasskey(t *testing.T, b *browser, base string, add bool) (*passkeytest.Key, *http.Response, string) {
	t.Helper()
	path, form := "/.gatehouse/2fa/enroll?rd=%2F", url.Values{"rd": {"/"}, "name": {"Work laptop"}}
	if add {
		path += "&add=1"
		form.Set("add", "1")
	}
	_, body := b.Get(t, path)
	if !strings.Contains(body, `id="enroll-passkey"`) {
		t.Fatalf("the enrolment page offers no passkey:\n%s", body)
	}
	k, answer, err := passkeytest.Create(optionsIn(t, body), passkeytest.Ceremony{Origin: base})
	if err != nil {
		t.Fatal(err)
	}
	form.Set("credential", string(answer))
	resp, body := b.Do(t, "POST", "/.gatehouse/2fa/enroll/passkey", form)
	return k, resp, body
}

// passkeyStep answers the 2FA page's passkey request by k, made at
// origin.
func passkeyStep(t *testing.T, b *browser, k *passkeytest.Key, origin string) (*http.Response, string) {
	t.Helper()
	_, body := b.Get(t, "/.gatehouse/2fa?rd=%2F")
	answer, err := k.Get(optionsIn(t, body), passkeytest.Ceremony{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	return b.Do(t, "POST", "/.gatehouse/2fa/passkey", url.Values{"rd": {"/"}, "credential": {string(answer)}})
}

// TestPasskeyLogin: through the real server, a user who must enrol
// registers a passkey (recovery codes shown), passes the next login's
// 2FA step with it, and signs in with it alone from a new browser; the
// upstream sees password+webauthn, then webauthn.
func TestPasskeyLogin(t *testing.T) {
	clk := newClock()
	r, up, base := passkeyReplica(t, clk)
	b := newBrowser(t, base)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	k, resp, body := enrolPasskey(t, b, base, false)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="codes"`) {
		t.Fatalf("registering: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK || up.Last(t).Header.Get("X-Gatehouse-Auth-Method") != "password+webauthn" {
		t.Fatalf("after registering: %d, method %q", resp.StatusCode, up.Last(t).Header.Get("X-Gatehouse-Auth-Method"))
	}
	wantAudit(t, r, "mfa_enrolled", "")
	if _, body := b.Get(t, "/.gatehouse/account"); !strings.Contains(body, `id="passkeys"`) || !strings.Contains(body, "Work laptop") {
		t.Errorf("the account page does not list the passkey:\n%s", body)
	}

	b.Do(t, "POST", "/.gatehouse/logout", nil)
	loginTo(t, b, "alice", "/.gatehouse/2fa")
	if resp, body := passkeyStep(t, b, k, base); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the 2FA step with the passkey: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK || up.Last(t).Header.Get("X-Gatehouse-Auth-Method") != "password+webauthn" {
		t.Fatalf("after the 2FA step: %d, method %q", resp.StatusCode, up.Last(t).Header.Get("X-Gatehouse-Auth-Method"))
	}

	fresh := newBrowser(t, base)
	_, body = fresh.Get(t, "/.gatehouse/login")
	if !strings.Contains(body, `id="passkey-login"`) {
		t.Fatalf("the login page offers no passkey sign-in:\n%s", body)
	}
	resp, body = fresh.Do(t, "POST", "/.gatehouse/login/passkey", url.Values{"rd": {"/"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("starting a passkey sign-in: %d\n%s", resp.StatusCode, body)
	}
	answer, err := k.Get(optionsIn(t, body), passkeytest.Ceremony{Origin: base})
	if err != nil {
		t.Fatal(err)
	}
	resp, body = fresh.Do(t, "POST", "/.gatehouse/login/passkey/finish", url.Values{"rd": {"/"}, "credential": {string(answer)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("finishing a passkey sign-in: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if resp, _ := fresh.Get(t, "/"); resp.StatusCode != http.StatusOK || up.Last(t).Header.Get("X-Gatehouse-Auth-Method") != "webauthn" {
		t.Fatalf("after the passkey sign-in: %d, method %q", resp.StatusCode, up.Last(t).Header.Get("X-Gatehouse-Auth-Method"))
	}
}

// TestPasskeyAttacks, through the real server: an assertion signed on
// another origin (a phishing copy of the page) or for another relying
// party id is refused at the 2FA step and audited; a passwordless answer
// posted from a browser that did not start the sign-in (login CSRF) is
// refused; a passkey answering another user's 2FA step is refused; a
// policy without passwordless passkeys has no passkey sign-in.
func TestPasskeyAttacks(t *testing.T) {
	clk := newClock()
	r, _, base := passkeyReplica(t, clk)
	b := newBrowser(t, base)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	k, resp, _ := enrolPasskey(t, b, base, false)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registering: %d", resp.StatusCode)
	}
	b.Do(t, "POST", "/.gatehouse/logout", nil)
	loginTo(t, b, "alice", "/.gatehouse/2fa")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	for _, origin := range []string{"http://localhost.evil.test:" + port, "https://localhost:" + port, "http://127.0.0.1:" + port} {
		resp, body := passkeyStep(t, b, k, origin)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "That passkey could not be verified") {
			t.Fatalf("an assertion made on %s: %d\n%s", origin, resp.StatusCode, body)
		}
	}
	wantAudit(t, r, "mfa_failure", "")
	_, body := b.Get(t, "/.gatehouse/2fa?rd=%2F")
	answer, _ := k.Get(optionsIn(t, body), passkeytest.Ceremony{Origin: base, RPID: "evil.test"})
	if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa/passkey", url.Values{"rd": {"/"}, "credential": {string(answer)}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an assertion for another relying party: %d", resp.StatusCode)
	}
	// Alice's passkey for bob's 2FA step (bob enrols one of his own).
	bob := newBrowser(t, base)
	loginTo(t, bob, "bob", "/.gatehouse/2fa/enroll")
	if _, resp, _ := enrolPasskey(t, bob, base, false); resp.StatusCode != http.StatusOK {
		t.Fatalf("bob registering: %d", resp.StatusCode)
	}
	bob.Do(t, "POST", "/.gatehouse/logout", nil)
	loginTo(t, bob, "bob", "/.gatehouse/2fa")
	if resp, _ := passkeyStep(t, bob, k, base); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("alice's passkey at bob's 2FA step: %d", resp.StatusCode)
	}
	// Alice's own passkey still works at her step.
	if resp, _ := passkeyStep(t, b, k, base); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the real passkey after the refusals: %d", resp.StatusCode)
	}

	// Login CSRF: the victim's browser posts an answer to a sign-in the
	// attacker started (with the attacker's passkey).
	attacker := newBrowser(t, base)
	_, body = attacker.Do(t, "POST", "/.gatehouse/login/passkey", url.Values{"rd": {"/"}})
	answer, _ = k.Get(optionsIn(t, body), passkeytest.Ceremony{Origin: base})
	victim := newBrowser(t, base)
	resp, body = victim.Do(t, "POST", "/.gatehouse/login/passkey/finish", url.Values{"rd": {"/"}, "credential": {string(answer)}})
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), ";"), "gatehouse=v1.") {
		t.Fatalf("an answer from a browser that did not start the sign-in: %d\n%s", resp.StatusCode, body)
	}
	// Garbage is refused the same way and loses nothing: the browser's
	// real answer to the same challenge still signs in.
	_, body = attacker.Do(t, "POST", "/.gatehouse/login/passkey", url.Values{"rd": {"/"}})
	if resp, _ := attacker.Do(t, "POST", "/.gatehouse/login/passkey/finish", url.Values{"rd": {"/"}, "credential": {`{"id":`}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a malformed answer: %d", resp.StatusCode)
	}
	answer, _ = k.Get(optionsIn(t, body), passkeytest.Ceremony{Origin: base})
	if resp, _ := attacker.Do(t, "POST", "/.gatehouse/login/passkey/finish", url.Values{"rd": {"/"}, "credential": {string(answer)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the answer after a malformed one: %d", resp.StatusCode)
	}
}

// TestMobileLoginWithPasskey: the app's login in the system browser
// offers the passkey too: signing in with it alone returns to the
// authorize endpoint, and the app gets its tokens.
func TestMobileLoginWithPasskey(t *testing.T) {
	clk := newClock()
	r, _, base := passkeyReplica(t, clk, mobileConfig)
	web := newBrowser(t, base)
	loginTo(t, web, "alice", "/.gatehouse/2fa/enroll")
	k, resp, _ := enrolPasskey(t, web, base, false)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registering: %d", resp.StatusCode)
	}

	app := mobileApp(t, r, clk)
	p := client.NewPKCE()
	b := newBrowser(t, base)
	authorize := authorizeBack(t, b, strings.TrimPrefix(app.AuthorizeURL(p, true), base))
	_, body := b.Do(t, "POST", "/.gatehouse/login/passkey", url.Values{"rd": {authorize}})
	answer, err := k.Get(optionsIn(t, body), passkeytest.Ceremony{Origin: base})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = b.Do(t, "POST", "/.gatehouse/login/passkey/finish", url.Values{"rd": {authorize}, "credential": {string(answer)}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != authorize {
		t.Fatalf("the passkey: %d to %q, want back to the authorize endpoint", resp.StatusCode, loc)
	}
	appLoginDone(t, app, b, authorize, base, p)
}

// TestPasswordlessOff: passkeys as a second factor without
// methods.passkey: no passkey sign-in on the login page, and its routes
// answer 404.
func TestPasswordlessOff(t *testing.T) {
	ln := listenLocal(t)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	up := startUpstream(t)
	startReplicaOn(t, ln, sqliteConfig(t, up, "public_url: "+base+"\npolicy: {mfa: {mode: optional, methods: [totp, webauthn]}}\n"), newClock())
	b := newBrowser(t, base)
	if _, body := b.Get(t, "/.gatehouse/login"); strings.Contains(body, `id="passkey-login"`) {
		t.Errorf("the login page offers a passkey sign-in the policy does not allow")
	}
	for _, path := range []string{"/.gatehouse/login/passkey", "/.gatehouse/login/passkey/finish"} {
		if resp, _ := b.Do(t, "POST", path, url.Values{"rd": {"/"}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestPasskeyAccount: a second passkey is added from a fresh sign-in
// (add=1, no new recovery codes); another user's passkey cannot be
// removed by its id; one's own is; the last
// cannot be removed where 2FA is required; removing needs a sign-in
// within login.AddFactorWithin.
func TestPasskeyAccount(t *testing.T) {
	clk := newClock()
	r, _, base := passkeyReplica(t, clk)
	b := newBrowser(t, base)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	if _, resp, _ := enrolPasskey(t, b, base, false); resp.StatusCode != http.StatusOK {
		t.Fatalf("registering: %d", resp.StatusCode)
	}
	b.Do(t, "POST", "/.gatehouse/codes/saved", url.Values{"saved": {"on"}})
	_, resp, body := enrolPasskey(t, b, base, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.gatehouse/account" {
		t.Fatalf("adding a passkey: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	_, body = b.Get(t, "/.gatehouse/account")
	ids := regexp.MustCompile(`id="passkey-([0-9a-f]+)"`).FindAllStringSubmatch(body, -1)
	if len(ids) != 2 {
		t.Fatalf("%d passkeys listed, want 2:\n%s", len(ids), body)
	}
	// Bob's passkey, by its id, from alice's account page: not hers.
	bob := newBrowser(t, base)
	loginTo(t, bob, "bob", "/.gatehouse/2fa/enroll")
	if _, resp, _ := enrolPasskey(t, bob, base, false); resp.StatusCode != http.StatusOK {
		t.Fatalf("bob registering: %d", resp.StatusCode)
	}
	bob.Do(t, "POST", "/.gatehouse/codes/saved", url.Values{"saved": {"on"}})
	_, body = bob.Get(t, "/.gatehouse/account")
	bobIDs := regexp.MustCompile(`id="passkey-([0-9a-f]+)"`).FindStringSubmatch(body)
	if bobIDs == nil {
		t.Fatalf("bob's account lists no passkey:\n%s", body)
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/account/2fa/passkeys/"+bobIDs[1]+"/remove", url.Values{}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("alice removing bob's passkey: %d, want 404", resp.StatusCode)
	}
	if _, body := bob.Get(t, "/.gatehouse/account"); !strings.Contains(body, bobIDs[0]) {
		t.Fatal("bob's passkey is gone after alice's request")
	}

	resp, body = b.Do(t, "POST", "/.gatehouse/account/2fa/passkeys/"+ids[0][1]+"/remove", url.Values{})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "The passkey is removed") {
		t.Fatalf("removing one of two: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.Do(t, "POST", "/.gatehouse/account/2fa/passkeys/"+ids[1][1]+"/remove", url.Values{})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("removing the last factor where 2FA is required: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/account/2fa/passkeys/"+ids[0][1]+"/remove", url.Values{}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("removing a removed passkey: %d", resp.StatusCode)
	}
	clk.Advance(login.AddFactorWithin + time.Minute)
	r.refresh(t) // the policy, read again on the test's clock
	if resp, _ := b.Do(t, "POST", "/.gatehouse/account/2fa/passkeys/"+ids[1][1]+"/remove", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("removing from a stale sign-in: %d", resp.StatusCode)
	}
	wantAudit(t, r, "mfa_removed", "")
}

// TestBrowserPasskeys: in Chromium with its virtual authenticator,
// against the real binary at localhost, a user registers a passkey,
// passes the 2FA step with it, signs in with it alone, sees it on the
// account page, and without it is not signed in (passkey.mjs).
func TestBrowserPasskeys(t *testing.T) {
	e := newE2E(t)
	_, port, _ := net.SplitHostPort(e.addr)
	e.base = "http://localhost:" + port
	pw := e.start("policy: {methods: {password: true, passkey: true}, mfa: {mode: required, methods: [totp, webauthn]}}\n")
	e.node("passkey.mjs", e.base, e2eUser, pw)
}

// TestPendingPasswordCannotEnrol: a login with an administrator-set
// password owes a new one before anything, enrolling a factor included:
// whoever learned the temporary password must not register a passkey of
// their own (which would outlive the password's change).
func TestPendingPasswordCannotEnrol(t *testing.T) {
	ln := listenLocal(t)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	up := startUpstream(t)
	r := startReplicaOn(t, ln, sqliteConfig(t, up, "public_url: "+base+"\npolicy: {mfa: {mode: optional, methods: [totp, webauthn]}}\n"), newClock())
	u := r.addUser(t, "alice", alicePW, "sales")
	u.MustChangePassword = true
	if err := r.a.dir.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, base)
	loginTo(t, b, "alice", "/")
	if resp, body := b.Get(t, "/.gatehouse/2fa/enroll?rd=%2F"); resp.StatusCode != http.StatusSeeOther || strings.Contains(body, "enroll-passkey") {
		t.Fatalf("the enrolment page while a new password is owed: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa/enroll/passkey", url.Values{"rd": {"/"}, "credential": {"{}"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("posting a passkey while a new password is owed: %d", resp.StatusCode)
	}
}

// TestUnreadablePasskeyLeavesTheOtherFactors: a passkey record the
// gateway cannot read (damaged in the database) takes only the passkey
// off the 2FA page, which used to answer 503 for the whole step: the
// user's authenticator app still signs them in.
func TestUnreadablePasskeyLeavesTheOtherFactors(t *testing.T) {
	clk := newClock()
	r, up, base := passkeyReplica(t, clk)
	b := newBrowser(t, base)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	app, _ := gatewaytest.Enrol(t, b, clk)
	if _, resp, body := enrolPasskey(t, b, base, true); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("adding a passkey: %d\n%s", resp.StatusCode, body)
	}
	alice, err := r.a.dir.UserByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := r.a.dir.Passkeys(t.Context(), alice.ID)
	if err != nil || len(ps) != 1 {
		t.Fatalf("alice's passkeys: %v, %v", ps, err)
	}
	if err := r.a.dir.UsePasskey(t.Context(), ps[0].ID, ps[0].SignCount+1, []byte("damaged"), clk.Now()); err != nil {
		t.Fatal(err)
	}
	nextStep(t, r, clk)
	c := newBrowser(t, base)
	loginTo(t, c, "alice", "/.gatehouse/2fa")
	resp, body := c.Get(t, "/.gatehouse/2fa?rd=%2F")
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "data-options=") || !strings.Contains(body, "passkey cannot be asked for right now") {
		t.Fatalf("the 2FA page with a damaged passkey: %d, want 200 without a passkey, saying so\n%s", resp.StatusCode, body)
	}
	if resp, _ := c.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {app.Code(0)}, "rd": {"/"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the app's code beside a damaged passkey: %d", resp.StatusCode)
	}
	if resp, _ := c.Get(t, "/"); resp.StatusCode != http.StatusOK || up.Last(t).Header.Get("X-Gatehouse-Auth-Method") != "password+totp" {
		t.Fatalf("after the 2FA step: %d", resp.StatusCode)
	}
}
