package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/apikey"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

const usersAPI = "/.gatehouse/api/v1/admin/users"

// userDetailOf decodes GET /admin/users/{username}'s answer.
type userDetailOf struct {
	Username       string
	DisplayName    string `json:"display_name"`
	Role           string
	Groups         []string
	Disabled       bool
	Template       string
	TemplateSource string `json:"template_source"`
	Admin          bool
	HasPassword    bool `json:"has_password"`
	TwoFactor      struct {
		Enrolled, Required bool
		UserRequired       bool `json:"user_required"`
	} `json:"two_factor"`
	Allowlist    []struct{ CIDR, Description string } `json:"allowlist"`
	AllowedCIDRs []string                             `json:"allowed_cidrs"`
	APIKeys      []struct{ ID, State string }         `json:"api_keys"`
	Devices      []struct{ ID, State string }
}

func getUser(t *testing.T, r *replica, admin *browser, username string) userDetailOf {
	t.Helper()
	code, body := apiCall(t, r.URL, admin, "GET", usersAPI+"/"+username, "")
	var d userDetailOf
	if err := json.Unmarshal([]byte(body), &d); code != 200 || err != nil {
		t.Fatalf("GET %s: %d %s", username, code, body)
	}
	return d
}

// loginRefused checks a login with username and pw does not get in.
func loginRefused(t *testing.T, r *replica, username, pw string) {
	t.Helper()
	resp, _ := newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {username}, "password": {pw}, "rd": {"/"}})
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatalf("login %s: 303 to %s, want a refusal", username, resp.Header.Get("Location"))
	}
}

