package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/email/emailtest"
	"github.com/gatehouse-auth/gatehouse/auth/token/client"
)

var emailedCode = regexp.MustCompile(`code is (\d{6})\.`)

// emailCodeReplica runs a replica whose policy makes everyone use a
// second factor and allows email codes, with a real SMTP server.
func emailCodeReplica(t *testing.T, clk *clock, methods string) (*replica, *upstream, *emailtest.Server) {
	t.Helper()
	mail := emailtest.Start(t, emailtest.Options{})
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, mail.Config("CRM sign-in <no-reply@corp.example>")+
		"branding: {product_name: Acme CRM}\npolicy: {mfa: {mode: required, methods: "+methods+"}}\n"), clk)
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "sales")
	return r, up, mail
}

// codeIn is the code in the n-th email, which must go to to.
func codeIn(t *testing.T, mail *emailtest.Server, n int, to string) string {
	t.Helper()
	m := mail.Wait(t, n)
	if len(m.To) != 1 || m.To[0] != to {
		t.Fatalf("email %d went to %v, want %s", n, m.To, to)
	}
	c := emailedCode.FindStringSubmatch(m.Body())
	if c == nil {
		t.Fatalf("email %d has no code:\n%s", n, m.Body())
	}
	return c[1]
}

// enrolByEmail takes a browser that must enrol through email enrolment
// and returns the recovery codes page.
func enrolByEmail(t *testing.T, b *browser, mail *emailtest.Server, n int, to string) string {
	t.Helper()
	resp, body := b.Do(t, "POST", "/.gatehouse/2fa/enroll/email", url.Values{"rd": {"/"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="confirm-code"`) {
		t.Fatalf("start email enrolment: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.Do(t, "POST", "/.gatehouse/2fa/enroll/code", url.Values{"rd": {"/"}, "code": {codeIn(t, mail, n, to)}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="codes"`) {
		t.Fatalf("confirm email enrolment: %d\n%s", resp.StatusCode, body)
	}
	return body
}

// TestEmailCodeLogin: with the policy allowing email codes, a user who
// must enrol picks email on the enrolment page, confirms with the code
// sent to their account's address, gets recovery codes and is in; at the
// next login the code page offers "Email me a code", and the emailed code
// completes the login (the upstream sees password+email_otp).
func TestEmailCodeLogin(t *testing.T) {
	clk := newClock()
	r, up, mail := emailCodeReplica(t, clk, "[totp, email]")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	_, body := b.Get(t, "/.gatehouse/2fa/enroll?rd=%2F")
	if !strings.Contains(body, `id="qr"`) || !strings.Contains(body, `id="enroll-email"`) || !strings.Contains(body, "a•••@corp.example") {
		t.Fatalf("the enrolment page offers an app and email:\n%s", body)
	}
	enrolByEmail(t, b, mail, 1, "alice@corp.example")
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK || up.Last(t).Header.Get("X-Gatehouse-Auth-Method") != "password+email_otp" {
		t.Fatalf("after enrolling: %d, method %q", resp.StatusCode, up.Last(t).Header.Get("X-Gatehouse-Auth-Method"))
	}
	wantAudit(t, r, "mfa_enrolled", "")
	// Enrolled: starting another email enrolment sends nothing.
	if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa/enroll/email", url.Values{"rd": {"/"}}); resp.StatusCode != http.StatusSeeOther || len(mail.Messages()) != 1 {
		t.Fatalf("an enrolled user's email enrolment: %d, %d emails", resp.StatusCode, len(mail.Messages()))
	}
	if _, body := b.Get(t, "/.gatehouse/account"); !strings.Contains(body, "Codes by email to a•••@corp.example") {
		t.Errorf("the account page does not name the factor:\n%s", body)
	}

	b.Do(t, "POST", "/.gatehouse/logout", nil)
	clk.Advance(time.Minute) // past the resend spacing of the enrolment code
	r.refresh(t)
	loginTo(t, b, "alice", "/.gatehouse/2fa")
	_, body = b.Get(t, "/.gatehouse/2fa?rd=%2F")
	if !strings.Contains(body, `id="send-email"`) || !strings.Contains(body, "code we email you") {
		t.Fatalf("the code page does not offer an email code:\n%s", body)
	}
	resp, body := b.Do(t, "POST", "/.gatehouse/2fa/email", url.Values{"rd": {"/"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "We sent a code to a•••@corp.example") {
		t.Fatalf("send: %d\n%s", resp.StatusCode, body)
	}
	code := codeIn(t, mail, 2, "alice@corp.example")
	if subj := mail.Wait(t, 2).Header("Subject"); subj != "Your Acme CRM sign-in code" {
		t.Errorf("subject %q", subj)
	}
	resp, _ = b.Do(t, "POST", "/.gatehouse/2fa", url.Values{"rd": {"/"}, "code": {code}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the emailed code: %d, want 303", resp.StatusCode)
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK || up.Last(t).Header.Get("X-Gatehouse-Auth-Method") != "password+email_otp" {
		t.Fatalf("after the code: %d, method %q", resp.StatusCode, up.Last(t).Header.Get("X-Gatehouse-Auth-Method"))
	}
	wantAudit(t, r, "mfa_code_sent", "")
}

// TestEmailCodeAttacks: an emailed code works once, for ten minutes, for
// its own user only; five wrong guesses kill it; asking again is
// throttled; a policy without email offers no email enrolment.
func TestEmailCodeAttacks(t *testing.T) {
	clk := newClock()
	r, _, mail := emailCodeReplica(t, clk, "[email]")
	sent := 0
	enrolled := func(user string) *browser {
		b := newBrowser(t, r.URL)
		loginTo(t, b, user, "/.gatehouse/2fa/enroll")
		if _, body := b.Get(t, "/.gatehouse/2fa/enroll?rd=%2F"); strings.Contains(body, `id="qr"`) {
			t.Fatal("a policy of email codes only still offers an app")
		}
		sent++
		enrolByEmail(t, b, mail, sent, user+"@corp.example")
		b.Do(t, "POST", "/.gatehouse/logout", nil)
		return b
	}
	alice, bob := enrolled("alice"), enrolled("bob")
	clk.Advance(time.Minute) // past the resend spacing of the enrolment codes
	r.refresh(t)
	ask := func(b *browser, user string) string {
		t.Helper()
		if resp, body := b.Do(t, "POST", "/.gatehouse/2fa/email", url.Values{"rd": {"/"}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("send: %d\n%s", resp.StatusCode, body)
		}
		sent++
		return codeIn(t, mail, sent, user+"@corp.example")
	}
	try := func(b *browser, code string) int {
		resp, _ := b.Do(t, "POST", "/.gatehouse/2fa", url.Values{"rd": {"/"}, "code": {code}})
		return resp.StatusCode
	}
	loginTo(t, alice, "alice", "/.gatehouse/2fa")
	loginTo(t, bob, "bob", "/.gatehouse/2fa")
	aliceCode := ask(alice, "alice")

	// Asking again at once is throttled, and nothing is sent.
	if resp, body := alice.Do(t, "POST", "/.gatehouse/2fa/email", url.Values{"rd": {"/"}}); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "moments ago") {
		t.Fatalf("a second send at once: %d", resp.StatusCode)
	}
	if n := len(mail.Messages()); n != sent {
		t.Fatalf("a throttled send sent mail: %d messages, want %d", n, sent)
	}
	// Alice's code is no good for bob, who has none waiting.
	if got := try(bob, aliceCode); got != http.StatusUnauthorized {
		t.Fatalf("alice's code in bob's login: %d, want 401", got)
	}
	// Five wrong guesses, then the right code is dead too.
	wrong := "000000"
	if aliceCode == wrong {
		wrong = "111111"
	}
	for i := range 5 {
		if got := try(alice, wrong); got != http.StatusUnauthorized {
			t.Fatalf("wrong guess %d: %d, want 401", i+1, got)
		}
	}
	if got := try(alice, aliceCode); got == http.StatusSeeOther {
		t.Fatal("the right code worked after five wrong guesses")
	}
	wantAudit(t, r, "mfa_failure", "")

	// A fresh code works once; after ten minutes a code is dead.
	clk.Advance(16 * time.Minute) // past the per-user lockout window too
	r.refresh(t)
	loginTo(t, bob, "bob", "/.gatehouse/2fa")
	bobCode := ask(bob, "bob")
	if got := try(bob, bobCode); got != http.StatusSeeOther {
		t.Fatalf("bob's code: %d, want 303", got)
	}
	bob.Do(t, "POST", "/.gatehouse/logout", nil)
	loginTo(t, bob, "bob", "/.gatehouse/2fa")
	if got := try(bob, bobCode); got != http.StatusUnauthorized {
		t.Fatalf("bob's code again: %d, want 401", got)
	}
	clk.Advance(time.Minute)
	r.refresh(t)
	late := ask(bob, "bob")
	clk.Advance(11 * time.Minute)
	r.refresh(t)
	loginTo(t, bob, "bob", "/.gatehouse/2fa")
	if got := try(bob, late); got != http.StatusUnauthorized {
		t.Fatalf("a code eleven minutes old: %d, want 401", got)
	}

	// A policy without email: no email enrolment, whatever is posted.
	up := startUpstream(t)
	off := startReplica(t, sqliteConfig(t, up, mail.Config("no-reply@corp.example")+"policy: {mfa: {mode: required}}\n"), newClock())
	off.addUser(t, "carol", alicePW, "sales")
	c := newBrowser(t, off.URL)
	loginTo(t, c, "carol", "/.gatehouse/2fa/enroll")
	if _, body := c.Get(t, "/.gatehouse/2fa/enroll?rd=%2F"); strings.Contains(body, `id="enroll-email"`) {
		t.Fatal("email enrolment offered by a policy without email")
	}
	if resp, _ := c.Do(t, "POST", "/.gatehouse/2fa/enroll/email", url.Values{"rd": {"/"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("email enrolment posted anyway: %d, want 404", resp.StatusCode)
	}
}

// TestBrowserEmailCode: in Chromium, against the real binary, a user
// enrols email codes and logs in with one; the test's SMTP server hands
// each code to the script over a loopback HTTP mailbox.
func TestBrowserEmailCode(t *testing.T) {
	e := newE2E(t)
	mail := emailtest.Start(t, emailtest.Options{})
	box := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 {
			http.Error(w, "n", http.StatusBadRequest)
			return
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if ms := mail.Messages(); len(ms) >= n {
				if c := emailedCode.FindStringSubmatch(ms[n-1].Body()); c != nil {
					io.WriteString(w, c[1])
					return
				}
				http.Error(w, "no code in the email", http.StatusInternalServerError)
				return
			}
		}
		http.Error(w, "no such email", http.StatusNotFound)
	}))
	t.Cleanup(box.Close)
	pw := e.start(mail.Config("CRM sign-in <no-reply@corp.example>") + "policy: {mfa: {mode: required, methods: [totp, email]}}\n")
	e.node("emailcode.mjs", e.base, e2eUser, pw, box.URL)
}

// TestMobileLoginWithEmailCode: the mobile app's login runs in the system
// browser through the same pages, so it offers the same factors: a user
// whose factor is email codes logs in on the app with one, and the
// device's tokens work.
func TestMobileLoginWithEmailCode(t *testing.T) {
	clk := newClock()
	mail := emailtest.Start(t, emailtest.Options{})
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, mail.Config("no-reply@corp.example")+mobileConfig+
		"policy: {mfa: {mode: required, methods: [email]}}\n"), clk)
	r.addUser(t, "alice", alicePW, "sales")
	web := newBrowser(t, r.URL)
	loginTo(t, web, "alice", "/.gatehouse/2fa/enroll")
	enrolByEmail(t, web, mail, 1, "alice@corp.example")
	clk.Advance(time.Minute) // past the resend spacing
	r.refresh(t)

	app := mobileApp(t, r, clk)
	p := client.NewPKCE()
	b := newBrowser(t, r.URL)
	authorize := authorizeBack(t, b, strings.TrimPrefix(app.AuthorizeURL(p, true), r.URL))
	loginTo(t, b, "alice", "/.gatehouse/2fa")
	form := url.Values{"rd": {authorize}}
	if resp, body := b.Do(t, "POST", "/.gatehouse/2fa/email", form); resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="rd" value="`+strings.ReplaceAll(authorize, "&", "&amp;")+`"`) {
		t.Fatalf("send during the app's login: %d\n%s", resp.StatusCode, body)
	}
	form.Set("code", codeIn(t, mail, 2, "alice@corp.example"))
	resp, _ := b.Do(t, "POST", "/.gatehouse/2fa", form)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != authorize {
		t.Fatalf("the code: %d to %q, want back to the authorize endpoint", resp.StatusCode, loc)
	}
	appLoginDone(t, app, b, authorize, r.URL, p)
}

// authorizeBack opens the app's authorize path in b, which has no
// session, and returns the path the login page is to come back to (the
// authorize endpoint with the request sealed).
func authorizeBack(t *testing.T, b *browser, authorize string) string {
	t.Helper()
	resp, _ := b.Get(t, authorize)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Path != "/.gatehouse/login" || !strings.HasPrefix(loc.Query().Get("rd"), "/.gatehouse/oauth/authorize?resume=") {
		t.Fatalf("authorize without a session: %d to %q, want the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("rd")
}

// appLoginDone ends an app's login whose browser b is back at the
// authorize endpoint with a complete session: the redirect carries a
// code, the app exchanges it, and its first call reaches the CRM.
func appLoginDone(t *testing.T, app *client.Client, b *browser, authorize, base string, p client.PKCE) {
	t.Helper()
	resp, _ := b.Get(t, authorize)
	code, err := app.CodeFrom(resp.Header.Get("Location"), p)
	if err != nil {
		t.Fatalf("redirect to the app: %v", err)
	}
	if err := app.Exchange(t.Context(), code, p); err != nil {
		t.Fatalf("token exchange: %v", err)
	}
	if resp, _ := appCall(t, app, base, "GET", "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the app's call: %d", resp.StatusCode)
	}
}

// TestEmailOnlyPolicyWithoutAddress: under a policy of email codes only,
// a user whose account has no address is still offered an app, never
// left with no way to enrol.
func TestEmailOnlyPolicyWithoutAddress(t *testing.T) {
	r, _, _ := emailCodeReplica(t, newClock(), "[email]")
	u, err := r.a.dir.UserByUsername(t.Context(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	u.Email = ""
	if err := r.a.dir.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, r.URL)
	loginTo(t, b, "bob", "/.gatehouse/2fa/enroll")
	if _, body := b.Get(t, "/.gatehouse/2fa/enroll?rd=%2F"); !strings.Contains(body, `id="qr"`) || strings.Contains(body, `id="enroll-email"`) {
		t.Fatalf("an account without an address under email-only:\n%s", body)
	}
}
