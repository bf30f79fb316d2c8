package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/email/emailtest"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

// TestAddAndRemoveFactors: a user with an app adds email codes from the
// account page while their sign-in is fresh (not after five minutes, and
// never from a half-authenticated session); the recovery codes stay;
// either factor then logs in; taking one off keeps the other, and taking
// the last off turns 2FA off with its codes.
func TestAddAndRemoveFactors(t *testing.T) {
	clk := newClock()
	mail := emailtest.Start(t, emailtest.Options{})
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, mail.Config("no-reply@corp.example")+"policy: {mfa: {mode: optional, methods: [totp, email]}}\n"), clk)
	alice := r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/")
	app, _ := gatewaytest.Enrol(t, b, clk)
	codesLeft := func() int {
		n, err := r.a.dir.RecoveryCodesLeft(t.Context(), alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if codesLeft() != 10 {
		t.Fatalf("after enrolling: %d recovery codes", codesLeft())
	}
	if _, body := b.Get(t, "/.gatehouse/account"); !strings.Contains(body, `id="factor-totp"`) || !strings.Contains(body, `id="add-factor"`) || strings.Contains(body, `id="remove-totp"`) {
		t.Fatalf("the account page with one factor:\n%s", body)
	}

	// Six minutes after signing in, adding needs a fresh sign-in.
	clk.Advance(6 * time.Minute)
	r.refresh(t)
	if resp, body := b.Get(t, "/.gatehouse/2fa/enroll?add=1&rd=%2F.gatehouse%2Faccount"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "sign in again") {
		t.Fatalf("adding on an old sign-in: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa/enroll/email", url.Values{"rd": {"/"}, "add": {"1"}}); resp.StatusCode != http.StatusForbidden || len(mail.Messages()) != 0 {
		t.Fatalf("starting an email add on an old sign-in: %d, %d emails", resp.StatusCode, len(mail.Messages()))
	}

	// A half-authenticated session (password only) cannot add one.
	half := newBrowser(t, r.URL)
	loginTo(t, half, "alice", "/.gatehouse/2fa")
	if resp, _ := half.Do(t, "POST", "/.gatehouse/2fa/enroll/email", url.Values{"rd": {"/"}, "add": {"1"}}); resp.StatusCode == http.StatusOK || len(mail.Messages()) != 0 {
		t.Fatalf("a password-only session started adding a factor: %d, %d emails", resp.StatusCode, len(mail.Messages()))
	}

	// Fresh: sign in again with the app, add email codes.
	b.Do(t, "POST", "/.gatehouse/logout", nil)
	nextStep(t, r, clk)
	loginTo(t, b, "alice", "/.gatehouse/2fa")
	if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa", url.Values{"rd": {"/"}, "code": {app.Code(0)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("app code: %d", resp.StatusCode)
	}
	_, body := b.Get(t, "/.gatehouse/2fa/enroll?add=1&rd=%2F.gatehouse%2Faccount")
	if strings.Contains(body, `id="qr"`) || !strings.Contains(body, `id="enroll-email"`) || !strings.Contains(body, `name="add" value="1"`) {
		t.Fatalf("the add page offers what the user lacks (email, not a second app):\n%s", body)
	}
	if resp, body := b.Do(t, "POST", "/.gatehouse/2fa/enroll/email", url.Values{"rd": {"/.gatehouse/account"}, "add": {"1"}}); resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="add" value="1"`) {
		t.Fatalf("start adding email: %d\n%s", resp.StatusCode, body)
	}
	resp, _ := b.Do(t, "POST", "/.gatehouse/2fa/enroll/code", url.Values{"rd": {"/.gatehouse/account"}, "add": {"1"},
		"code": {codeIn(t, mail, 1, "alice@corp.example")}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.gatehouse/account" {
		t.Fatalf("confirm adding email: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if codesLeft() != 10 {
		t.Fatalf("adding a factor changed the recovery codes: %d left", codesLeft())
	}
	if _, body := b.Get(t, "/.gatehouse/account"); !strings.Contains(body, `id="remove-totp"`) || !strings.Contains(body, `id="remove-email"`) || strings.Contains(body, `id="add-factor"`) {
		t.Fatalf("the account page with two factors:\n%s", body)
	}

	// Either factor logs in.
	b.Do(t, "POST", "/.gatehouse/logout", nil)
	clk.Advance(time.Minute)
	r.refresh(t)
	loginTo(t, b, "alice", "/.gatehouse/2fa")
	b.Do(t, "POST", "/.gatehouse/2fa/email", url.Values{"rd": {"/"}})
	if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa", url.Values{"rd": {"/"}, "code": {codeIn(t, mail, 2, "alice@corp.example")}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the email code with an app also enrolled: %d", resp.StatusCode)
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK || up.Last(t).Header.Get("X-Gatehouse-Auth-Method") != "password+email_otp" {
		t.Fatalf("method %q", up.Last(t).Header.Get("X-Gatehouse-Auth-Method"))
	}

	// Take the app off (a current code first): email stays, codes stay.
	nextStep(t, r, clk)
	resp, body = b.Do(t, "POST", "/.gatehouse/account/2fa/factors/totp/remove", url.Values{"code": {app.Code(0)}})
	if resp.StatusCode != http.StatusOK || strings.Contains(body, `id="factor-totp"`) || !strings.Contains(body, `id="factor-email"`) || codesLeft() != 10 {
		t.Fatalf("removing the app: %d, codes %d\n%s", resp.StatusCode, codesLeft(), body)
	}
	wantAudit(t, r, "mfa_removed", "")
	// The last one off: 2FA is off, the codes go with it.
	clk.Advance(time.Minute)
	r.refresh(t)
	resp, _ = b.Do(t, "POST", "/.gatehouse/account/2fa/remove", url.Values{"code": {"000000"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("turning off with a wrong code: %d", resp.StatusCode)
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/account/2fa/factors/email/remove", url.Values{"code": {strings.Repeat("0", 6)}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("removing email with a wrong code: %d", resp.StatusCode)
	}
	clk.Advance(16 * time.Minute) // past the lockout window the wrong codes counted in
	r.refresh(t)
	b.Get(t, "/") // keep the session from idling out
	// With email codes as the only factor, the account page sends one
	// for its own forms.
	if resp, body := b.Do(t, "POST", "/.gatehouse/account/2fa/factors/email/send", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "We sent a code to a•••@corp.example") {
		t.Fatalf("send from the account page: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.Do(t, "POST", "/.gatehouse/account/2fa/factors/email/remove", url.Values{"code": {codeIn(t, mail, 3, "alice@corp.example")}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Two-factor authentication is off.") || codesLeft() != 0 {
		t.Fatalf("removing the last factor: %d, codes %d\n%s", resp.StatusCode, codesLeft(), body)
	}
}