// TestConsoleUsersAccess: every user route refuses whoever may not
// administer, and changes nothing for them; a stale admin session may
// read a user but must re-authenticate to change one (another admin, a
// password or a second factor included); an admin-scoped key need not.
func TestConsoleUsersAccess(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	r.addUser(t, "alice", alicePW, "sales")
	r.addUser(t, "ops", alicePW, "ops")
	bob := r.addUser(t, "bob", alicePW, "sales")
	bobKeyID, _, _ := apikey.Parse(createKey(t, r, "--user", "bob"))
	if err := r.a.dir.AddDevice(t.Context(), directory.Device{ID: "dev-bob", UserID: bob.ID, ClientID: "mobile"}); err != nil {
		t.Fatal(err)
	}
	type route struct {
		method, path, body string
		change             bool
	}
	bobB := newBrowser(t, r.URL)
	bobB.Login(t, "bob", alicePW)
	recs, err := r.sessions.List(t.Context(), bob.ID)
	if err != nil || len(recs) != 1 {
		t.Fatalf("bob's sessions: %v %v", recs, err)
	}
	routes := []route{
		{"GET", usersAPI + "/bob", "", false},
		{"GET", usersAPI + "/bob/sessions", "", false},
		{"GET", "/.gatehouse/api/v1/admin/explain/network?address=192.0.2.1&user=bob", "", false},
		{"GET", "/.gatehouse/api/v1/admin/explain/access?user=bob&path=/", "", false},
		{"DELETE", usersAPI + "/bob/sessions/" + recs[0].ID, "", true},
		{"DELETE", usersAPI + "/bob/api-keys", "", true},
		{"POST", usersAPI, `{"username":"mallory","email":"m@corp.example","role":"admin","password":"` + alicePW + `"}`, true},
		{"PATCH", usersAPI + "/bob", `{"role":"admin"}`, true},
		{"DELETE", usersAPI + "/bob", "", true},
		{"POST", usersAPI + "/bob/disable", "", true},
		{"POST", usersAPI + "/bob/enable", "", true},
		{"PUT", usersAPI + "/bob/password", `{"password":"mallory's new password"}`, true},
		{"POST", usersAPI + "/bob/2fa/reset", "", true},
		{"PUT", usersAPI + "/bob/2fa/required", `{"required":false}`, true},
		{"PUT", usersAPI + "/bob/allowlist", `{"cidrs":["203.0.113.0/24"]}`, true},
		{"DELETE", usersAPI + "/bob/api-keys/" + bobKeyID, "", true},
		{"DELETE", usersAPI + "/bob/devices/dev-bob", "", true},
		{"DELETE", usersAPI + "/bob/devices", "", true},
		// Another admin: root, changed by a stale session below.
		{"PATCH", usersAPI + "/root", `{"display_name":"Root"}`, true},
	}
	alice := newBrowser(t, r.URL)
	alice.Login(t, "alice", alicePW)
	ops := newBrowser(t, r.URL)
	ops.Login(t, "ops", alicePW)
	aliceKey := createKey(t, r, "--user", "alice")
	rootKey := createKey(t, r, "--user", "root")
	for _, rt := range routes {
		for _, c := range []struct {
			name string
			b    *browser
			hdr  []string
			want int
			code string
		}{
			{"no credential", nil, nil, 401, "unauthenticated"},
			{"a non-admin", alice, nil, 403, "forbidden"},
			{"an admin without a second factor", ops, nil, 403, "mfa_required"},
			{"a non-admin's API key", nil, []string{"Authorization", "Bearer " + aliceKey}, 403, "forbidden"},
			{"an admin's key without the admin scope", nil, []string{"Authorization", "Bearer " + rootKey}, 403, "forbidden"},
		} {
			if got, body := apiCall(t, r.URL, c.b, rt.method, rt.path, rt.body, c.hdr...); got != c.want || errorCode(body) != c.code {
				t.Errorf("%s %s by %s: %d %s, want %d %s", rt.method, rt.path, c.name, got, body, c.want, c.code)
			}
		}
	}
	// A cross-site page cannot drive an admin's browser either.
	root := adminSession(t, r, clk)
	if code, _ := apiCall(t, r.URL, root, "POST", usersAPI+"/bob/disable", "", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); code != 403 {
		t.Fatalf("cross-site disable: %d", code)
	}
	// None of it changed bob, and none of it made mallory.
	d := getUser(t, r, root, "bob")
	if d.Disabled || d.Role != "sales" || len(d.AllowedCIDRs) != 0 || len(d.APIKeys) != 1 || d.APIKeys[0].State != "active" ||
		len(d.Devices) != 1 || d.Devices[0].State != "signed_in" {
		t.Fatalf("bob after the refused calls: %+v", d)
	}
	if resp, _ := bobB.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("bob's session after the refused calls: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "GET", r.URL+"/", "Authorization", "Bearer "+aliceKey); resp.StatusCode != 200 {
		t.Fatalf("alice's key: %d", resp.StatusCode)
	}
	if code, _ := apiCall(t, r.URL, root, "GET", usersAPI+"/mallory", ""); code != 404 {
		t.Fatalf("mallory: %d", code)
	}

	// Six minutes on, root's session reads but changes nothing without
	// confirming it is root.
	clk.Advance(6 * time.Minute)
	r.refresh(t)
	for _, rt := range routes {
		code, body := apiCall(t, r.URL, root, rt.method, rt.path, rt.body)
		switch {
		case rt.change && (code != 403 || errorCode(body) != "reauth_required"):
			t.Errorf("%s %s by a stale admin session: %d %s, want 403 reauth_required", rt.method, rt.path, code, body)
		case !rt.change && code != 200:
			t.Errorf("%s %s by a stale admin session: %d %s", rt.method, rt.path, code, body)
		}
	}
	if d := getUser(t, r, root, "root"); d.DisplayName != "" || !d.Admin {
		t.Fatalf("root after the stale change: %+v", d)
	}
	adminKey := createKey(t, r, "--user", "root", "--scopes", "admin")
	if code, body := apiCall(t, r.URL, nil, "PUT", usersAPI+"/bob/2fa/required", `{"required":true}`, "Authorization", "Bearer "+adminKey); code != 200 ||
		!strings.Contains(body, `"user_required":true`) {
		t.Fatalf("2FA mandate with an admin key: %d %s", code, body)
	}
	wantAudit(t, r, "admin_api_call", "")
}

