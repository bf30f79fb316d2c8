package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/password"
	"github.com/gatehouse-auth/gatehouse/configs"
)

var (
	validUsername = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)
	validRole     = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	validGroup    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$`)
)

func cmdUser(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: user add|list|disable|enable|set-password|allow-ips|logout|reset-2fa|require-2fa", errUsage)
	}
	sub := map[string]func(context.Context, *env, []string) error{
		"add": userAdd, "list": userList, "disable": userSetDisabled(true), "enable": userSetDisabled(false),
		"set-password": userSetPassword, "allow-ips": userAllowIPs,
		"logout": userLogout, "reset-2fa": userReset2FA, "require-2fa": userRequire2FA,
	}[args[0]]
	if sub == nil {
		return fmt.Errorf("%w: unknown user command %q", errUsage, args[0])
	}
	return sub(ctx, e, args[1:])
}

func userAdd(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("user add")
	username := fs.String("username", "", "login name (lower-case letters, digits, . _ @ -)")
	email := fs.String("email", "", "email address")
	role := fs.String("role", "", "role (e.g. sales, manager, admin)")
	display := fs.String("display-name", "", "display name")
	groups := fs.String("groups", "", "comma-separated sales groups")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	u := &directory.User{Username: strings.ToLower(strings.TrimSpace(*username)), Email: strings.TrimSpace(*email),
		Role: *role, DisplayName: strings.TrimSpace(*display)}
	if *groups != "" {
		for g := range strings.SplitSeq(*groups, ",") {
			u.Groups = append(u.Groups, strings.TrimSpace(g))
		}
	}
	if err := checkUser(u); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	a, err := openApp(ctx, e, *cfgPath, false, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if *stdin {
		if u.PasswordHash, err = readAndHash(ctx, e, a.cfg); err != nil {
			return err
		}
	}
	if err := a.dir.CreateUser(ctx, u); err != nil {
		if errors.Is(err, directory.ErrConflict) {
			return fmt.Errorf("a user with username %q or email %q already exists", u.Username, u.Email)
		}
		return err
	}
	a.audit.Record(ctx, directory.AuditEvent{Event: audit.UserCreated, Actor: cliActor(e), UserID: u.ID,
		Detail: map[string]string{"username": u.Username, "role": u.Role}})
	fmt.Fprintf(e.stdout, "created user %s (id %s)\n", u.Username, u.ID)
	return nil
}

func checkUser(u *directory.User) error {
	var errs []error
	if !validUsername.MatchString(u.Username) {
		errs = append(errs, errors.New("--username: 1-64 characters: lower-case letters, digits, '.', '_', '@', '-'"))
	}
	if u.Email != "" && (strings.Count(u.Email, "@") != 1 || strings.ContainsAny(u.Email, " \t\r\n<>,;\"") ||
		strings.HasPrefix(u.Email, "@") || strings.HasSuffix(u.Email, "@")) {
		errs = append(errs, errors.New("--email: not a plain address like name@example.com"))
	}
	if !validRole.MatchString(u.Role) {
		errs = append(errs, errors.New("--role: required; lower-case letters, digits, '_', '-' (e.g. sales, admin)"))
	}
	for _, g := range u.Groups {
		if !validGroup.MatchString(g) {
			errs = append(errs, fmt.Errorf("--groups: %q is not a valid group name", g))
		}
	}
	if strings.ContainsFunc(u.DisplayName, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		errs = append(errs, errors.New("--display-name: control characters are not allowed"))
	}
	return errors.Join(errs...)
}

// readAndHash reads one line from stdin (never a flag or an argument, which
// would end up in shell history and process lists) and hashes it.
func readAndHash(ctx context.Context, e *env, cfg *configs.Config) (string, error) {
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("--password-stdin: no password on stdin")
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := password.CheckNew(pw); err != nil {
		return "", err
	}
	return password.NewHasher(password.Default, cfg.Login.MaxConcurrentHashes).Hash(ctx, pw)
}

func userList(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("user list")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, *cfgPath, false, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	users, err := a.dir.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tEMAIL\tROLE\tGROUPS\tSTATUS\tPASSWORD\tCREATED")
	for _, u := range users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		pw := "no"
		if u.PasswordHash != "" {
			pw = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.Email, u.Role, strings.Join(u.Groups, ","),
			status, pw, u.CreatedAt.Format("2006-01-02"))
	}
	return tw.Flush()
}

func userSetDisabled(disabled bool) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		fs, cfgPath := e.flags("user disable")
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return fmt.Errorf("%w: expected one username", errUsage)
		}
		return updateUser(ctx, e, *cfgPath, pos[0], func(a *app, u *directory.User) error {
			u.Disabled = disabled
			return nil
		}, func(a *app, u *directory.User) {
			ev, verb := audit.UserEnabled, "enabled"
			if disabled {
				ev, verb = audit.UserDisabled, "disabled; running gateways end their sessions within a few seconds"
				revokeNow(ctx, e, a, u.ID)
			}
			a.audit.Record(ctx, directory.AuditEvent{Event: ev, Actor: cliActor(e), UserID: u.ID})
			fmt.Fprintf(e.stdout, "user %s %s\n", u.Username, verb)
		})
	}
}

// updateUser opens the stores, changes one user with change and saves it,
// then runs after (audit, output) — the shape of every user subcommand
// that edits a record.
func updateUser(ctx context.Context, e *env, cfgPath, username string, change func(*app, *directory.User) error, after func(*app, *directory.User)) error {
	a, err := openApp(ctx, e, cfgPath, false, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := lookupUser(ctx, a, username)
	if err != nil {
		return err
	}
	if err := change(a, u); err != nil {
		return err
	}
	if err := a.dir.UpdateUser(ctx, u); err != nil {
		return err
	}
	after(a, u)
	return nil
}

func userSetPassword(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("user set-password")
	stdin := fs.Bool("password-stdin", false, "read the new password from the first line of stdin (required)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || !*stdin {
		return fmt.Errorf("%w: user set-password USERNAME --password-stdin", errUsage)
	}
	return updateUser(ctx, e, *cfgPath, pos[0], func(a *app, u *directory.User) (err error) {
		u.PasswordHash, err = readAndHash(ctx, e, a.cfg)
		return err
	}, func(a *app, u *directory.User) {
		revokeNow(ctx, e, a, u.ID)
		if _, err := a.dir.BumpSecurityStamp(ctx, u.ID); err != nil { // forget remembered devices
			fmt.Fprintf(e.stderr, "warning: remembered devices not reset: %v\n", err)
		}
		a.audit.Record(ctx, directory.AuditEvent{Event: audit.PasswordSet, Actor: cliActor(e), UserID: u.ID})
		fmt.Fprintf(e.stdout, "password of %s changed; their sessions end within a few seconds\n", u.Username)
	})
}

// revokeNow records in the directory that the user's current sessions
// must end; every running gateway polls it and ends them within about a
// second, whatever its session store.
func revokeNow(ctx context.Context, e *env, a *app, userID string) {
	if _, err := a.dir.RevokeUserSessions(ctx, userID); err != nil {
		fmt.Fprintf(e.stderr, "warning: could not record the session revocation: %v\n", err)
		return
	}
	a.audit.Record(ctx, directory.AuditEvent{Event: audit.SessionRevoked, Actor: cliActor(e), UserID: userID})
}

func lookupUser(ctx context.Context, a *app, username string) (*directory.User, error) {
	u, err := a.dir.UserByUsername(ctx, username)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fmt.Errorf("no user %q", username)
	}
	return u, err
}

func cliActor(e *env) string {
	if u := e.lookup("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}
