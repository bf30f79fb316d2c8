package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os/user"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/session/storetest"
)

// redisSessions is the session section of a replica whose sessions and
// counters the CLI can reach: Redis under a prefix of the test's own.
func redisSessions(t *testing.T) string {
	return fmt.Sprintf("session: {store: redis, redis: {addrs: [%s], key_prefix: %q}}\n", storetest.RedisAddr(t), storetest.RedisPrefix(t))
}

// auditActor returns the actor of the newest event named event.
func auditActor(t *testing.T, r *replica, event string) string {
	t.Helper()
	events, err := r.a.dir.ListAudit(t.Context(), 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Event == event {
			return e.Actor
		}
	}
	t.Fatalf("no %s event", event)
	return ""
}

// TestUserDeleteEndsSessions: a deleted user's session is refused at the
// next request, their key with them, and they cannot log in again; the
// delete asks for the username unless --yes, and the audit log names
// who ran it.
func TestUserDeleteEndsSessions(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil, "USER=root", "SUDO_USER=ops")
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	if resp, body := b.Get(t, "/"); resp.StatusCode != 200 || body != "crm:alice" {
		t.Fatalf("before the delete: %d %q", resp.StatusCode, body)
	}

	// No confirmation, a wrong one: nothing deleted.
	if code, out := runCLI(t, r, "user", "delete", "alice"); code != 1 || !strings.Contains(out, "type the username on stdin to confirm, or pass --yes") {
		t.Fatalf("delete without confirmation: %d %s", code, out)
	}
	if code, out := runCLIStdin(t, r, "bob\n", "user", "delete", "alice"); code != 1 || !strings.Contains(out, `"bob" does not match`) {
		t.Fatalf("delete with the wrong name typed: %d %s", code, out)
	}
	if _, err := r.a.dir.UserByUsername(t.Context(), "alice"); err != nil {
		t.Fatalf("an unconfirmed delete deleted: %v", err)
	}

	code, out := runCLIStdin(t, r, "alice\n", "user", "delete", "alice")
	if code != 0 || !strings.Contains(out, "Type the username to confirm") || !strings.Contains(out, "user alice deleted") {
		t.Fatalf("user delete: %d %s", code, out)
	}
	r.refresh(t)
	resp, _ := b.Get(t, "/")
	wantLoginRedirect(t, resp, "")
	resp, body := newBrowser(t, r.URL).Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Invalid username or password.") {
		t.Fatalf("login as the deleted user: %d", resp.StatusCode)
	}
	if got := auditActor(t, r, admin.EventUserDeleted); got != "cli:ops via sudo as root" {
		t.Errorf("actor of the delete %q, want cli:ops via sudo as root", got)
	}
	if code, out := runCLI(t, r, "user", "delete", "alice", "--yes"); code != 1 || !strings.Contains(out, `no user "alice"`) {
		t.Fatalf("deleting again: %d %s", code, out)
	}

	// The first admin (bootstrapped by serve) is the only one: kept.
	code, out = runCLI(t, r, "user", "delete", admin.BootstrapUsername, "--yes")
	if code != 1 || !strings.Contains(out, "not deleted: no other enabled user has the admin feature") || !strings.Contains(out, "--role admin") {
		t.Fatalf("deleting the last admin: %d %s", code, out)
	}
}

// TestUserRoleTypoRefused: a role the policy does not know is a usage
// error naming the flag and the known roles, in every command that sets
// one, and nothing changes.
func TestUserRoleTypoRefused(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	r.addUser(t, "alice", alicePW, "sales")
	known := "known roles: admin, manager, sales, sales_manager, sales_user"
	for _, args := range [][]string{
		{"user", "edit", "alice", "--role", "admn"},
		{"user", "add", "--username", "bob", "--email", "bob@corp.example", "--role", "admn"},
	} {
		code, out := runCLI(t, r, args...)
		if code != 2 || !strings.Contains(out, `--role: unknown role "admn" (did you mean admin?)`) || !strings.Contains(out, known) {
			t.Errorf("%v: %d %s", args, code, out)
		}
	}
	if code, out := runCLI(t, r, "user", "set-role", "alice", "admn"); code != 2 || !strings.Contains(out, known) {
		t.Errorf("set-role: %d %s", code, out)
	}
	if u, _ := r.a.dir.UserByUsername(t.Context(), "alice"); u.Role != "sales" {
		t.Fatalf("a refused role was stored: %q", u.Role)
	}
	if _, err := r.a.dir.UserByUsername(t.Context(), "bob"); err == nil {
		t.Fatal("a user with a refused role was created")
	}
}