// TestConsoleUsersLifecycle: an admin creates a user, edits, disables,
// enables and deletes them; the user's browser session follows each step.
func TestConsoleUsersLifecycle(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	root := adminSession(t, r, clk)

	code, body := apiCall(t, r.URL, root, "POST", usersAPI,
		`{"username":"Carol","email":"carol@corp.example","role":"sales","display_name":"Carol","groups":["east"],"password":"`+alicePW+`","must_change":false}`)
	var d userDetailOf
	if json.Unmarshal([]byte(body), &d); code != 201 || d.Username != "carol" || !d.HasPassword || d.Template != "sales_user" ||
		d.TemplateSource != "role" || d.Admin || d.TwoFactor.Enrolled || !slices.Equal(d.Groups, []string{"east"}) {
		t.Fatalf("create: %d %s", code, body)
	}
	if strings.Contains(body, "argon2") || strings.Contains(strings.ToLower(body), "hash") {
		t.Fatalf("the answer shows a secret: %s", body)
	}
	if code, body := apiCall(t, r.URL, root, "POST", usersAPI, `{"username":"carol","email":"other@corp.example","role":"sales"}`); code != 409 || errorCode(body) != "conflict" {
		t.Fatalf("create a second carol: %d %s", code, body)
	}
	// Without a password the user has none (a federated login, or an
	// admin sets one later).
	if code, body := apiCall(t, r.URL, root, "POST", usersAPI, `{"username":"fed","email":"fed@corp.example","role":"sales"}`); code != 201 ||
		!strings.Contains(body, `"has_password":false`) {
		t.Fatalf("create without a password: %d %s", code, body)
	}
	carol := newBrowser(t, r.URL)
	carol.Login(t, "carol", alicePW)
	if resp, _ := carol.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("carol: %d", resp.StatusCode)
	}

	// Edit: only the fields present change, and the session, which
	// carries the old profile, ends.
	code, body = apiCall(t, r.URL, root, "PATCH", usersAPI+"/carol", `{"display_name":"Carol Q","groups":["east","west"]}`)
	var edit struct {
		User    userDetailOf
		Changed []string
	}
	if json.Unmarshal([]byte(body), &edit); code != 200 || edit.User.DisplayName != "Carol Q" || edit.User.Role != "sales" ||
		!slices.Equal(edit.Changed, []string{"display_name", "groups"}) {
		t.Fatalf("edit: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "PATCH", usersAPI+"/carol", `{"display_name":"Carol Q"}`); code != 200 || !strings.Contains(body, `"changed":[]`) {
		t.Fatalf("an edit that changes nothing: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "PATCH", usersAPI+"/carol", `{"display_name":"a\u0007b"}`); code != 422 || !strings.Contains(body, `"field":"display_name"`) {
		t.Fatalf("a display name with a control character: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "PATCH", usersAPI+"/carol", `{"password":"x"}`); code != 400 {
		t.Fatalf("an edit naming a field the route does not take: %d %s", code, body)
	}
	r.refresh(t)
	resp, _ := carol.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	carol.Login(t, "carol", alicePW)

	// Disable: the session ends on the next poll, and no login works.
	if code, body := apiCall(t, r.URL, root, "POST", usersAPI+"/carol/disable", ""); code != 200 || !strings.Contains(body, `"disabled":true`) {
		t.Fatalf("disable: %d %s", code, body)
	}
	r.refresh(t)
	if resp, _ := carol.Get(t, "/"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/login") {
		t.Fatalf("carol while disabled: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	loginRefused(t, r, "carol", alicePW)

	// Enable: carol logs in again.
	if code, body := apiCall(t, r.URL, root, "POST", usersAPI+"/carol/enable", ""); code != 200 || !strings.Contains(body, `"disabled":false`) {
		t.Fatalf("enable: %d %s", code, body)
	}
	r.refresh(t)
	carol = newBrowser(t, r.URL)
	carol.Login(t, "carol", alicePW)
	if resp, _ := carol.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("carol after enable: %d", resp.StatusCode)
	}

	// A password an admin sets ends the session; the old one stops working.
	const newPW = "a brand new passphrase"
	if code, body := apiCall(t, r.URL, root, "PUT", usersAPI+"/carol/password", `{"password":"short"}`); code != 422 || !strings.Contains(body, `"field":"password"`) {
		t.Fatalf("a short password: %d %s", code, body)
	}
	// By default it is hers for one login only (Enforce Password Reset).
	if code, body := apiCall(t, r.URL, root, "PUT", usersAPI+"/carol/password", `{"password":"`+newPW+`"}`); code != 200 ||
		!strings.Contains(body, `"must_change_password":true`) {
		t.Fatalf("set password: %d %s", code, body)
	}
	r.refresh(t)
	resp, _ = carol.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	loginRefused(t, r, "carol", alicePW)
	carol.Login(t, "carol", newPW)
	if resp, _ := carol.Get(t, "/"); !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/password?") {
		t.Fatalf("carol with an admin-set password: %d to %q, want the change page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, body := apiCall(t, r.URL, root, "PUT", usersAPI+"/carol/password", `{"password":"`+newPW+`","must_change":false}`); code != 200 ||
		!strings.Contains(body, `"must_change_password":false`) {
		t.Fatalf("set password without must_change: %d %s", code, body)
	}
	r.refresh(t)
	carol.Login(t, "carol", newPW)
	if resp, _ := carol.Get(t, "/"); resp.StatusCode != 200 {
		t.Fatalf("carol with must_change false: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The 2FA mandate sends carol to enrolment at her next login; the
	// allowlist is stored canonical.
	if code, body := apiCall(t, r.URL, root, "PUT", usersAPI+"/carol/2fa/required", `{"required":true}`); code != 200 ||
		!strings.Contains(body, `"user_required":true`) || !strings.Contains(body, `"required":true`) {
		t.Fatalf("require 2FA: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "POST", usersAPI+"/carol/2fa/reset", ""); code != 200 || !strings.Contains(body, `"enrolled":false`) {
		t.Fatalf("reset 2FA: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "PUT", usersAPI+"/carol/allowlist", `{"cidrs":["10.1.2.3/8","127.0.0.1"]}`); code != 200 ||
		!strings.Contains(body, `"allowed_cidrs":["10.0.0.0/8","127.0.0.1/32"]`) {
		t.Fatalf("allowlist: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "PUT", usersAPI+"/carol/allowlist", `{}`); code != 400 {
		t.Fatalf("an allowlist without cidrs: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "PUT", usersAPI+"/carol/allowlist", `{"cidrs":["10.0.0.0/8","nonsense"]}`); code != 422 || !strings.Contains(body, `"field":"cidrs[1]"`) {
		t.Fatalf("a bad CIDR: %d %s", code, body)
	}
	// Entries carry descriptions, read back as [{cidr, description}].
	if code, body := apiCall(t, r.URL, root, "PUT", usersAPI+"/carol/allowlist",
		`{"allowlist":[{"cidr":"10.1.2.3/8","description":" Bangalore office "},{"cidr":"127.0.0.1"}]}`); code != 200 ||
		!strings.Contains(body, `"allowlist":[{"cidr":"10.0.0.0/8","description":"Bangalore office"},{"cidr":"127.0.0.1/32","description":""}]`) ||
		!strings.Contains(body, `"allowed_cidrs":["10.0.0.0/8","127.0.0.1/32"]`) {
		t.Fatalf("allowlist with descriptions: %d %s", code, body)
	}
	if d := getUser(t, r, root, "carol"); len(d.Allowlist) != 2 || d.Allowlist[0].Description != "Bangalore office" || d.Allowlist[1].CIDR != "127.0.0.1/32" {
		t.Fatalf("GET after the allowlist: %+v", d.Allowlist)
	}
	for body, field := range map[string]string{
		`{"allowlist":[{"cidr":"10.0.0.0/8"},{"cidr":"10.0.0.0/33","description":"typo"}]}`:      `"field":"allowlist[1].cidr"`,
		`{"allowlist":[{"cidr":"10.0.0.0/8","description":"` + strings.Repeat("x", 201) + `"}]}`: `"field":"allowlist[0].description"`,
		`{"allowlist":[{"cidr":"10.0.0.0/8","description":"two\nlines"}]}`:                       `"field":"allowlist[0].description"`,
	} {
		if code, got := apiCall(t, r.URL, root, "PUT", usersAPI+"/carol/allowlist", body); code != 422 || !strings.Contains(got, field) {
			t.Fatalf("%s: %d %s, want 422 naming %s", body, code, got, field)
		}
	}
	for _, body := range []string{`{"allowlist":[],"cidrs":[]}`, `{"allowlist":[{"cidr":"10.0.0.0/8","note":"x"}]}`} {
		if code, got := apiCall(t, r.URL, root, "PUT", usersAPI+"/carol/allowlist", body); code != 400 {
			t.Fatalf("%s: %d %s, want 400", body, code, got)
		}
	}
	if d := getUser(t, r, root, "carol"); len(d.Allowlist) != 2 || d.Allowlist[0].Description != "Bangalore office" {
		t.Fatalf("a refused allowlist changed the stored one: %+v", d.Allowlist)
	}
	r.refresh(t)
	resp, _ = newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"carol"}, "password": {newPW}, "rd": {"/"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/.gatehouse/2fa/enroll") {
		t.Fatalf("carol's login after the 2FA mandate: %d to %q, want enrolment", resp.StatusCode, loc)
	}

	// Delete: gone, and the session with her.
	if code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/carol", ""); code != 200 || !strings.Contains(body, `"user":"carol"`) {
		t.Fatalf("delete: %d %s", code, body)
	}
	r.refresh(t)
	if resp, _ := carol.Get(t, "/"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/.gatehouse/login") {
		t.Fatalf("carol after the delete: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, body := apiCall(t, r.URL, root, "GET", usersAPI+"/carol", ""); code != 404 || errorCode(body) != "not_found" {
		t.Fatalf("carol after the delete: %d %s", code, body)
	}
	for _, ev := range []string{"user_created", "user_changed", "user_disabled", "user_enabled", "password_set", "user_deleted"} {
		wantAudit(t, r, ev, "")
	}
}

// TestConsoleUsersLastAdmin: the last enabled admin cannot be deleted.
func TestConsoleUsersLastAdmin(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	root := adminSession(t, r, clk)
	// serve made the first admin, "admin", on the empty directory; with
	// root left, it may go.
	if code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/admin", ""); code != 200 {
		t.Fatalf("delete the first admin: %d %s", code, body)
	}
	code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/root", "")
	if code != 409 || errorCode(body) != "conflict" || !strings.Contains(body, "admin") {
		t.Fatalf("delete the last admin: %d %s", code, body)
	}
	if d := getUser(t, r, root, "root"); !d.Admin || d.Disabled {
		t.Fatalf("root after the refused delete: %+v", d)
	}
}

// TestConsoleUsersKeysAndDevices: a key or device is revoked only through
// its own user's route; another user's id is not found, and stays live.
func TestConsoleUsersKeysAndDevices(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	alice := r.addUser(t, "alice", alicePW, "sales")
	bob := r.addUser(t, "bob", alicePW, "sales")
	aliceKey, bobKey := createKey(t, r, "--user", "alice"), createKey(t, r, "--user", "bob")
	aliceKeyID, _, _ := apikey.Parse(aliceKey)
	bobKeyID, _, _ := apikey.Parse(bobKey)
	for _, d := range []directory.Device{{ID: "dev-a", UserID: alice.ID, ClientID: "mobile"}, {ID: "dev-b1", UserID: bob.ID, ClientID: "mobile"},
		{ID: "dev-b2", UserID: bob.ID, ClientID: "mobile"}} {
		if err := r.a.dir.AddDevice(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	root := adminSession(t, r, clk)

	if code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/alice/api-keys/"+bobKeyID, ""); code != 404 || errorCode(body) != "not_found" {
		t.Fatalf("bob's key through alice's route: %d %s", code, body)
	}
	if resp, _ := call(t, "GET", r.URL+"/", "Authorization", "Bearer "+bobKey); resp.StatusCode != 200 {
		t.Fatalf("bob's key after the attempt: %d", resp.StatusCode)
	}
	if code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/alice/api-keys/no-such-key", ""); code != 404 {
		t.Fatalf("an unknown key: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/alice/api-keys/"+aliceKeyID, ""); code != 200 ||
		!strings.Contains(body, `"state":"revoked"`) || strings.Contains(body, aliceKey) {
		t.Fatalf("revoke alice's key: %d %s", code, body)
	}
	if resp, _ := call(t, "GET", r.URL+"/", "Authorization", "Bearer "+aliceKey); resp.StatusCode != 401 {
		t.Fatalf("alice's key after its revocation: %d", resp.StatusCode)
	}
	// Every live key of bob's at once; the revoked one of alice's and
	// her other keys are not his.
	bobKey2 := createKey(t, r, "--user", "bob")
	aliceKey2 := createKey(t, r, "--user", "alice")
	if code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/bob/api-keys", ""); code != 200 || !strings.Contains(body, bobKeyID) ||
		strings.Contains(body, aliceKeyID) {
		t.Fatalf("revoke all of bob's keys: %d %s", code, body)
	}
	for _, k := range []string{bobKey, bobKey2} {
		if resp, _ := call(t, "GET", r.URL+"/", "Authorization", "Bearer "+k); resp.StatusCode != 401 {
			t.Fatalf("a key of bob's after revoking all: %d", resp.StatusCode)
		}
	}
	if resp, _ := call(t, "GET", r.URL+"/", "Authorization", "Bearer "+aliceKey2); resp.StatusCode != 200 {
		t.Fatalf("alice's other key after bob's were revoked: %d", resp.StatusCode)
	}
	if code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/bob/api-keys", ""); code != 200 || !strings.Contains(body, `"revoked":[]`) {
		t.Fatalf("revoke all of bob's keys again: %d %s", code, body)
	}

	if code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/alice/devices/dev-b1", ""); code != 404 || errorCode(body) != "not_found" {
		t.Fatalf("bob's device through alice's route: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/bob/devices/dev-b1", ""); code != 200 || !strings.Contains(body, `"revoked":["dev-b1"]`) {
		t.Fatalf("revoke dev-b1: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/bob/devices/dev-b1", ""); code != 200 || !strings.Contains(body, `"revoked":[]`) {
		t.Fatalf("revoke dev-b1 again: %d %s", code, body)
	}
	if code, body := apiCall(t, r.URL, root, "DELETE", usersAPI+"/bob/devices", ""); code != 200 || !strings.Contains(body, `"revoked":["dev-b2"]`) {
		t.Fatalf("revoke all of bob's: %d %s", code, body)
	}
	d := getUser(t, r, root, "alice")
	states := func(d userDetailOf) map[string]string {
		m := map[string]string{}
		for _, k := range d.APIKeys {
			m[k.ID] = k.State
		}
		return m
	}
	if len(d.Devices) != 1 || d.Devices[0].State != "signed_in" || len(d.APIKeys) != 2 || states(d)[aliceKeyID] != "revoked" {
		t.Fatalf("alice: %+v", d)
	}
	d = getUser(t, r, root, "bob")
	if len(d.Devices) != 2 || d.Devices[0].State != "signed_out" || d.Devices[1].State != "signed_out" || len(d.APIKeys) != 2 ||
		d.APIKeys[0].State != "revoked" || d.APIKeys[1].State != "revoked" {
		t.Fatalf("bob: %+v", d)
	}
	wantAudit(t, r, "api_key_revoked", "")
	wantAudit(t, r, "device_revoked", "")
}

// TestConsoleUsersUnknownRole: a role the policy does not know is refused
// with the roles it does, and nothing is stored.
func TestConsoleUsersUnknownRole(t *testing.T) {
	clk := newClock()
	r := startReplica(t, sqliteConfig(t, startUpstream(t), adminPolicy), clk)
	r.addUser(t, "root", alicePW, "admin")
	r.addUser(t, "alice", alicePW, "sales")
	root := adminSession(t, r, clk)
	var e struct {
		Error, Message string
		Problems       []struct{ Field, Message string }
	}
	code, body := apiCall(t, r.URL, root, "POST", usersAPI, `{"username":"dave","email":"dave@corp.example","role":"slaes"}`)
	if json.Unmarshal([]byte(body), &e); code != 422 || e.Error != "invalid" || len(e.Problems) != 1 || e.Problems[0].Field != "role" ||
		!strings.Contains(e.Message, "known roles: admin, ops, sales") || !strings.Contains(e.Message, "did you mean sales") {
		t.Fatalf("an unknown role: %d %s", code, body)
	}
	if code, _ := apiCall(t, r.URL, root, "GET", usersAPI+"/dave", ""); code != 404 {
		t.Fatalf("dave was stored: %d", code)
	}
	code, body = apiCall(t, r.URL, root, "PATCH", usersAPI+"/alice", `{"role":"superuser","display_name":"Alice"}`)
	if code != 422 || !strings.Contains(body, "known roles: admin, ops, sales") {
		t.Fatalf("an edit to an unknown role: %d %s", code, body)
	}
	if d := getUser(t, r, root, "alice"); d.Role != "sales" || d.DisplayName != "" {
		t.Fatalf("alice after the refused edit: %+v", d)
	}
}
