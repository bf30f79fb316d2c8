package login_test

import (
	"context"
	"encoding/base32"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/mfa"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
	"github.com/gatehouse-auth/gatehouse/session"
	"github.com/gatehouse-auth/gatehouse/session/memory"
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

// TestFactorChangeEndsOtherSessions: enrolling, new recovery codes and
// removing the factor end the user's other sessions and keep the one
// that made the change (ASVS 7.4.3, review finding F8).
func TestFactorChangeEndsOtherSessions(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{Policy: "mfa: {mode: optional, required_roles: []}"})
	g.AddUser(t, "alice", alicePW, "sales")
	a, other := gatewaytest.NewBrowser(g.URL), gatewaytest.NewBrowser(g.URL)
	a.Login(t, "alice", alicePW)
	other.Login(t, "alice", alicePW)
	phone, _ := g.Enrol(t, a)
	g.Advance(t, time.Second)
	if resp, _ := a.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("the enrolling session: %d, want it kept", resp.StatusCode)
	}
	if resp, _ := other.Get(t, "/"); resp.StatusCode != http.StatusFound {
		t.Fatalf("the other session after enrolment: %d, want it ended", resp.StatusCode)
	}
	// New recovery codes end the other sessions too.
	g.Advance(t, time.Minute)
	third := gatewaytest.NewBrowser(g.URL)
	third.Login(t, "alice", alicePW)
	third.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {phone.Code(0)}, "rd": {"/"}})
	if resp, _ := third.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("third session: %d", resp.StatusCode)
	}
	g.Advance(t, time.Minute)
	if resp, _ := a.Do(t, "POST", "/.gatehouse/account/2fa/recovery", url.Values{"code": {phone.Code(0)}}); resp.StatusCode != 200 {
		t.Fatalf("new recovery codes: %d", resp.StatusCode)
	}
	g.Advance(t, time.Second)
	if resp, _ := third.Get(t, "/"); resp.StatusCode != http.StatusFound {
		t.Fatalf("the other session after new recovery codes: %d, want it ended", resp.StatusCode)
	}
	if resp, _ := a.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("the session that made the change: %d, want it kept", resp.StatusCode)
	}
}

// TestStaleEnrolmentPageCannotReplaceFactor: an enrolment page opened
// before the user enrolled elsewhere cannot later replace the factor
// (review finding F8); the browser is sent to the account page.
func TestStaleEnrolmentPageCannotReplaceFactor(t *testing.T) {
	g := gatewaytest.Start(t, gatewaytest.Options{Policy: "mfa: {mode: optional, required_roles: []}"})
	g.AddUser(t, "alice", alicePW, "sales")
	stale := gatewaytest.NewBrowser(g.URL)
	stale.Login(t, "alice", alicePW)
	_, body := stale.Get(t, "/.gatehouse/2fa/enroll")
	m := regexp.MustCompile(`<code id="secret">([A-Z2-7]+)</code>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no secret on the enrolment page")
	}
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m[1])
	attacker := gatewaytest.Phone{Secret: secret, Clock: g.Clock}

	fresh := gatewaytest.NewBrowser(g.URL)
	fresh.Login(t, "alice", alicePW)
	phone, _ := g.Enrol(t, fresh)
	g.Advance(t, time.Minute)
	// The stale page's session ended with the enrolment; even a session
	// that survived could not confirm over the existing factor.
	resp, _ := stale.Do(t, "POST", "/.gatehouse/2fa/enroll", url.Values{"code": {attacker.Code(0)}, "rd": {"/"}})
	if resp.StatusCode == http.StatusOK {
		t.Fatal("a stale enrolment replaced the factor")
	}
	b := gatewaytest.NewBrowser(g.URL)
	b.Login(t, "alice", alicePW)
	if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {phone.Code(0)}, "rd": {"/"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the real factor after the stale attempt: %d", resp.StatusCode)
	}
}

// ceremonyOutage is a session store whose passkey ceremonies cannot be
// stored (the rest works).
type ceremonyOutage struct{ session.Backend }

func (c ceremonyOutage) PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if strings.HasPrefix(key, "webauthn:") {
		return false, errors.New("store down")
	}
	return c.Backend.PutOnce(ctx, key, value, ttl)
}

// TestPasskeyOutageAtEnrolment: when a passkey cannot be offered, the
// enrolment page offers what else the policy allows (an app), and when
// the policy allows passkeys alone it answers 503 rather than fall back
// to an app the policy forbids.
func TestPasskeyOutageAtEnrolment(t *testing.T) {
	rp, err := mfa.RelyingParty(&url.URL{Scheme: "http", Host: "localhost:1"}, "Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		methods string
		status  int
	}{{"[totp, webauthn]", http.StatusOK}, {"[webauthn]", http.StatusServiceUnavailable}} {
		g := gatewaytest.Start(t, gatewaytest.Options{Policy: "mfa: {mode: required, methods: " + c.methods + "}",
			Store: ceremonyOutage{memory.New(time.Now)}, MFA: []mfa.Option{mfa.WithPasskeys(rp)}})
		g.AddUser(t, "alice", alicePW, "sales")
		b := gatewaytest.NewBrowser(g.URL)
		b.Login(t, "alice", alicePW)
		resp, body := b.Get(t, "/.gatehouse/2fa/enroll")
		if resp.StatusCode != c.status || strings.Contains(body, "enroll-passkey") || c.status == http.StatusOK && !strings.Contains(body, "otpauth://") {
			t.Errorf("methods %s with the ceremony store down: %d, want %d\n%s", c.methods, resp.StatusCode, c.status, body)
		}
	}
}