// TestUserEditChangesOnlyWhatIsNamed: one edit sets several fields,
// leaves the others, and ends the user's sessions (a session carries
// the old values to the upstream).
func TestUserEditChangesOnlyWhatIsNamed(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	before := r.addUser(t, "alice", alicePW, "sales", "north")
	b := newBrowser(t, r.URL)
	b.Login(t, "alice", alicePW)
	code, out := runCLI(t, r, "user", "edit", "alice", "--display-name", "Alice Example", "--role", "manager", "--groups", "south, west")
	if code != 0 || !strings.Contains(out, "alice: changed display-name, role, groups") {
		t.Fatalf("user edit: %d %s", code, out)
	}
	u, err := r.a.dir.UserByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.DisplayName != "Alice Example" || u.Role != "manager" || strings.Join(u.Groups, ",") != "south,west" ||
		u.Email != before.Email || u.PasswordHash != before.PasswordHash {
		t.Fatalf("after the edit: %+v", u)
	}
	r.refresh(t)
	resp, _ := b.Get(t, "/")
	wantLoginRedirect(t, resp, "")

	if code, out := runCLI(t, r, "user", "edit", "alice"); code != 2 || !strings.Contains(out, "name at least one field") {
		t.Fatalf("an edit naming nothing: %d %s", code, out)
	}
	if code, out := runCLI(t, r, "user", "edit", "alice", "--role", "manager"); code != 0 || !strings.Contains(out, "unchanged") {
		t.Fatalf("an edit to the same role: %d %s", code, out)
	}
	r.addUser(t, "bob", alicePW, "sales")
	if code, out := runCLI(t, r, "user", "edit", "alice", "--email", "BOB@corp.example"); code != 1 || !strings.Contains(out, "--email: another user already has") {
		t.Fatalf("another user's email: %d %s", code, out)
	}
	if code, out := runCLI(t, r, "user", "edit", "alice", "--groups", ""); code != 0 || !strings.Contains(out, "changed groups") {
		t.Fatalf("clearing the groups: %d %s", code, out)
	}
	if u, _ := r.a.dir.UserByUsername(t.Context(), "alice"); len(u.Groups) != 0 || u.Role != "manager" {
		t.Fatalf("after clearing the groups: %+v", u)
	}
}

// TestUserUnlockAfterFailedLogins: after the account's five failures the
// right password is refused; unlock clears the counter every gateway
// reads, and the right password works at once.
func TestUserUnlockAfterFailedLogins(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), redisSessions(t)), nil)
	r.addUser(t, "alice", alicePW, "sales")
	b := newBrowser(t, r.URL)
	for i := range 5 {
		if resp, _ := b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {"guess"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	if resp, _ := b.Do(t, "POST", "/.gatehouse/login", url.Values{"username": {"alice"}, "password": {alicePW}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while locked: %d, want 429", resp.StatusCode)
	}
	if code, out := runCLI(t, r, "user", "unlock", "alice"); code != 0 || !strings.Contains(out, "alice unlocked") {
		t.Fatalf("user unlock: %d %s", code, out)
	}
	b.Login(t, "alice", alicePW)
	if auditActor(t, r, admin.EventUserUnlocked) == "cli" {
		t.Error("the unlock's actor is the bare word cli")
	}
	if code, out := runCLI(t, r, "user", "unlock", "nobody"); code != 1 || !strings.Contains(out, `no user "nobody"`) {
		t.Fatalf("unlock unknown: %d %s", code, out)
	}
}

// TestUserSessionsListsBrowserLogin: the shared store's sessions of a
// user, with what identifies them; with the memory store the CLI says
// why it cannot see them and where to look instead.
func TestUserSessionsListsBrowserLogin(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), redisSessions(t)), nil)
	r.addUser(t, "alice", alicePW, "sales")
	if code, out := runCLI(t, r, "user", "sessions", "alice"); code != 0 || !strings.Contains(out, "alice has no live session") {
		t.Fatalf("sessions before a login: %d %s", code, out)
	}
	newBrowser(t, r.URL).Login(t, "alice", alicePW)
	code, out := runCLI(t, r, "user", "sessions", "alice")
	if code != 0 {
		t.Fatalf("user sessions: %d %s", code, out)
	}
	for _, want := range []string{"SESSION", "LAST SEEN", "browser", "127.0.0.1", "password", "Go-http-client"} {
		if !strings.Contains(out, want) {
			t.Errorf("sessions output lacks %q:\n%s", want, out)
		}
	}
	if code, out := runCLI(t, r, "user", "sessions", "nobody"); code != 1 || !strings.Contains(out, `no user "nobody"`) {
		t.Fatalf("sessions of an unknown user: %d %s", code, out)
	}

	mem := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	mem.addUser(t, "alice", alicePW, "sales")
	for _, sub := range []string{"sessions", "unlock"} {
		code, out := runCLI(t, mem, "user", sub, "alice")
		if code != 1 || !strings.Contains(out, "session.store is memory") || !strings.Contains(out, "running gateway's memory") {
			t.Errorf("user %s with the memory store: %d %s", sub, code, out)
		}
	}
	if _, out := runCLI(t, mem, "user", "sessions", "alice"); !strings.Contains(out, "/.gatehouse/account") {
		t.Errorf("sessions with the memory store does not point to the account page: %s", out)
	}
}

