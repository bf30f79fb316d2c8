package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestConsoleUserForms: the console creates, edits, sets a password for
// and deletes a user with plain forms; every mistake is shown with
// nothing changed, a deletion needs the username typed, and a password
// typed into a stale session's change is never written back into the
// re-authentication page.
func TestConsoleUserForms(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	r.addUser(t, "alice", alicePW, "sales")
	root, phone := adminWithPhone(t, r, clk)

	resp, body := root.Get(t, pages+"/users")
	wantPage(t, "the user list", resp, body, 200, `href="/.gatehouse/admin/new-user"`)
	resp, body = root.Get(t, pages+"/new-user")
	wantPage(t, "the new-user form", resp, body, 200, `<option value="sales">`, `id="nu-must-change" name="must_change" value="true" checked`)
	form := formOf(t, body, pages+"/new-user")
	form.Set("username", "Carol")
	form.Set("email", "carol@corp.example")
	form.Set("display_name", "Carol C")
	form.Set("role", "sales")
	form.Set("groups", "east, west")
	form.Set("password", "a given passphrase")
	form.Set("confirm_password", "a given passphrase!")
	resp, body = root.Do(t, "POST", pages+"/new-user", form)
	wantPage(t, "two different passwords", resp, body, 422, "not the same", `value="carol@corp.example"`)
	if strings.Contains(body, "a given passphrase") {
		t.Fatal("the form wrote the password back into the page")
	}
	form.Set("confirm_password", "a given passphrase")
	form.Set("role", "slaes")
	resp, body = root.Do(t, "POST", pages+"/new-user", form)
	wantPage(t, "an unknown role", resp, body, 422, "nothing was changed", "slaes")
	form.Set("role", "sales")
	form.Set("email", "alice@corp.example")
	if _, err := r.a.dir.UserByUsername(t.Context(), "alice"); err == nil {
		u, _ := r.a.dir.UserByUsername(t.Context(), "alice")
		u.Email = "alice@corp.example"
		if err := r.a.dir.UpdateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	resp, body = root.Do(t, "POST", pages+"/new-user", form)
	wantPage(t, "a taken email", resp, body, 409, "already exists")
	form.Set("email", "carol@corp.example")
	resp, _ = root.Do(t, "POST", pages+"/new-user", form, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site create: %d, want 403", resp.StatusCode)
	}
	if _, err := r.a.dir.UserByUsername(t.Context(), "carol"); err == nil {
		t.Fatal("a refused create made the user")
	}
	resp, _ = root.Do(t, "POST", pages+"/new-user", form)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != pages+"/users/carol?done=created" {
		t.Fatalf("create: %d %q", resp.StatusCode, loc)
	}
	carol, err := r.a.dir.UserByUsername(t.Context(), "carol")
	if err != nil || !carol.MustChangePassword || carol.DisplayName != "Carol C" || strings.Join(carol.Groups, ",") != "east,west" {
		t.Fatalf("the created user: %+v %v", carol, err)
	}
	resp, body = root.Get(t, pages+"/users/carol?done=created")
	wantPage(t, "the new user's page", resp, body, 200, "The user is created.", "must choose a new one at the next login")

	// Edit: the profile form as the page fills it, one field changed.
	ed := formOf(t, body, pages+"/users/carol/edit")
	ed.Set("display_name", "Carol Castle")
	resp, _ = root.Do(t, "POST", pages+"/users/carol/edit", ed)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=edited") {
		t.Fatalf("edit: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	ed.Set("role", "nope")
	resp, body = root.Do(t, "POST", pages+"/users/carol/edit", ed)
	wantPage(t, "an edit to an unknown role", resp, body, 422, "nothing was changed")
	if u, _ := r.a.dir.UserByUsername(t.Context(), "carol"); u.DisplayName != "Carol Castle" || u.Role != "sales" {
		t.Fatalf("after the edits: %+v", u)
	}

	// Password: mismatch and empty refused; without enforcing a reset
	// the user logs straight in.
	pw := url.Values{"password": {"the admin's choice 1"}, "confirm_password": {"the admin's choice 2"}}
	resp, body = root.Do(t, "POST", pages+"/users/carol/password", pw)
	wantPage(t, "two different passwords", resp, body, 422, "the two passwords are not the same")
	resp, body = root.Do(t, "POST", pages+"/users/carol/password", url.Values{})
	wantPage(t, "no password", resp, body, 422, "enter the new password")
	pw.Set("confirm_password", "the admin's choice 1")
	resp, _ = root.Do(t, "POST", pages+"/users/carol/password", pw)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=password_set") {
		t.Fatalf("set password: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if u, _ := r.a.dir.UserByUsername(t.Context(), "carol"); u.MustChangePassword {
		t.Fatal("a password set without enforcing a reset must not owe one")
	}
	b := newBrowser(t, r.URL)
	b.Login(t, "carol", "the admin's choice 1")
	if resp, _ := b.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("carol's login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A stale session: the change goes through re-authentication, which
	// carries the other fields but not the password.
	clk.Advance(6 * time.Minute)
	r.refresh(t)
	pw.Set("must_change", "true")
	resp, body = root.Do(t, "POST", pages+"/users/carol/password", pw)
	wantPage(t, "a stale change", resp, body, 403, "Confirm it is you")
	if strings.Contains(body, "the admin&#39;s choice") || strings.Contains(body, "the admin's choice") {
		t.Fatalf("the re-authentication page carries the password:\n%s", body)
	}

	reauth := formOf(t, body, pages+"/reauth")
	reauth.Set("code", phone.Code(0))
	resp, body = root.Do(t, "POST", pages+"/reauth", reauth)
	wantPage(t, "re-authentication", resp, body, 200, "Confirmed", `action="/.gatehouse/admin/users/carol/password"`)
	resp, body = root.Do(t, "POST", pages+"/users/carol/password", formOf(t, body, pages+"/users/carol/password"))
	wantPage(t, "the carried change without its password", resp, body, 422, "enter the new password")

	// Delete: the username must be typed.
	resp, body = root.Do(t, "POST", pages+"/users/carol/delete", url.Values{"confirm": {"carl"}})
	wantPage(t, "a delete without the name", resp, body, 422, "type the username")
	if _, err := r.a.dir.UserByUsername(t.Context(), "carol"); err != nil {
		t.Fatal("a refused delete removed the user")
	}
	resp, _ = root.Do(t, "POST", pages+"/users/carol/delete", url.Values{"confirm": {"carol"}, "erase": {"true"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != pages+"/users?done=erased" {
		t.Fatalf("delete: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = root.Get(t, pages+"/users?done=erased")
	wantPage(t, "the list after the erasure", resp, body, 200, "The user is erased")
	if _, err := r.a.dir.UserByUsername(t.Context(), "carol"); err == nil {
		t.Fatal("the user is still there")
	}
	for _, ev := range []string{"user_created", "user_changed", "password_set", "user_deleted", "user_erased"} {
		wantAudit(t, r, ev, "")
	}
}
