package main

import (
	"encoding/base32"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// nextStep moves the clock to the next TOTP step and lets the replica poll
// (its view of the directory must stay fresh under the moved clock).
func nextStep(t *testing.T, r *replica, clk *clock) {
	t.Helper()
	clk.Advance(30 * time.Second)
	r.refresh(t)
}

func mfaReplica(t *testing.T, clk *clock, mfa string) (*replica, *upstream) {
	t.Helper()
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, "policy: {mfa: "+mfa+"}\n"), clk)
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "root", alicePW, "admin")
	return r, up
}

func loginTo(t *testing.T, b *browser, user, want string) {
	t.Helper()
	resp, body := b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {user}, "password": {alicePW}, "rd": {"/"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, want) {
		t.Fatalf("login %s: %d to %q, want 303 to %s\n%s", user, resp.StatusCode, loc, want, body)
	}
}

func TestMFARequiredForAllForcesEnrolment(t *testing.T) {
	clk := newClock()
	r, up := mfaReplica(t, clk, "{mode: required}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll?rd=%2F")
	pending := b.Cookie("gatehouse").Value

	// Until enrolment completes the session reaches nothing but the enrolment pages.
	resp, _ := b.Get(t, "/accounts")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/.gatehouse/2fa/enroll") {
		t.Fatalf("upstream with a half-authenticated session: %d %q", resp.StatusCode, loc)
	}
	if up.Count() != 0 {
		t.Fatal("a half-authenticated session reached the upstream")
	}
	app, codes := gatewaytest.Enrol(t, b, clk)
	if b.Cookie("gatehouse").Value == pending {
		t.Fatal("the session id did not change when 2FA completed")
	}
	if resp, _ := b.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("after enrolment: %d", resp.StatusCode)
	}
	if got := up.Last(t).Header.Get("X-Gatehouse-Auth-Method"); got != "password+totp" {
		t.Fatalf("X-Gatehouse-Auth-Method = %q, want password+totp", got)
	}
	// The step used at enrolment cannot log in again.
	b2 := newBrowser(t, r.URL)
	loginTo(t, b2, "alice", "/.gatehouse/2fa?rd=%2F")
	if resp, body := b2.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {app.Code(0)}, "rd": {"/"}}); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not right") {
		t.Fatalf("the enrolment code replayed at login: %d", resp.StatusCode)
	}
	nextStep(t, r, clk)
	if resp, _ := b2.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {app.Code(0)}, "rd": {"/accounts"}}); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts" {
		t.Fatalf("next step's code: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(codes) != 10 {
		t.Fatal("want 10 recovery codes")
	}
	wantAudit(t, r, "mfa_enrolled", "")
}

func TestMFAPerRoleAndPerUser(t *testing.T) {
	clk := newClock()
	r, _ := mfaReplica(t, clk, "{mode: optional, required_roles: [admin]}")
	loginTo(t, newBrowser(t, r.URL), "root", "/.gatehouse/2fa/enroll")
	loginTo(t, newBrowser(t, r.URL), "alice", "/") // sales: optional
	if code, out := runCLI(t, r, "user", "require-2fa", "alice", "on"); code != 0 {
		t.Fatalf("require-2fa: %d %s", code, out)
	}
	loginTo(t, newBrowser(t, r.URL), "alice", "/.gatehouse/2fa/enroll")
	runCLI(t, r, "user", "require-2fa", "alice", "off")
	loginTo(t, newBrowser(t, r.URL), "alice", "/")
}

func TestMFAOptionalEnrolFromAccountPage(t *testing.T) {
	clk := newClock()
	r, up := mfaReplica(t, clk, "{mode: optional}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/")
	if _, body := b.Get(t, "/.gatehouse/account"); !strings.Contains(body, `id="mfa-status">Off.`) || !strings.Contains(body, `id="enroll"`) {
		t.Fatalf("account page before enrolling:\n%s", body)
	}
	app, _ := gatewaytest.Enrol(t, b, clk)
	if _, body := b.Get(t, "/.gatehouse/account"); !strings.Contains(body, "On. 10 recovery codes left.") {
		t.Fatalf("account page after enrolling:\n%s", body)
	}
	// Enrolled users are asked from now on, even in optional mode.
	b2 := newBrowser(t, r.URL)
	loginTo(t, b2, "alice", "/.gatehouse/2fa")
	nextStep(t, r, clk)
	b2.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {app.Code(0)}, "rd": {"/"}})
	b2.Get(t, "/")
	if got := up.Last(t).Header.Get("X-Gatehouse-Auth-Method"); got != "password+totp" {
		t.Fatalf("X-Gatehouse-Auth-Method = %q", got)
	}
	// Removing needs a current code; then logins are one factor again.
	nextStep(t, r, clk)
	if resp, body := b2.Do(t, "POST", "/.gatehouse/account/2fa/remove", url.Values{"code": {app.Code(0)}}); resp.StatusCode != 200 || !strings.Contains(body, "Two-factor authentication is off.") {
		t.Fatalf("remove: %d\n%s", resp.StatusCode, body)
	}
	loginTo(t, newBrowser(t, r.URL), "alice", "/")
}