// TestUserShowAndList: what an admin sees of one user and of all.
func TestUserShowAndList(t *testing.T) {
	r := startReplica(t, sqliteConfig(t, startUpstream(t), ""), nil)
	alice := r.addUser(t, "alice", alicePW, "sales", "north")
	if err := r.a.dir.CreateAPIKey(t.Context(), &directory.APIKey{ID: "k1", UserID: alice.ID, Hash: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, r, "user", "show", "alice"); code != 0 || !strings.Contains(out, "last login:    none recorded") {
		t.Fatalf("show before a login: %d %s", code, out)
	}
	newBrowser(t, r.URL).Login(t, "alice", alicePW)
	code, out := runCLI(t, r, "user", "show", "alice")
	if code != 0 {
		t.Fatalf("user show: %d %s", code, out)
	}
	for _, want := range []string{"username:      alice", "role:          sales", "template:      sales_user (the role's)",
		"groups:        north", "2fa:           not enrolled", "api keys:      1 live", "devices:       0 signed in", "password:      set"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "last login:    none recorded") || strings.Contains(out, "argon2") {
		t.Errorf("show after a login:\n%s", out)
	}
	if code, out := runCLI(t, r, "user", "show", "nobody"); code != 1 || !strings.Contains(out, `no user "nobody"`) {
		t.Fatalf("show unknown: %d %s", code, out)
	}
	if code, out := runCLI(t, r, "user", "require-2fa", "alice", "on"); code != 0 {
		t.Fatalf("require-2fa: %d %s", code, out)
	}
	code, out = runCLI(t, r, "user", "list")
	if code != 0 || !strings.Contains(out, "2FA") {
		t.Fatalf("user list: %d %s", code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "alice ") && (!strings.Contains(line, "must enrol") || !strings.Contains(line, "sales")) {
			t.Errorf("alice's row %q lacks her role and 2FA state", line)
		}
	}
}

// TestCLIActor: the audit actor is the OS account, with the sudo caller
// when there is one, never the bare word "cli".
func TestCLIActor(t *testing.T) {
	me := "?"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	for _, c := range []struct {
		vars []string
		want string
	}{
		{[]string{"USER=ops"}, "cli:ops"},
		{[]string{"USER=root", "SUDO_USER=alice"}, "cli:alice via sudo as root"},
		{[]string{"USER=alice", "SUDO_USER=alice"}, "cli:alice"},
		{nil, "cli:" + me},
	} {
		if got := cliActor(&env{vars: c.vars}); got != c.want {
			t.Errorf("vars %v: actor %q, want %q", c.vars, got, c.want)
		}
	}
}

// TestTermSafe: text others chose is never written raw to a terminal.
func TestTermSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "-",
		"Mozilla/5.0 (X11)":  "Mozilla/5.0 (X11)",
		"evil\x1b]0;pwned\a": `"evil\x1b]0;pwned\a"`,
		"tab\there":          `"tab\there"`,
	} {
		if got := termSafe(in); got != want {
			t.Errorf("termSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
