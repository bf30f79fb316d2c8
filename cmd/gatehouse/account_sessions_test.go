package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/proxy/gatewaytest"
)

// sessionOf is the session id the upstream sees for b's next request.
func sessionOf(t *testing.T, b *browser, up *upstream) string {
	t.Helper()
	if resp, _ := b.Get(t, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("upstream request: %d", resp.StatusCode)
	}
	id := up.Last(t).Header.Get("X-Gatehouse-Session")
	if id == "" {
		t.Fatal("no X-Gatehouse-Session")
	}
	return id
}

// signedIn reports whether b's session still reaches the upstream.
func signedIn(t *testing.T, b *browser) bool {
	t.Helper()
	resp, _ := b.Get(t, "/")
	return resp.StatusCode == http.StatusOK
}

// TestAccountSessions: a user lists their own browser sessions (this one
// marked, with browser and address), signs one out and then all the
// others; each end is audited with the session and reason user_revoked.
// Another user, a cross-site form and the session's own id cannot be
// used to end anything.
func TestAccountSessions(t *testing.T) {
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), newClock())
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "bob", alicePW, "sales")
	var bs [3]*browser
	var ids [3]string
	for i := range bs {
		bs[i] = newBrowser(t, r.URL)
		bs[i].Login(t, "alice", alicePW)
		ids[i] = sessionOf(t, bs[i], up)
	}
	me, second, third := bs[0], bs[1], bs[2]
	end := func(id string) string { return "/.gatehouse/account/sessions/" + id + "/end" }

	_, body := me.Get(t, "/.gatehouse/account", "User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36")
	for i, id := range ids {
		if !strings.Contains(body, `id="session-`+id+`"`) {
			t.Fatalf("session %d (%s) not listed:\n%s", i, id, body)
		}
	}
	if strings.Contains(body, `action="`+end(ids[0])+`"`) || !strings.Contains(body, `action="`+end(ids[1])+`"`) ||
		!strings.Contains(body, "This browser") || !strings.Contains(body, "127.0.0.1") || !strings.Contains(body, `id="end-others"`) {
		t.Fatalf("the sessions table: this one marked and not endable, the others endable:\n%s", body)
	}

	bob := newBrowser(t, r.URL)
	bob.Login(t, "bob", alicePW)
	if _, body := bob.Get(t, "/.gatehouse/account"); strings.Contains(body, ids[1]) {
		t.Fatal("bob's account page shows alice's session")
	}
	foreign, foreignBody := bob.Do(t, "POST", end(ids[1]), nil)
	unknown, unknownBody := bob.Do(t, "POST", end("0123456789abcdef0123456789abcdef"), nil)
	if foreign.StatusCode != http.StatusNotFound || unknown.StatusCode != http.StatusNotFound || foreignBody != unknownBody {
		t.Fatalf("bob ending alice's session: %d, an unknown one: %d", foreign.StatusCode, unknown.StatusCode)
	}
	if resp, _ := me.Do(t, "POST", end(ids[0]), nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("ending the session through its own row: %d, want 404 (that is Log out)", resp.StatusCode)
	}
	if resp, _ := me.Do(t, "POST", end(ids[1]), nil, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site end: %d, want 403", resp.StatusCode)
	}
	if !signedIn(t, second) || !signedIn(t, me) {
		t.Fatal("a refused attempt ended a session")
	}

	resp, body := me.Do(t, "POST", end(ids[1]), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "The session is signed out.") || strings.Contains(body, `id="session-`+ids[1]+`"`) {
		t.Fatalf("ending one: %d\n%s", resp.StatusCode, body)
	}
	if signedIn(t, second) {
		t.Fatal("the ended session still reaches the upstream")
	}
	if !signedIn(t, third) || !signedIn(t, me) {
		t.Fatal("ending one session ended another")
	}
	wantRevoked(t, r, ids[1], "user_revoked")

	resp, body = me.Do(t, "POST", "/.gatehouse/account/sessions/end-others", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Every other session is signed out.") || strings.Contains(body, `id="end-others"`) {
		t.Fatalf("ending the others: %d\n%s", resp.StatusCode, body)
	}
	if signedIn(t, third) || !signedIn(t, me) {
		t.Fatal("end-others: want the third ended and this one kept")
	}
	wantRevoked(t, r, ids[2], "user_revoked")
	if !signedIn(t, bob) {
		t.Fatal("alice's end-others ended bob's session")
	}
}

// wantRevoked requires a session_revoked audit event for session id with
// reason.
func wantRevoked(t *testing.T, r *replica, id, reason string) {
	t.Helper()
	events, err := r.a.dir.ListAudit(t.Context(), 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Event == "session_revoked" && e.Detail["session"] == id && e.Detail["reason"] == reason {
			return
		}
	}
	t.Fatalf("no session_revoked for %s with reason %s", id, reason)
}

