package admin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/directory/directorytest"
	"github.com/gatehouse-auth/gatehouse/auth/directory/sqldir"
	"github.com/gatehouse-auth/gatehouse/auth/password"
)

// backends runs f against a real SQLite file and a real PostgreSQL
// database, as the directory conformance suite does.
func backends(t *testing.T, f func(t *testing.T, dir *sqldir.DB)) {
	for name, cfg := range map[string]func(testing.TB) sqldir.Config{
		"sqlite": func(t testing.TB) sqldir.Config {
			return sqldir.Config{Driver: "sqlite", DSN: directorytest.SQLitePath(t)}
		},
		"postgres": func(t testing.TB) sqldir.Config {
			return sqldir.Config{Driver: "postgres", DSN: directorytest.PostgresDSN(t)}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir, err := sqldir.Open(context.Background(), cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dir.Close() })
			f(t, dir)
		})
	}
}

var fast = password.Params{Time: 1, Memory: 8 * 1024, Threads: 1}

func newService(dir *sqldir.DB, now func() time.Time) *admin.Service {
	rec := audit.New(slog.New(slog.NewTextHandler(io.Discard, nil)), dir)
	return admin.New(dir, rec, password.NewHasher(fast, 2), []string{"corp"}, now)
}

// events returns the audit event names recorded for userID, oldest first.
func events(t *testing.T, dir *sqldir.DB, userID string) []string {
	t.Helper()
	all, err := dir.ListAudit(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range slices.Backward(all) {
		if e.UserID == userID {
			out = append(out, e.Event)
		}
	}
	return out
}

func revocations(t *testing.T, dir *sqldir.DB, userID string) int {
	t.Helper()
	revs, err := dir.RecentRevocations(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range revs {
		if r.UserID == userID {
			n++
		}
	}
	return n
}

func TestAddUserValidatesEveryField(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		svc := newService(dir, nil)
		_, err := svc.AddUser(t.Context(), "cli", admin.NewUser{Username: "Bad Name!", Email: "a@b@c", Role: "Admin",
			Groups: []string{"ok", "<script>"}, DisplayName: "x\x00", Password: ptr("short")})
		var inv *admin.InvalidError
		if !errors.As(err, &inv) {
			t.Fatalf("got %v, want *InvalidError", err)
		}
		var fields []string
		for _, p := range inv.Problems {
			fields = append(fields, p.Field)
		}
		if want := []string{"username", "email", "role", "groups", "display-name"}; !slices.Equal(fields, want) {
			t.Fatalf("fields %v, want %v (every problem at once)", fields, want)
		}
		if users, _ := dir.ListUsers(t.Context()); len(users) != 0 {
			t.Fatal("an invalid user was stored")
		}
		if _, err := svc.AddUser(t.Context(), "cli", admin.NewUser{Username: "carol", Role: "sales", Password: ptr("short")}); !errors.As(err, &inv) || inv.Problems[0].Field != "password" {
			t.Fatalf("short password: %v", err)
		}
		if _, err := svc.AddUser(t.Context(), "cli", admin.NewUser{Username: "carol", Role: "sales", Password: ptr("")}); !errors.As(err, &inv) || inv.Problems[0].Field != "password" {
			t.Fatalf("empty password: %v, want it refused, not read as none", err)
		}
		u, err := svc.AddUser(t.Context(), "cli:root", admin.NewUser{Username: " Alice ", Email: "alice@corp.example", Role: "sales", Groups: []string{" north "}, Password: ptr("a long enough passphrase")})
		if err != nil || u.Username != "alice" || u.Groups[0] != "north" || u.PasswordHash == "" {
			t.Fatalf("AddUser: %+v %v", u, err)
		}
		if _, err := svc.AddUser(t.Context(), "cli", admin.NewUser{Username: "alice", Role: "sales"}); !errors.Is(err, admin.ErrExists) {
			t.Fatalf("duplicate: %v, want ErrExists", err)
		}
		if got := events(t, dir, u.ID); !slices.Equal(got, []string{audit.UserCreated}) {
			t.Fatalf("events %v", got)
		}
	})
}