func TestRemovingRequired2FARefused(t *testing.T) {
	clk := newClock()
	r, _ := mfaReplica(t, clk, "{mode: required}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	app, _ := gatewaytest.Enrol(t, b, clk)
	nextStep(t, r, clk)
	if resp, _ := b.Do(t, "POST", "/.gatehouse/account/2fa/remove", url.Values{"code": {app.Code(0)}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("removing a required factor: %d, want 403", resp.StatusCode)
	}
}

func TestRecoveryCodeReuseRefused(t *testing.T) {
	clk := newClock()
	r, up := mfaReplica(t, clk, "{mode: required}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	_, codes := gatewaytest.Enrol(t, b, clk)
	use := func(code string) int {
		c := newBrowser(t, r.URL)
		loginTo(t, c, "alice", "/.gatehouse/2fa")
		resp, _ := c.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {code}, "rd": {"/"}})
		if resp.StatusCode == http.StatusSeeOther {
			c.Get(t, "/")
		}
		return resp.StatusCode
	}
	if got := use(strings.ToUpper(codes[3])); got != http.StatusSeeOther {
		t.Fatalf("first use of a recovery code: %d", got)
	}
	if got := up.Last(t).Header.Get("X-Gatehouse-Auth-Method"); got != "password+recovery_code" {
		t.Fatalf("X-Gatehouse-Auth-Method = %q", got)
	}
	if got := use(codes[3]); got != http.StatusUnauthorized {
		t.Fatalf("second use of the same recovery code: %d, want 401", got)
	}
}

func TestTOTPReplayRefused(t *testing.T) {
	clk := newClock()
	r, _ := mfaReplica(t, clk, "{mode: required}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	app, _ := gatewaytest.Enrol(t, b, clk)
	nextStep(t, r, clk)
	code := app.Code(0)
	first := newBrowser(t, r.URL)
	loginTo(t, first, "alice", "/.gatehouse/2fa")
	if resp, _ := first.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {code}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	// An attacker who saw the code (shoulder-surfing, phishing proxy)
	// replays it within its 90 s window.
	second := newBrowser(t, r.URL)
	loginTo(t, second, "alice", "/.gatehouse/2fa")
	if resp, _ := second.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {code}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed code: %d, want 401", resp.StatusCode)
	}
	wantAudit(t, r, "mfa_failure", "")
}

func TestTOTPReplayConcurrentRefused(t *testing.T) {
	clk := newClock()
	r, _ := mfaReplica(t, clk, "{mode: required, remember_device: 0s}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	app, _ := gatewaytest.Enrol(t, b, clk)
	nextStep(t, r, clk)
	code := app.Code(0)
	const n = 6
	browsers := make([]*browser, n)
	for i := range browsers {
		browsers[i] = newBrowser(t, r.URL)
		loginTo(t, browsers[i], "alice", "/.gatehouse/2fa")
	}
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for _, c := range browsers {
		wg.Go(func() {
			resp, _ := c.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {code}})
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		if s == http.StatusSeeOther {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent uses of one code succeeded, want exactly 1", ok, n)
	}
}

func TestMFABruteForceLockout(t *testing.T) {
	clk := newClock()
	r, _ := mfaReplica(t, clk, "{mode: required}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	app, _ := gatewaytest.Enrol(t, b, clk)
	c := newBrowser(t, r.URL)
	loginTo(t, c, "alice", "/.gatehouse/2fa")
	for i := range 5 {
		if resp, _ := c.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {"000000"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %d", i, resp.StatusCode)
		}
	}
	nextStep(t, r, clk)
	if resp, body := c.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {app.Code(0)}}); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many wrong codes") {
		t.Fatalf("right code after 5 wrong ones: %d, want 429", resp.StatusCode)
	}
	wantAudit(t, r, "mfa_lockout", "")
}

// TestSkipping2FAWithHalfAuthenticatedCookie: the pending cookie opens
// nothing but the 2FA pages.
func TestSkipping2FAWithHalfAuthenticatedCookie(t *testing.T) {
	clk := newClock()
	r, up := mfaReplica(t, clk, "{mode: required}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	gatewaytest.Enrol(t, b, clk)
	c := newBrowser(t, r.URL)
	loginTo(t, c, "alice", "/.gatehouse/2fa")
	before := up.Count()
	for _, path := range []string{"/", "/accounts/7", "/.gatehouse/account", "/.gatehouse/2fa/enroll"} {
		resp, _ := c.Get(t, path)
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, "/.gatehouse/2fa?") {
			t.Errorf("%s with a half-authenticated cookie: %d %q, want a redirect to the code page", path, resp.StatusCode, loc)
		}
	}
	resp, body := c.Get(t, "/api/leads", "Accept", "application/json")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "mfa_required") {
		t.Errorf("API with a half-authenticated cookie: %d %s", resp.StatusCode, body)
	}
	if resp, _ := c.Do(t, "POST", "/.gatehouse/account/2fa/remove", url.Values{"code": {"123456"}}); resp.StatusCode/100 != 3 {
		t.Errorf("removing 2FA with a half-authenticated cookie: %d", resp.StatusCode)
	}
	if up.Count() != before {
		t.Fatal("a half-authenticated session reached the upstream")
	}
	// And it expires within minutes.
	clk.Advance(5 * time.Minute)
	r.refresh(t)
	resp, _ = c.Get(t, "/.gatehouse/2fa")
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/.gatehouse/login") {
		t.Fatalf("a 5-minute-old half-authenticated session: %q, want the login page", loc)
	}
}