// TestAccountPasswordChange: the account page changes the password only
// after the current one, whatever the session's age; a wrong current
// password, two different new ones, a weak one or the same one change
// nothing; a change ends every other session (each reported) and keeps
// this one, and the old password stops working.
func TestAccountPasswordChange(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), clk)
	r.addUser(t, "alice", alicePW, "sales")
	me, other := newBrowser(t, r.URL), newBrowser(t, r.URL)
	me.Login(t, "alice", alicePW)
	other.Login(t, "alice", alicePW)
	otherID := sessionOf(t, other, up)
	if _, body := me.Get(t, "/.gatehouse/account"); !strings.Contains(body, `id="password-form"`) || !strings.Contains(body, `autocomplete="current-password"`) {
		t.Fatalf("no password form:\n%s", body)
	}
	const newPW = "a new and longer passphrase"
	change := func(current, pw, confirm string) (*http.Response, string) {
		return me.Do(t, "POST", "/.gatehouse/account/password", url.Values{"current": {current}, "new_password": {pw}, "confirm_password": {confirm}})
	}
	for _, c := range []struct {
		name, current, pw, confirm string
		status                     int
		says                       string
	}{
		{"no current password", "", newPW, newPW, http.StatusForbidden, "Enter your current password"},
		{"a wrong current password", "not the password", newPW, newPW, http.StatusForbidden, "Enter your current password"},
		{"two different new ones", alicePW, newPW, newPW + "x", http.StatusBadRequest, "not the same"},
		{"a weak one", alicePW, "short", "short", http.StatusBadRequest, "at least"},
		{"the same one", alicePW, alicePW, alicePW, http.StatusBadRequest, "different from your current one"},
	} {
		resp, body := change(c.current, c.pw, c.confirm)
		if resp.StatusCode != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d, want %d saying %q\n%s", c.name, resp.StatusCode, c.status, c.says, body)
		}
	}
	if !signedIn(t, other) {
		t.Fatal("a refused change ended the other session")
	}

	clk.Advance(10 * time.Minute) // past the five minutes: the password is asked for anyway
	r.refresh(t)
	resp, body := change(alicePW, newPW, newPW)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Your password is changed") {
		t.Fatalf("change: %d\n%s", resp.StatusCode, body)
	}
	if !signedIn(t, me) {
		t.Fatal("the session that changed the password ended")
	}
	if signedIn(t, other) {
		t.Fatal("the other session survived the password change")
	}
	wantRevoked(t, r, otherID, "password_changed")
	wantAudit(t, r, "password_changed", "")
	if resp, _ := newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}, "rd": {"/"}}); resp.StatusCode == http.StatusSeeOther {
		t.Fatal("the old password still logs in")
	}
	newBrowser(t, r.URL).Login(t, "alice", newPW)
}

// TestRecoveryCodesSaved: the codes page (enrolment, new codes) offers
// the codes as a download and leaves only through "I have saved these
// codes": unticked, the form is refused with a way on; ticked, it goes
// where the page was going, on this origin only (the field is the
// browser's to send, so a forged one must not make an open redirect).
func TestRecoveryCodesSaved(t *testing.T) {
	clk := newClock()
	r, _ := mfaReplica(t, clk, "{mode: optional}")
	b := newBrowser(t, r.URL)
	loginTo(t, b, "alice", "/")
	_, codes := gatewaytest.Enrol(t, b, clk)
	_, body := b.Do(t, "POST", "/.gatehouse/account/2fa/recovery", url.Values{"code": {codes[0]}})
	if !strings.Contains(body, `id="saved-form"`) || !strings.Contains(body, `href="data:text/plain;charset=utf-8,`) ||
		!strings.Contains(body, `name="rd" value="/.gatehouse/account"`) || !strings.Contains(body, "codes.js") {
		t.Fatalf("the new codes page:\n%s", body)
	}
	saved := func(form url.Values) *http.Response {
		resp, _ := b.Do(t, "POST", "/.gatehouse/codes/saved", form)
		return resp
	}
	if resp := saved(url.Values{"rd": {"/.gatehouse/account"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("not ticked: %d, want 400", resp.StatusCode)
	}
	for rd, want := range map[string]string{
		"/.gatehouse/account":    "/.gatehouse/account",
		"/deals?id=7":            "/deals?id=7",
		"https://evil.example/x": "/",
		"//evil.example/x":       "/",
		"/\\evil.example":        "/",
		"javascript:alert(1)":    "/",
	} {
		resp := saved(url.Values{"rd": {rd}, "saved": {"on"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("saved, rd %q: %d to %q, want 303 to %q", rd, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/codes/saved", url.Values{"rd": {"/"}, "saved": {"on"}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site: %d, want 403", resp.StatusCode)
	}
}
