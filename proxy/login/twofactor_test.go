package login_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

// TestTwoFactorPromptCodeAndRecovery walks the second factor through the
// pipeline: a half-authenticated session reaches only the 2FA pages, a
// right code completes the login under a new session id, a recovery code
// works once, and a remembered device skips the prompt.
func TestTwoFactorPromptCodeAndRecovery(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{Policy: "mfa: {mode: required, remember_device: 720h}"})
	g.AddUser(t, "alice", alicePW, "sales")
	b := gatewaytest.NewBrowser(g.URL)
	resp := b.Login(t, "alice", alicePW)
	if !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/2fa/enroll") {
		t.Fatalf("first login: %q, want enrolment", resp.Header.Get("Location"))
	}
	if resp, _ := b.Get(t, "/accounts", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("upstream while enrolment is owed: %d, want 401", resp.StatusCode)
	}
	phone, codes := g.Enrol(t, b)
	if resp, body := b.Get(t, "/"); resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("after enrolment: %d %q", resp.StatusCode, body)
	}
	if got := g.Upstream.Last(t).Header.Get("X-Gatehouse-Auth-Method"); got != "password+totp" {
		t.Fatalf("auth method %q", got)
	}

	// A second browser: prompt, a wrong code, then the right one.
	g.Advance(t, time.Minute) // the enrolment step is used up
	b2 := gatewaytest.NewBrowser(g.URL)
	resp = b2.Login(t, "alice", alicePW)
	if !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/2fa?") {
		t.Fatalf("second login: %q, want the prompt", resp.Header.Get("Location"))
	}
	pending := b2.Cookie("gatehouse").Value
	if resp, _ := b2.Get(t, "/.gatehouse/account"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/2fa") {
		t.Fatalf("account page while the prompt is owed: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b2.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {"000000"}, "rd": {"/"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	resp, _ = b2.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {phone.Code(0)}, "rd": {"/x"}, "remember": {"1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/x" {
		t.Fatalf("right code: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if b2.Cookie("gatehouse").Value == pending {
		t.Fatal("the session id did not change when 2FA completed")
	}
	if b2.Cookie("gatehouse-device") == nil {
		t.Fatal("no remember-device cookie")
	}
	// The remembered device skips the prompt on this browser.
	b2.Do(t, "POST", "/.gatehouse/logout", url.Values{})
	if resp := b2.Login(t, "alice", alicePW); resp.Header.Get("Location") != "/" {
		t.Fatalf("login on a remembered device: %q, want straight in", resp.Header.Get("Location"))
	}

	// A recovery code works once.
	for i, want := range []int{http.StatusSeeOther, http.StatusUnauthorized} {
		b3 := gatewaytest.NewBrowser(g.URL)
		b3.Login(t, "alice", alicePW)
		if resp, _ := b3.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {codes[0]}, "rd": {"/"}}); resp.StatusCode != want {
			t.Fatalf("recovery code, use %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
}