// TestEveryOperationAuditedAndRevokes: each operation that must end the
// user's sessions records a revocation (which every replica applies) and
// its audit events, once.
func TestEveryOperationAuditedAndRevokes(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		u, err := svc.AddUser(ctx, "cli", admin.NewUser{Username: "bob", Role: "sales"})
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name    string
			do      func() error
			revokes bool
			event   string
		}{
			{"disable", func() error { _, err := svc.SetDisabled(ctx, "cli", "bob", true); return err }, true, audit.UserDisabled},
			{"enable", func() error { _, err := svc.SetDisabled(ctx, "cli", "bob", false); return err }, false, audit.UserEnabled},
			{"set password", func() error {
				_, err := svc.SetPassword(ctx, "cli", "bob", "a brand new passphrase", false)
				return err
			}, true, audit.PasswordSet},
			{"logout", func() error { _, err := svc.Logout(ctx, "cli", "bob"); return err }, true, audit.SessionRevoked},
			{"reset 2fa", func() error { _, err := svc.Reset2FA(ctx, "cli", "bob"); return err }, true, audit.MFAReset},
			{"require 2fa on", func() error { _, err := svc.Require2FA(ctx, "cli", "bob", true); return err }, true, audit.MFARequirement},
			{"require 2fa off", func() error { _, err := svc.Require2FA(ctx, "cli", "bob", false); return err }, false, audit.MFARequirement},
			{"set role", func() error { _, err := svc.SetRole(ctx, "cli", "bob", "manager"); return err }, true, audit.UserRoleChanged},
			{"allow ips", func() error {
				_, _, err := svc.SetAllowedIPs(ctx, "cli", "bob", directory.AllowList{{CIDR: "10.0.0.0/8"}})
				return err
			}, false, audit.UserAllowlist},
		}
		for _, s := range steps {
			before, evBefore := revocations(t, dir, u.ID), len(events(t, dir, u.ID))
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if got := revocations(t, dir, u.ID) - before; (got == 1) != s.revokes || got > 1 {
				t.Errorf("%s: %d revocations recorded, want revokes=%v", s.name, got, s.revokes)
			}
			if evs := events(t, dir, u.ID)[evBefore:]; !slices.Contains(evs, s.event) {
				t.Errorf("%s: events %v, want %s", s.name, evs, s.event)
			}
		}
		got, err := dir.UserByID(ctx, u.ID)
		if err != nil || got.Role != "manager" || got.Require2FA || got.PasswordHash == "" || !slices.Equal(got.AllowList.CIDRs(), []string{"10.0.0.0/8"}) {
			t.Fatalf("user after the operations: %+v %v", got, err)
		}
		if got.SecurityStamp < 2 {
			t.Errorf("security stamp %d: a password set and a 2FA reset must each bump it", got.SecurityStamp)
		}
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		if _, err := svc.AddUser(ctx, "cli", admin.NewUser{Username: "bob", Role: "sales"}); err != nil {
			t.Fatal(err)
		}
		var inv *admin.InvalidError
		if _, _, err := svc.SetAllowedIPs(ctx, "cli", "bob", directory.AllowList{{CIDR: "10.0.0.0/8"}, {CIDR: "not-a-cidr"}}); !errors.As(err, &inv) || inv.Problems[0].Field != "allowlist[1].cidr" {
			t.Fatalf("bad cidr: %v", err)
		}
		if _, err := svc.SetRole(ctx, "cli", "bob", "Root!"); !errors.As(err, &inv) {
			t.Fatalf("bad role: %v", err)
		}
		if _, err := svc.SetPolicy(ctx, "cli", []byte("methods: {password: false, corp: false}\n")); !errors.As(err, &inv) {
			t.Fatalf("policy turning every method off: %v", err)
		}
		if _, err := svc.SetPolicy(ctx, "cli", []byte("session: {idle_timeout: forever}\n")); !errors.As(err, &inv) {
			t.Fatalf("unparsable policy: %v", err)
		}
		if _, err := svc.SetDisabled(ctx, "cli", "nobody", true); !errors.Is(err, admin.ErrNoUser) {
			t.Fatalf("unknown user: %v", err)
		}
		u, _ := dir.UserByUsername(ctx, "bob")
		if u.Role != "sales" || len(u.AllowList) != 0 || revocations(t, dir, u.ID) != 0 {
			t.Fatalf("a refused operation changed the user: %+v", u)
		}
		if _, err := svc.Policy(ctx); !errors.Is(err, admin.ErrNoPolicy) {
			t.Fatalf("policy before any was stored: %v", err)
		}
		ch, err := svc.SetPolicy(ctx, "cli:root", []byte("methods: {password: true, corp: false}\n"))
		if err != nil || ch.To.Version != 1 || ch.From.Version != 0 {
			t.Fatalf("SetPolicy: %+v %v", ch, err)
		}
	})
}