func TestEnrolmentWithoutConfirmationDoesNothing(t *testing.T) {
	clk := newClock()
	r, _ := mfaReplica(t, clk, "{mode: required}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	_, body := b.Get(t, "/.gatehouse/2fa/enroll")
	if !strings.Contains(body, `<code id="secret">`) {
		t.Fatal("no secret shown")
	}
	// A code from some other secret does not confirm it.
	other := gatewaytest.Phone{Secret: []byte("12345678901234567890"), Clock: clk}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/2fa/enroll", url.Values{"code": {other.Code(0)}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("confirming with a foreign code: %d", resp.StatusCode)
	}
	// Walking away leaves the user unenrolled: the next login must enrol again.
	loginTo(t, newBrowser(t, r.URL), "alice", "/.gatehouse/2fa/enroll")
	st, err := r.a.dir.TOTP(t.Context(), mustUser(t, r, "alice"))
	if err == nil {
		t.Fatalf("a factor was stored without confirmation: %+v", st)
	}
}

func TestRememberedDevice(t *testing.T) {
	clk := newClock()
	r, _ := mfaReplica(t, clk, "{mode: required, remember_device: 720h}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	app, _ := gatewaytest.Enrol(t, b, clk)
	nextStep(t, r, clk)
	loginTo(t, b, "alice", "/.gatehouse/2fa")
	if _, body := b.Get(t, "/.gatehouse/2fa"); !strings.Contains(body, "ask again on this browser for 30 days") {
		t.Fatal("the code page does not offer to remember the device")
	}
	// The period is worded in the page's language, plural and all.
	for lang, want := range map[string]string{"es": "durante 30 días", "hi": "30 दिन तक"} {
		if _, body := b.Get(t, "/.gatehouse/2fa", "Accept-Language", lang); !strings.Contains(body, want) {
			t.Errorf("%s: the remember offer does not say %q", lang, want)
		}
	}
	b.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {app.Code(0)}, "remember": {"1"}})
	b.Do(t, "POST", "/.gatehouse/logout", nil)
	loginTo(t, b, "alice", "/") // skipped the prompt
	device := deviceCookie(t, b)

	// Another user cannot use alice's device cookie.
	c := newBrowser(t, r.URL)
	u, _ := url.Parse(r.URL)
	c.Jar.SetCookies(u, []*http.Cookie{device})
	loginTo(t, c, "root", "/.gatehouse/2fa/enroll") // root (admin) has no factor: must enrol
	r.addUser(t, "bob", alicePW, "sales")
	r.a.dir.EnrollTOTP(t.Context(), mustTOTP(t, r, "alice", "bob"), nil)
	loginTo(t, c, "bob", "/.gatehouse/2fa")

	// An admin's 2FA reset forgets remembered devices: after re-enrolling,
	// the old device cookie no longer skips the prompt.
	b.Do(t, "POST", "/.gatehouse/logout", nil)
	if code, out := runCLI(t, r, "user", "reset-2fa", "alice"); code != 0 {
		t.Fatal(out)
	}
	r.refresh(t)
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll") // required, factor gone: enrol again
	nextStep(t, r, clk)                              // the last step is spent
	app, _ = gatewaytest.Enrol(t, b, clk)
	b.Do(t, "POST", "/.gatehouse/logout", nil)
	loginTo(t, b, "alice", "/.gatehouse/2fa") // the remembered device was forgotten
	nextStep(t, r, clk)
	b.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {app.Code(0)}, "remember": {"1"}})
	b.Do(t, "POST", "/.gatehouse/logout", nil)
	loginTo(t, b, "alice", "/")

	// A password change forgets remembered devices.
	if code, out := cliStdin(t, r, "a new long passphrase\n", "user", "set-password", "alice", "--password-stdin"); code != 0 {
		t.Fatal(out)
	}
	resp, _ := b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {"a new long passphrase"}, "rd": {"/"}})
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/.gatehouse/2fa") {
		t.Fatalf("after a password change the device is still remembered: %q", loc)
	}
}

