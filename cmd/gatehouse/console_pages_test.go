package main

import (
	"context"
	"crypto/rand"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/apikey"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

const pages = "/.gatehouse/admin"

var (
	formRe     = regexp.MustCompile(`(?s)<form [^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRe    = regexp.MustCompile(`<input ([^>]*)>`)
	attrRe     = regexp.MustCompile(`(\w[\w-]*)(?:="([^"]*)")?`)
	selectRe   = regexp.MustCompile(`(?s)<select [^>]*name="([^"]*)"[^>]*>(.*?)</select>`)
	selectedRe = regexp.MustCompile(`<option value="([^"]*)" selected>`)
	textareaRe = regexp.MustCompile(`(?s)<textarea [^>]*name="([^"]*)"[^>]*>(.*?)</textarea>`)
)

// formOf reads the form posting to action on a page as a browser would
// submit it untouched: hidden and text inputs, ticked boxes, the
// selected options and the text areas.
func formOf(t *testing.T, body, action string) url.Values {
	t.Helper()
	for _, f := range formRe.FindAllStringSubmatch(body, -1) {
		if html.UnescapeString(f[1]) != action {
			continue
		}
		v := url.Values{}
		for _, in := range inputRe.FindAllStringSubmatch(f[2], -1) {
			a := map[string]string{}
			for _, kv := range attrRe.FindAllStringSubmatch(in[1], -1) {
				a[kv[1]] = html.UnescapeString(kv[2])
			}
			if a["name"] == "" || a["type"] == "checkbox" && !strings.Contains(in[1], " checked") {
				continue
			}
			if a["type"] == "checkbox" && a["value"] == "" {
				a["value"] = "on"
			}
			v.Add(a["name"], a["value"])
		}
		for _, s := range selectRe.FindAllStringSubmatch(f[2], -1) {
			if m := selectedRe.FindStringSubmatch(s[2]); m != nil {
				v.Set(s[1], html.UnescapeString(m[1]))
			}
		}
		for _, ta := range textareaRe.FindAllStringSubmatch(f[2], -1) {
			v.Set(ta[1], html.UnescapeString(ta[2]))
		}
		return v
	}
	t.Fatalf("no form posting to %s in\n%s", action, body)
	return nil
}

// adminWithPhone logs root in with password and TOTP (enrolling) and
// returns the browser and the phone, for re-authenticating with a code.
func adminWithPhone(t *testing.T, r *replica, clk *clock) (*browser, gatewaytest.Phone) {
	t.Helper()
	b := newBrowser(t, r.URL)
	loginTo(t, b, "root", "/.gatehouse/2fa/enroll")
	phone, _ := gatewaytest.Enrol(t, b, clk)
	return b, phone
}

// wantPage checks a console answer's status and that it says want.
func wantPage(t *testing.T, what string, resp *http.Response, body string, status int, want ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: %d, want %d\n%s", what, resp.StatusCode, status, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("%s: no %q in\n%s", what, w, body)
		}
	}
}