// TestBootstrap: the first admin must enrol 2FA; its generated password
// expires in an hour and exists only when it can be shown (review
// finding F12).
func TestBootstrap(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		now := time.Now().UTC().Truncate(time.Millisecond)
		svc := newService(dir, func() time.Time { return now })
		pw, created, err := svc.Bootstrap(ctx, true)
		if err != nil || !created || len(pw) < 20 {
			t.Fatalf("Bootstrap: %q %v %v", pw, created, err)
		}
		u, err := dir.UserByUsername(ctx, admin.BootstrapUsername)
		if err != nil || u.Role != "admin" || !u.Require2FA || !u.PasswordExpires.Equal(now.Add(time.Hour)) {
			t.Fatalf("first admin: %+v %v", u, err)
		}
		if ok, _ := password.NewHasher(fast, 1).Verify(ctx, u.PasswordHash, pw); !ok {
			t.Fatal("the shown password does not verify")
		}
		if _, created, _ := svc.Bootstrap(ctx, true); created {
			t.Fatal("a second bootstrap created another admin")
		}
	})
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		pw, created, err := newService(dir, nil).Bootstrap(t.Context(), false)
		u, _ := dir.UserByUsername(t.Context(), admin.BootstrapUsername)
		if err != nil || !created || pw != "" || u.PasswordHash != "" || !u.Require2FA {
			t.Fatalf("non-interactive bootstrap: %q %v %v %+v", pw, created, err, u)
		}
	})
}

var _ directory.Users = (*sqldir.DB)(nil)

func ptr(s string) *string { return &s }

// TestResetPasswordOneWinner: links made under one security stamp race
// to set the password; exactly one lands, the others are stale, and a
// reset for a user disabled after the link was sent changes nothing (the
// user stays disabled: no stale row is written back).
func TestResetPasswordOneWinner(t *testing.T) {
	backends(t, func(t *testing.T, dir *sqldir.DB) {
		ctx := t.Context()
		svc := newService(dir, nil)
		u, err := svc.AddUser(ctx, "cli", admin.NewUser{Username: "bob", Role: "sales"})
		if err != nil {
			t.Fatal(err)
		}
		stamp := u.SecurityStamp
		const n = 6
		errs := make(chan error, n)
		for i := range n {
			go func() {
				errs <- svc.ResetPassword(ctx, u.ID, stamp, fmt.Sprintf("racing passphrase number %d", i))
			}()
		}
		won := 0
		for range n {
			switch err := <-errs; {
			case err == nil:
				won++
			case !errors.Is(err, admin.ErrStaleReset):
				t.Fatalf("ResetPassword: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d resets landed under one stamp, want 1", won)
		}
		if got := events(t, dir, u.ID); slices.Index(got, audit.PasswordReset) != len(got)-1 || strings.Count(strings.Join(got, " "), audit.PasswordReset) != 1 {
			t.Errorf("events %v, want exactly one %s, last", got, audit.PasswordReset)
		}

		cur, err := dir.UserByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetDisabled(ctx, "cli", "bob", true); err != nil {
			t.Fatal(err)
		}
		if err := svc.ResetPassword(ctx, u.ID, cur.SecurityStamp, "a passphrase after disable"); !errors.Is(err, admin.ErrStaleReset) {
			t.Fatalf("reset of a disabled user: %v, want ErrStaleReset", err)
		}
		after, err := dir.UserByID(ctx, u.ID)
		if err != nil || !after.Disabled || after.PasswordHash != cur.PasswordHash {
			t.Fatalf("disabled user after a refused reset: disabled=%v hash changed=%v %v", after.Disabled, after.PasswordHash != cur.PasswordHash, err)
		}
	})
}