// TestReset2FAEndsSessions: an admin's reset removes the factor, ends the
// user's sessions on every replica and forgets remembered devices.
func TestReset2FAEndsSessions(t *testing.T) {
	clk := newClock()
	r, _ := mfaReplica(t, clk, "{mode: optional}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/")
	gatewaytest.Enrol(t, b, clk)
	if resp, _ := b.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	if code, out := runCLI(t, r, "user", "reset-2fa", "alice"); code != 0 {
		t.Fatalf("reset-2fa: %d %s", code, out)
	}
	r.refresh(t)
	resp, _ := b.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	loginTo(t, newBrowser(t, r.URL), "alice", "/") // optional and no factor: one factor again
	wantAudit(t, r, "mfa_reset", "")
}

func deviceCookie(t *testing.T, b *browser) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(b.Base)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "gatehouse-device" {
			return c
		}
	}
	t.Fatal("no remember-device cookie")
	return nil
}

func mustUser(t *testing.T, r *replica, name string) string {
	t.Helper()
	u, err := r.a.dir.UserByUsername(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// mustTOTP copies from's factor to to's user id (same secret), so two
// users share an authenticator for the cookie test.
func mustTOTP(t *testing.T, r *replica, from, to string) directoryFactor {
	t.Helper()
	f, err := r.a.dir.TOTP(t.Context(), mustUser(t, r, from))
	if err != nil {
		t.Fatal(err)
	}
	f.UserID = mustUser(t, r, to)
	return f
}

func cliStdin(t *testing.T, r *replica, stdin string, args ...string) (int, string) {
	t.Helper()
	var out strings.Builder
	args = append(args, "--config", r.cfgPath)
	code := run(t.Context(), args, strings.NewReader(stdin), &out, &out, r.vars)
	return code, out.String()
}

type directoryFactor = directory.TOTPFactor

func TestCSRFOnAccountFormsRefused(t *testing.T) {
	clk := newClock()
	r, _ := mfaReplica(t, clk, "{mode: optional}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/")
	app, _ := gatewaytest.Enrol(t, b, clk)
	nextStep(t, r, clk)
	for _, path := range []string{"/.gatehouse/account/2fa/remove", "/.gatehouse/account/2fa/recovery", "/.gatehouse/2fa/enroll", "/.gatehouse/2fa"} {
		resp, _ := b.Do(t, "POST", path, url.Values{"code": {app.Code(0)}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d, want 403", path, resp.StatusCode)
		}
	}
	if _, body := b.Get(t, "/.gatehouse/account"); !strings.Contains(body, "On. 10 recovery codes left.") {
		t.Fatal("a cross-site request changed the account")
	}
}

// TestNoSecretsInLogs runs a whole login with 2FA, a failed login and a
// logout, then searches everything the replica logged for the secrets it
// handled: password, session cookie, TOTP seed and code, recovery codes.
func TestNoSecretsInLogs(t *testing.T) {
	clk := newClock()
	r, _ := mfaReplica(t, clk, "{mode: required}")
	b := newBrowser(t, r.URL)
	b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {"wrong " + alicePW}})
	loginTo(t, b, "alice", "/.gatehouse/2fa/enroll")
	pending := b.Cookie("gatehouse").Value
	app, codes := gatewaytest.Enrol(t, b, clk)
	full := b.Cookie("gatehouse").Value
	nextStep(t, r, clk)
	c := newBrowser(t, r.URL)
	loginTo(t, c, "alice", "/.gatehouse/2fa")
	code := app.Code(0)
	c.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {code}})
	d := newBrowser(t, r.URL)
	loginTo(t, d, "alice", "/.gatehouse/2fa")
	d.Do(t, "POST", "/.gatehouse/2fa", url.Values{"code": {code}}) // replay, refused and logged
	b.Do(t, "POST", "/.gatehouse/logout", nil)
	logs := r.stderr.String()
	secrets := map[string]string{
		"password": alicePW, "pending cookie": pending, "session cookie": full, "totp code": code,
		"totp seed (base32)": base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(app.Secret),
		"recovery code":      codes[0],
	}
	for name, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
	if !strings.Contains(logs, "event=mfa_failure") || !strings.Contains(logs, "event=login_failure") {
		t.Fatalf("the flow was not logged at all; the test would prove nothing:\n%s", logs)
	}
}
