package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEnforcePasswordReset: a password an admin sets with --must-change
// works for one login, which reaches nothing but the change page until
// the user picks a password of their own; the attacks on the step are
// refused and change nothing.
func TestEnforcePasswordReset(t *testing.T) {
	clk := newClock()
	up := startUpstream(t)
	r := startReplica(t, sqliteConfig(t, up, ""), clk)
	r.addUser(t, "carol", alicePW, "sales")
	r.addUser(t, "dave", alicePW, "sales")
	const temp, own = "temporary-passphrase-1", "carols-own-passphrase"

	before := newBrowser(t, r.URL)
	before.Login(t, "carol", alicePW)
	if code, out := runCLIStdin(t, r, temp+"\n", "user", "set-password", "carol", "--password-stdin", "--must-change"); code != 0 ||
		!strings.Contains(out, "must choose a new password at the next login") {
		t.Fatalf("set-password --must-change: %d %s", code, out)
	}
	if code, out := runCLI(t, r, "user", "show", "carol"); code != 0 || !strings.Contains(out, "must change it at the next login") {
		t.Fatalf("user show: %d %s", code, out)
	}
	r.refresh(t)
	if resp, _ := before.Get(t, "/"); resp.StatusCode != http.StatusFound {
		t.Fatalf("carol's earlier session after the admin set a password: %d, want it ended", resp.StatusCode)
	}

	carol := newBrowser(t, r.URL)
	carol.Login(t, "carol", temp)
	pending := carol.Cookie("gatehouse").Value
	for _, path := range []string{"/", "/.gatehouse/account", "/reports?x=1"} {
		resp, _ := carol.Get(t, path)
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, "/.gatehouse/password?") {
			t.Fatalf("GET %s owing a new password: %d to %q, want the change page", path, resp.StatusCode, loc)
		}
	}
	// A program's request (no HTML wanted) gets JSON naming the step.
	if resp, body := carol.Do(t, "POST", "/api/leads", nil, "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(body, `"password_change_required"`) {
		t.Fatalf("POST owing a new password: %d %s, want 401 password_change_required", resp.StatusCode, body)
	}
	resp, body := carol.Get(t, "/.gatehouse/password?rd=/reports")
	if resp.StatusCode != 200 || !strings.Contains(body, `autocomplete="new-password"`) || !strings.Contains(body, "Choose your own") {
		t.Fatalf("change page: %d\n%s", resp.StatusCode, body)
	}

	// Refused, and nothing changes: no session owing the step, a full
	// session of someone else, two different passwords, the password
	// given, one too short, a cross-site post.
	change := func(b *browser, pw, confirm string, hdr ...string) (*http.Response, string) {
		return b.Do(t, "POST", "/.gatehouse/password", url.Values{"new_password": {pw}, "confirm_password": {confirm}, "rd": {"/reports"}}, hdr...)
	}
	if resp, _ := change(newBrowser(t, r.URL), own, own); resp.StatusCode/100 != 3 || !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/login") {
		t.Fatalf("a change without a session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	dave := newBrowser(t, r.URL)
	dave.Login(t, "dave", alicePW)
	if resp, _ := change(dave, own, own); resp.StatusCode != http.StatusSeeOther || strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/password") {
		t.Fatalf("a full session posting the step: %d %q, want sent on", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range []struct{ pw, confirm, want string }{
		{own, own + "x", "not the same"},
		{temp, temp, "different from the one you were given"},
		{"short", "short", "at least 8 characters"},
	} {
		if resp, body := change(carol, c.pw, c.confirm); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Fatalf("change to %q/%q: %d, want 400 saying %q\n%s", c.pw, c.confirm, resp.StatusCode, c.want, body)
		}
	}
	if resp, _ := change(carol, own, own, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site change: %d, want 403", resp.StatusCode)
	}
	loginRefused(t, r, "carol", own)

	// The change: a new session (the pending one is gone), on to rd.
	resp, _ = change(carol, own, own)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/reports" {
		t.Fatalf("the change: %d %q, want 303 to /reports", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := carol.Cookie("gatehouse").Value; got == pending {
		t.Fatal("the session id did not change when the login completed")
	}
	if resp, _ := carol.Get(t, "/reports"); resp.StatusCode != 200 {
		t.Fatalf("carol after choosing her password: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	old := newBrowser(t, r.URL)
	old.SetCookie("gatehouse", pending)
	if resp, _ := old.Get(t, "/"); resp.StatusCode != http.StatusFound {
		t.Fatalf("the pending session's cookie after the change: %d, want refused", resp.StatusCode)
	}
	// The step is owed once: the same post again changes nothing.
	if resp, _ := change(carol, "yet-another-passphrase", "yet-another-passphrase"); resp.StatusCode != http.StatusSeeOther ||
		strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/password") {
		t.Fatalf("a second change: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	loginRefused(t, r, "carol", temp)
	loginRefused(t, r, "carol", "yet-another-passphrase")
	next := newBrowser(t, r.URL)
	next.Login(t, "carol", own)
	if resp, _ := next.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("carol's next login: %d %q, want no step owed", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, out := runCLI(t, r, "user", "show", "carol"); code != 0 || strings.Contains(out, "must change it") {
		t.Fatalf("user show after the change: %d %s", code, out)
	}
	wantAudit(t, r, "password_change_required", "")
	wantAudit(t, r, "password_changed", "")
}