func storedPolicy(t *testing.T, r *replica) (int64, policy.Policy) {
	t.Helper()
	pv, err := r.a.dir.CurrentPolicy(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse(pv.Document)
	if err != nil {
		t.Fatal(err)
	}
	return pv.Version, p
}

// TestConsolePagesAccess: who may use the console pages — a browser
// without a session goes to the login page, a non-admin gets a 403 page,
// an admin without a second factor is told to enrol — and the attacks
// on its changes: a cross-site form, and a stale session, which must
// confirm it is the admin first (then the change it asked for goes
// through, with nothing retyped).
func TestConsolePagesAccess(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	alice := r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "ops", alicePW, "ops")
	keyID, _, _ := apikey.Parse(createKey(t, r, "--user", "alice"))
	if err := r.a.dir.AddDevice(t.Context(), directory.Device{ID: "dev-a", UserID: alice.ID, ClientID: "crm-mobile"}); err != nil {
		t.Fatal(err)
	}
	aliceB := newBrowser(t, r.URL)
	aliceB.Login(t, "alice", alicePW)
	opsB := newBrowser(t, r.URL)
	opsB.Login(t, "ops", alicePW)

	resp, _ := newBrowser(t, r.URL).Get(t, pages+"/users")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/login") {
		t.Fatalf("no session: %d to %q, want the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, path := range []string{pages + "/", pages + "/users/alice", pages + "/policy", pages + "/audit"} {
		resp, body := aliceB.Get(t, path)
		wantPage(t, "a non-admin at "+path, resp, body, 403, "does not have the admin feature")
		resp, body = opsB.Get(t, path)
		wantPage(t, "an admin without a second factor at "+path, resp, body, 403, "Set up two-factor authentication", `href="/.gatehouse/account"`)
	}
	resp, body := aliceB.Do(t, "POST", pages+"/users/alice/disable", url.Values{})
	wantPage(t, "a non-admin's change", resp, body, 403, "does not have the admin feature")

	root, phone := adminWithPhone(t, r, clk)
	resp, body = root.Get(t, pages+"/")
	wantPage(t, "the dashboard", resp, body, 200, `id="policy-version"`, "Version <strong>1</strong>")
	if strings.Contains(body, `id="stale"`) {
		t.Fatal("a fresh login is told to re-authenticate")
	}
	resp, body = root.Do(t, "POST", pages+"/users/alice/disable", url.Values{}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	wantPage(t, "a cross-site disable", resp, body, 403)

	// Six minutes on: reading works, every change asks to confirm.
	clk.Advance(6 * time.Minute)
	r.refresh(t)
	resp, body = root.Get(t, pages+"/users/alice")
	wantPage(t, "a stale admin reads", resp, body, 200, `id="stale"`, `href="/.gatehouse/admin/reauth?rd=%2f.gatehouse%2fadmin%2fusers%2falice"`)
	// A preview (a POST) sends the re-authentication back to the policy
	// page, not to the form's target.
	_, body = root.Do(t, "POST", pages+"/policy/preview", url.Values{"idle_timeout": {"10m"}})
	if !strings.Contains(body, `href="/.gatehouse/admin/reauth?rd=%2f.gatehouse%2fadmin%2fpolicy"`) {
		t.Fatalf("the banner on a preview:\n%s", body)
	}
	sessions, err := r.sessions.List(t.Context(), alice.ID)
	if err != nil || len(sessions) != 1 {
		t.Fatalf("alice's sessions: %v %v", sessions, err)
	}
	changes := []struct {
		path string
		form url.Values
	}{
		{"/users/alice/disable", nil},
		{"/users/alice/enable", nil},
		{"/users/alice/logout", nil},
		{"/users/alice/2fa/reset", nil},
		{"/users/alice/2fa/required", url.Values{"required": {"true"}}},
		{"/users/alice/allowlist", url.Values{"allowlist": {"192.0.2.0/24 Bangalore office"}}},
		{"/users/alice/api-keys/" + keyID + "/revoke", nil},
		{"/users/alice/devices/dev-a/revoke", nil},
		{"/users/alice/devices/revoke", nil},
		{"/users/alice/sessions/" + sessions[0].ID + "/revoke", nil},
		{"/policy", url.Values{"document": {"session: {idle_timeout: 10m}"}, "version": {"1"}}},
		{"/policy/rollback", url.Values{"to": {"1"}, "version": {"1"}}},
		{"/logout-all", url.Values{"confirm": {"log out everyone"}}},
	}
	for _, c := range changes {
		if c.form == nil {
			c.form = url.Values{}
		}
		resp, body := root.Do(t, "POST", pages+c.path, c.form)
		wantPage(t, "stale POST "+c.path, resp, body, 403, "Confirm it is you", `action="/.gatehouse/admin/reauth"`,
			`name="carry_action" value="`+html.EscapeString(pages+c.path)+`"`)
	}
	if v, p := storedPolicy(t, r); v != 1 || p.Session.IdleTimeout != 30*time.Minute {
		t.Fatalf("policy after the refused changes: version %d, idle %s", v, p.Session.IdleTimeout)
	}
	d := getUser(t, r, root, "alice")
	if d.Disabled || d.TwoFactor.UserRequired || d.APIKeys[0].State != "active" || d.Devices[0].State != "signed_in" || len(d.Allowlist) != 0 {
		t.Fatalf("alice after the refused changes: %+v", d)
	}
	if resp, _ := aliceB.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("alice's session after the refused changes: %d", resp.StatusCode)
	}

	// Confirming with a wrong password changes nothing; with a current
	// code, the carried change is offered again and goes through.
	_, body = root.Do(t, "POST", pages+"/users/alice/disable", url.Values{})
	reauth := formOf(t, body, pages+"/reauth")
	reauth.Set("password", "not the password")
	resp, body = root.Do(t, "POST", pages+"/reauth", reauth)
	wantPage(t, "a wrong password", resp, body, 403, "not right", `name="carry_action"`)
	reauth.Del("password")
	reauth.Set("code", phone.Code(0))
	resp, body = root.Do(t, "POST", pages+"/reauth", reauth)
	wantPage(t, "re-authentication with a code", resp, body, 200, "Confirmed", `action="/.gatehouse/admin/users/alice/disable"`)
	if getUser(t, r, root, "alice").Disabled {
		t.Fatal("alice disabled before the admin made the change")
	}
	resp, body = root.Do(t, "POST", pages+"/users/alice/disable", formOf(t, body, pages+"/users/alice/disable"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != pages+"/users/alice?done=disabled" {
		t.Fatalf("the carried change: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if !getUser(t, r, root, "alice").Disabled {
		t.Fatal("alice is not disabled")
	}
	// Within the next five minutes the other changes need nothing more.
	resp, body = root.Do(t, "POST", pages+"/users/alice/enable", url.Values{})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable after re-authentication: %d\n%s", resp.StatusCode, body)
	}
	resp, body = root.Get(t, pages+"/users/alice?done=enabled")
	wantPage(t, "the user page after enabling", resp, body, 200, "The user is enabled again.", `id="state">active<`)
	if strings.Contains(body, `id="stale"`) {
		t.Fatal("still told to re-authenticate")
	}

	// The standalone form (the banner's link) returns where it started;
	// a target off the console is not followed.
	clk.Advance(6 * time.Minute)
	r.refresh(t)
	for rd, want := range map[string]string{pages + "/audit?event=logout": pages + "/audit?event=logout", "https://evil.example/": pages + "/", "/.gatehouse/account": pages + "/"} {
		_, body := root.Get(t, pages+"/reauth?rd="+url.QueryEscape(rd))
		f := formOf(t, body, pages+"/reauth")
		f.Set("rd", rd)
		f.Set("password", alicePW)
		resp, body = root.Do(t, "POST", pages+"/reauth", f)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Fatalf("re-authentication from rd=%s: %d to %q, want %s\n%s", rd, resp.StatusCode, resp.Header.Get("Location"), want, body)
		}
	}
	wantAudit(t, r, "admin_api_call", "")
	wantAudit(t, r, "user_disabled", "")
}

// TestConsolePagesPolicy: the policy editor previews a change — how it
// was read, the diff — and stores nothing until Save; Save over a
// version that moved on shows the conflict; the history rolls back.
func TestConsolePagesPolicy(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	root := adminSession(t, r, clk)

	resp, body := root.Get(t, pages+"/policy")
	wantPage(t, "the policy page", resp, body, 200, `id="idle_timeout" name="idle_timeout" type="text" value="30m"`, `<option value="optional" selected>`)
	form := formOf(t, body, pages+"/policy/preview")
	if form.Get("required_roles") != "admin" || form.Get("block_tor") != "login" || form.Get("methods") != "password" {
		t.Fatalf("the form as filled: %v", form)
	}

	form.Set("idle_timeout", "forever")
	resp, body = root.Do(t, "POST", pages+"/policy/preview", form)
	wantPage(t, "an invalid preview", resp, body, 422, `id="problems"`, "idle_timeout")

	form.Set("idle_timeout", "10m")
	form.Set("allow_api", "203.0.113.0/24 ETL servers")
	// The organisation's and the roles' lists take descriptions too.
	if _, shown := form["allow_roles.sales"]; !shown {
		t.Fatalf("no allowlist field for the sales role: %v", form)
	}
	form.Set("allow", "127.0.0.0/8 this machine\n10.1.0.0/16 Bangalore office")
	form.Set("allow_roles.sales", "192.0.2.0/24 Zürich office")
	resp, body = root.Do(t, "POST", pages+"/policy/preview", form)
	wantPage(t, "the preview", resp, body, 200, `id="preview"`, "Read as a change to version 1",
		`<span class="del">-    idle_timeout: 30m0s</span>`, `<span class="add">&#43;    idle_timeout: 10m0s</span>`, "description: ETL servers",
		"description: Bangalore office", "description: Zürich office", `id="plan-impact"`, `value="10m"`)
	if v, _ := storedPolicy(t, r); v != 1 {
		t.Fatalf("a preview stored version %d", v)
	}
	save := formOf(t, body, pages+"/policy")
	if save.Get("version") != "1" || !strings.Contains(save.Get("document"), "idle_timeout: 10m") || strings.Contains(save.Get("document"), "block_tor") {
		t.Fatalf("the save form: %v", save)
	}
	resp, body = root.Do(t, "POST", pages+"/policy", save)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != pages+"/policy?saved=2" {
		t.Fatalf("save: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if v, p := storedPolicy(t, r); v != 2 || p.Session.IdleTimeout != 10*time.Minute || len(p.Network.AllowAPI) != 1 || p.MFA.RequiredRoles[0] != "admin" ||
		!slices.Equal(p.Network.Allow, policy.AllowList{{CIDR: "127.0.0.0/8", Description: "this machine"}, {CIDR: "10.1.0.0/16", Description: "Bangalore office"}}) ||
		!slices.Equal(p.Network.AllowRoles["sales"], policy.AllowList{{CIDR: "192.0.2.0/24", Description: "Zürich office"}}) {
		t.Fatalf("after save: version %d %+v", v, p)
	}
	resp, body = root.Get(t, pages+"/policy?saved=2")
	wantPage(t, "the policy page after saving", resp, body, 200, "Saved: version 2 is in force", `value="10m"`)
	if f := formOf(t, body, pages+"/policy/preview"); f.Get("allow") != "127.0.0.0/8 this machine\n10.1.0.0/16 Bangalore office" ||
		f.Get("allow_roles.sales") != "192.0.2.0/24 Zürich office" || f.Get("allow_api") != "203.0.113.0/24 ETL servers" {
		t.Fatalf("the form after saving shows %q, %q, %q", f.Get("allow"), f.Get("allow_roles.sales"), f.Get("allow_api"))
	}

	// The same save again was planned on version 1: another admin's
	// version in between is never overwritten.
	save.Set("document", "session: {idle_timeout: 20m}")
	resp, body = root.Do(t, "POST", pages+"/policy", save)
	wantPage(t, "a stale save", resp, body, 409, "The policy changed since", "Reload it", `id="unsaved"`, "idle_timeout: 20m")
	if v, _ := storedPolicy(t, r); v != 2 {
		t.Fatalf("a stale save stored version %d", v)
	}

	resp, body = root.Get(t, pages+"/policy/history")
	wantPage(t, "the history", resp, body, 200, `id="version-2"`, "Version 2 (in force)", `<span class="add">&#43;    idle_timeout: 10m0s</span>`,
		`href="/.gatehouse/admin/policy/rollback?to=1"`)
	resp, body = root.Get(t, pages+"/policy/rollback?to=1")
	wantPage(t, "the rollback preview", resp, body, 200, `<span class="add">&#43;    idle_timeout: 30m0s</span>`)
	if v, _ := storedPolicy(t, r); v != 2 {
		t.Fatalf("a rollback preview stored version %d", v)
	}
	resp, body = root.Do(t, "POST", pages+"/policy/rollback", formOf(t, body, pages+"/policy/rollback"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != pages+"/policy?saved=3" {
		t.Fatalf("rollback: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if v, p := storedPolicy(t, r); v != 3 || p.Session.IdleTimeout != 30*time.Minute || len(p.Network.AllowAPI) != 0 || len(p.Network.Allow) != 0 {
		t.Fatalf("after the rollback: version %d %+v", v, p)
	}
	if _, out := runCLI(t, r, "policy", "show"); !strings.Contains(out, "set by root") {
		t.Fatalf("the actor: %s", out)
	}
	wantAudit(t, r, "policy_changed", "")
}

// TestConsolePagesUsers: the user list searches and pages; a user's page
// shows their state, and each of its buttons does what it says — a key
// revoked stops working, a device signed out loses its tokens, an ended
// browser session is sent to the login page.
func TestConsolePagesUsers(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy+mobileConfig), clk)
	r.addUser(t, "root", alicePW, "admin")
	alice := r.addUser(t, "alice", alicePW, "sales")
	for i := range 60 {
		u := &directory.User{Username: "user" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Email: "u" + string(rune('a'+i/26)) + string(rune('a'+i%26)) + "@corp.example", Role: "sales"}
		if err := r.a.dir.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	root := adminSession(t, r, clk)

	resp, body := root.Get(t, pages+"/users?q=ALI")
	wantPage(t, "a search", resp, body, 200, "1–1 of 1 users", `href="/.gatehouse/admin/users/alice"`)
	resp, body = root.Get(t, pages+"/users")
	wantPage(t, "the first page", resp, body, 200, "1–50 of 63 users", `href="/.gatehouse/admin/users?offset=50"`)
	resp, body = root.Get(t, pages+"/users?q=user&offset=50")
	wantPage(t, "the last page", resp, body, 200, "51–60 of 60 users", `href="/.gatehouse/admin/users?q=user"`)
	if strings.Contains(body, `id="next"`) {
		t.Fatal("a next page after the last")
	}
	resp, body = root.Get(t, pages+"/users/nobody")
	wantPage(t, "an unknown user", resp, body, 404, "There is no such user")

	key := createKey(t, r, "--user", "alice")
	keyID, _, _ := apikey.Parse(key)
	app := mobileLogin(t, r, clk, "alice", alicePW)
	devID := deviceIDs(t, r, alice.ID)[0]
	// The app's login went through a browser session of its own; the
	// one to end is the browser's that logs in now.
	before := map[string]bool{}
	recs, err := r.sessions.List(t.Context(), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		before[rec.ID] = true
	}
	aliceB := newBrowser(t, r.URL)
	aliceB.Login(t, "alice", alicePW)
	var sessionID string
	recs, _ = r.sessions.List(t.Context(), alice.ID)
	for _, rec := range recs {
		if !before[rec.ID] {
			sessionID = rec.ID
		}
	}
	if sessionID == "" {
		t.Fatalf("no new session in %+v", recs)
	}
	resp, body = root.Get(t, pages+"/users/alice")
	wantPage(t, "alice's page", resp, body, 200, `id="role">sales<`, `id="template">sales_user (from the role)`, "Not enrolled.",
		`id="key-`+keyID+`"`, `id="device-`+devID+`"`, `id="session-`+sessionID+`"`, `id="disable"`)

	post := func(path, want string, form url.Values) {
		t.Helper()
		if form == nil {
			form = url.Values{}
		}
		resp, body := root.Do(t, "POST", pages+"/users/alice"+path, form)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != pages+"/users/alice?done="+want {
			t.Fatalf("POST %s: %d %q\n%s", path, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	// Another user's key through alice's page is not found.
	bobKeyID, _, _ := apikey.Parse(createKey(t, r, "--user", "root"))
	resp, body = root.Do(t, "POST", pages+"/users/alice/api-keys/"+bobKeyID+"/revoke", url.Values{})
	wantPage(t, "root's key through alice's page", resp, body, 404, "The user has no such API key")

	post("/api-keys/"+keyID+"/revoke", "key_revoked", nil)
	if resp, _ := call(t, "GET", r.URL+"/", "Authorization", "Bearer "+key); resp.StatusCode != 401 {
		t.Fatalf("the revoked key: %d", resp.StatusCode)
	}
	post("/devices/"+devID+"/revoke", "device_signed_out", nil)
	r.refresh(t)
	if resp, _ := appCall(t, app, r.URL, "GET", "/leads/7"); resp.StatusCode != 401 {
		t.Fatalf("the signed-out device: %d", resp.StatusCode)
	}
	post("/sessions/"+sessionID+"/revoke", "session_ended", nil)
	resp, _ = aliceB.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	resp, body = root.Do(t, "POST", pages+"/users/alice/sessions/"+sessionID+"/revoke", url.Values{})
	wantPage(t, "an ended session again", resp, body, 404, "no such live browser session")

	resp, body = root.Get(t, pages+"/users/alice?done=key_revoked")
	wantPage(t, "alice's page after", resp, body, 200, "The API key is revoked", "signed out")
	if strings.Contains(body, `id="revoke-`+keyID+`"`) || strings.Contains(body, `id="signout-`+devID+`"`) || strings.Contains(body, `id="session-`+sessionID+`"`) {
		t.Fatal("buttons for a revoked key or device")
	}

	post("/2fa/required", "2fa_required", url.Values{"required": {"true"}})
	if !getUser(t, r, root, "alice").TwoFactor.UserRequired {
		t.Fatal("the mandate is off")
	}
	post("/2fa/required", "2fa_not_required", url.Values{"required": {"false"}})
	aliceB.Login(t, "alice", alicePW)
	post("/logout", "logged_out", nil)
	r.refresh(t)
	resp, _ = aliceB.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	post("/disable", "disabled", nil)
	loginRefused(t, r, "alice", alicePW)
	post("/enable", "enabled", nil)
	r.refresh(t) // the disable's revocation is applied before the next login, not to it
	aliceC := newBrowser(t, r.URL)
	aliceC.Login(t, "alice", alicePW)

	// Alice's own allowlist, with descriptions, on her page: a refused
	// list keeps what was typed; a saved one applies to her session; an
	// empty one removes it.
	resp, body = root.Get(t, pages+"/users/alice")
	wantPage(t, "alice's page without an allowlist", resp, body, 200, `id="allowlist">none of their own<`, `<label for="allowlist-entries">`)
	al := formOf(t, body, pages+"/users/alice/allowlist")
	if al.Get("allowlist") != "" {
		t.Fatalf("the allowlist form of a user without one: %v", al)
	}
	al.Set("allowlist", "10.1.0.0/16 Bangalore office\n10.0.0.0/33 typo")
	resp, body = root.Do(t, "POST", pages+"/users/alice/allowlist", al)
	wantPage(t, "a bad allowlist", resp, body, 422, "is neither a CIDR nor an IP address", "10.1.0.0/16 Bangalore office\n10.0.0.0/33 typo</textarea>")
	al.Set("allowlist", "127.0.0.1 this machine, 2nd floor\r\n\r\n10.1.2.3/16   Bangalore office\r\n")
	post("/allowlist", "allowlist_set", al)
	if d := getUser(t, r, root, "alice"); len(d.Allowlist) != 2 || d.Allowlist[0].CIDR != "127.0.0.1/32" || d.Allowlist[0].Description != "this machine, 2nd floor" ||
		d.Allowlist[1].CIDR != "10.1.0.0/16" || d.Allowlist[1].Description != "Bangalore office" {
		t.Fatalf("alice's allowlist: %+v", d.Allowlist)
	}
	resp, body = root.Get(t, pages+"/users/alice?done=allowlist_set")
	wantPage(t, "alice's page with an allowlist", resp, body, 200, "allowlist is saved",
		`id="allowlist">127.0.0.1/32 (this machine, 2nd floor); 10.1.0.0/16 (Bangalore office)<`,
		">127.0.0.1/32 this machine, 2nd floor\n10.1.0.0/16 Bangalore office</textarea>")
	r.refresh(t)
	if resp, _ := aliceC.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("alice inside her list: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	al.Set("allowlist", "10.1.0.0/16 Bangalore office")
	post("/allowlist", "allowlist_set", al)
	r.refresh(t)
	if resp, _ := aliceC.Get(t, "/"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("alice outside her list: %d, want 403", resp.StatusCode)
	}
	post("/allowlist", "allowlist_cleared", url.Values{"allowlist": {" \n"}})
	r.refresh(t)
	if resp, _ := aliceC.Get(t, "/"); resp.StatusCode != 200 || len(getUser(t, r, root, "alice").Allowlist) != 0 {
		t.Fatalf("alice after her list is removed: %d", resp.StatusCode)
	}

	// The last admin cannot disable themselves: the page says why. (The
	// first start made "admin", who goes first.)
	if resp, body := root.Do(t, "POST", pages+"/users/admin/disable", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable the bootstrap admin: %d\n%s", resp.StatusCode, body)
	}
	resp, body = root.Do(t, "POST", pages+"/users/root/disable", url.Values{})
	wantPage(t, "disabling the last admin", resp, body, 409, "No other enabled user has the admin feature", `id="username">root<`)
	for _, ev := range []string{"api_key_revoked", "device_revoked", "session_revoked", "mfa_requirement_changed", "user_disabled", "user_enabled", "user_allowlist_changed"} {
		wantAudit(t, r, ev, "")
	}
	events, _ := r.a.dir.ListAudit(context.Background(), 200)
	for _, e := range events {
		if e.Event == audit.APIKeyRevoked && e.Actor != "root" {
			t.Fatalf("actor of %s: %q", e.Event, e.Actor)
		}
	}
}

// TestConsolePagesAuditAndLogoutAll: the dashboard counts the last day's
// logins and blocks; the audit page filters and pages, and its export
// links are the API's with the same filters; "log out everyone" needs
// the phrase typed, then ends every session (the admin's too) and, when
// asked, every key.
func TestConsolePagesAuditAndLogoutAll(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	r.addUser(t, "alice", alicePW, "sales")
	aliceB := newBrowser(t, r.URL)
	aliceB.Login(t, "alice", alicePW)
	newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {"wrong"}, "rd": {"/"}})
	r.a.audit.Record(t.Context(), audit.Event{Event: audit.NetworkBlocked, ClientIP: "192.0.2.9", Detail: map[string]string{"rule": "tor"}})
	for i := range 105 {
		r.a.audit.Record(t.Context(), audit.Event{Event: audit.Logout, Actor: "bulk", Detail: map[string]string{"n": string(rune('a' + i%26))}})
	}
	key := createKey(t, r, "--user", "alice")
	root := adminSession(t, r, clk)

	resp, body := root.Get(t, pages+"/")
	wantPage(t, "the dashboard", resp, body, 200, `<th scope="row">password</th><td>2</td><td>1</td>`, `<th scope="row">tor</th><td>1</td>`,
		"<strong>3</strong> users")

	resp, body = root.Get(t, pages+"/audit?event=logout")
	wantPage(t, "a filtered page", resp, body, 200, `id="older"`, `id="export-csv"`)
	if n := strings.Count(body, "<td>logout</td>"); n != 100 {
		t.Fatalf("first page: %d logout rows", n)
	}
	older := html.UnescapeString(regexp.MustCompile(`href="([^"]*)" rel="next" id="older"`).FindStringSubmatch(body)[1])
	resp, body = root.Get(t, older)
	wantPage(t, "the next page", resp, body, 200, `id="newest"`)
	if n := strings.Count(body, "<td>logout</td>"); n != 5 || strings.Contains(body, `id="older"`) {
		t.Fatalf("second page: %d logout rows", n)
	}
	since := clk.Now().Add(-time.Hour).UTC()
	resp, body = root.Get(t, pages+"/audit?user=alice&since="+since.Format("2006-01-02T15:04"))
	wantPage(t, "by user and time", resp, body, 200, "<td>login_success</td>", "<td>login_failure</td>")
	if strings.Contains(body, "<td>logout</td>") {
		t.Fatal("another user's events")
	}
	csvLink := html.UnescapeString(regexp.MustCompile(`href="([^"]*)" id="export-csv"`).FindStringSubmatch(body)[1])
	wantLink := "/.gatehouse/api/v1/admin/audit?format=csv&since=" + url.QueryEscape(since.Truncate(time.Minute).Format(time.RFC3339)) + "&user=alice"
	if csvLink != wantLink {
		t.Fatalf("export link %q, want %q", csvLink, wantLink)
	}
	resp, body = root.Get(t, csvLink)
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "id,time,event") || !strings.Contains(body, "login_failure") || strings.Contains(body, ",logout,") {
		t.Fatalf("the export: %d\n%s", resp.StatusCode, body)
	}
	for q, want := range map[string]string{"user=nobody": "There is no such user", "event=login_fail": "did you mean", "since=yesterday": "since: write a time"} {
		resp, body := root.Get(t, pages+"/audit?"+q)
		if resp.StatusCode < 400 || !strings.Contains(body, want) {
			t.Fatalf("audit?%s: %d, want %q\n%s", q, resp.StatusCode, want, body)
		}
	}

	_, body = root.Get(t, pages+"/logout-all")
	form := formOf(t, body, pages+"/logout-all")
	form.Set("confirm", "log out")
	form.Set("include_api_keys", "on")
	resp, body = root.Do(t, "POST", pages+"/logout-all", form)
	wantPage(t, "without the phrase", resp, body, 400, "Nothing was done")
	r.refresh(t)
	if resp, _ := aliceB.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("alice after the refused logout-all: %d", resp.StatusCode)
	}
	form.Set("confirm", "log out everyone")
	resp, body = root.Do(t, "POST", pages+"/logout-all", form)
	wantPage(t, "log out everyone", resp, body, 200, "the sessions and devices of 3 users end", "1 API keys are revoked")
	r.refresh(t)
	for _, b := range []*browser{aliceB, root} {
		resp, _ := b.Get(t, "/")
		wantLoginRedirect(t, resp, "")
	}
	if resp, _ := call(t, "GET", r.URL+"/", "Authorization", "Bearer "+key); resp.StatusCode != 401 {
		t.Fatalf("the key after log out everyone: %d", resp.StatusCode)
	}
	wantAudit(t, r, "logout_all", "")
}

// TestBrowserAdminConsole is the admin's story in real Chromium, with
// JavaScript off and a 360 px window (testdata/browser/admin.mjs): TOTP
// enrolment, re-authentication, a policy change read in preview first, a
// user's key revoked and browser session ended, everyone logged out,
// and an audit CSV holding those events.
func TestBrowserAdminConsole(t *testing.T) {
	e := newE2E(t)
	userPW := e.start("policy: {mfa: {mode: optional, required_roles: [admin]}}\n")
	adminPW := rand.Text()
	add := exec.Command(e.bin, "user", "add", "--username", "root", "--email", "root@corp.example", "--role", "admin",
		"--password-stdin", "--config", e.cfg)
	add.Env = e2eEnv()
	add.Stdin = strings.NewReader(adminPW + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("gatehouse user add: %v\n%s", err, out)
	}
	create := exec.Command(e.bin, "apikey", "create", "--user", e2eUser, "--config", e.cfg)
	create.Env = e2eEnv()
	out, err := create.Output()
	if err != nil {
		t.Fatalf("gatehouse apikey create: %v", err)
	}
	keyID, _, err := apikey.Parse(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("apikey create printed %q: %v", out, err)
	}
	e.node("admin.mjs", e.base, "root", adminPW, e2eUser, userPW, keyID, e.dir)
	// Copies outside the test's temp dir, for a human to look at.
	for _, name := range []string{"admin-policy-preview.png", "admin-user.png", "admin-audit.png"} {
		if png, err := os.ReadFile(filepath.Join(e.dir, name)); err == nil {
			if err := os.WriteFile(filepath.Join(os.TempDir(), "gatehouse-"+name), png, 0o644); err == nil {
				t.Logf("screenshot at 360 px: %s", filepath.Join(os.TempDir(), "gatehouse-"+name))
			}
		}
	}
}

// TestConsoleReturnAfterLogin: a browser sent to the login page from a
// console page comes back to it after logging in.
func TestConsoleReturnAfterLogin(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), nil)
	r.addUser(t, "ops", alicePW, "ops")
	b := newBrowser(t, r.URL)
	resp, _ := b.Get(t, "/.gatehouse/admin/users?q=ali")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || loc != "/.gatehouse/login?rd=%2F.gatehouse%2Fadmin%2Fusers%3Fq%3Dali" {
		t.Fatalf("console page without a session: %d %q", resp.StatusCode, loc)
	}
	u, _ := url.Parse(loc)
	resp, _ = b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"ops"}, "password": {alicePW}, "rd": {u.Query().Get("rd")}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/.gatehouse/admin/users?q=ali" {
		t.Fatalf("after login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
