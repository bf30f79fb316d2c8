package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/password"
	"github.com/gatehouse-auth/gatehouse/configs"
)

func cmdUser(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: user add|list|disable|enable|set-password|set-role|set-template|allow-ips|logout|reset-2fa|require-2fa", errUsage)
	}
	sub := map[string]func(context.Context, *env, []string) error{
		"add": userAdd, "list": userList, "disable": userSetDisabled(true), "enable": userSetDisabled(false),
		"set-password": userSetPassword, "set-role": userSetRole, "allow-ips": userAllowIPs,
		"logout": userLogout, "reset-2fa": userReset2FA, "require-2fa": userRequire2FA,
		"set-template": userSetTemplate,
	}[args[0]]
	if sub == nil {
		return fmt.Errorf("%w: unknown user command %q", errUsage, args[0])
	}
	return sub(ctx, e, args[1:])
}

// openAdmin opens the stores and the admin operations over them.
func openAdmin(ctx context.Context, e *env, cfgPath string) (*app, *admin.Service, error) {
	a, err := openApp(ctx, e, cfgPath, false, nil)
	if err != nil {
		return nil, nil, err
	}
	return a, admin.New(a.dir, a.audit, password.NewHasher(password.Default, a.cfg.Login.MaxConcurrentHashes), providerIDs(a.cfg), a.now), nil
}

// providerIDs lists the configured providers' ids.
func providerIDs(cfg *configs.Config) []string {
	var ids []string
	for _, p := range cfg.Providers {
		ids = append(ids, p.ID)
	}
	return ids
}

// cliError turns an admin error into what the CLI prints: a bad flag or
// argument is a usage error (exit 2) naming the flag, a password read
// from stdin that breaks the rules is a plain error (exit 1, as it always
// was), an unknown user says so.
func cliError(err error, username string) error {
	var inv *admin.InvalidError
	switch {
	case errors.As(err, &inv):
		var msgs []string
		for _, p := range inv.Problems {
			switch {
			case p.Field == "password":
				return errors.New(p.Message)
			case strings.HasPrefix(p.Field, "cidrs["): // positional; the message quotes the argument
				msgs = append(msgs, p.Message)
			default:
				msgs = append(msgs, "--"+p.Field+": "+p.Message)
			}
		}
		return fmt.Errorf("%w: %s", errUsage, strings.Join(msgs, "\n"))
	case errors.Is(err, admin.ErrNoUser):
		return fmt.Errorf("no user %q", username)
	}
	return err
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
	in := admin.NewUser{Username: *username, Email: *email, Role: *role, DisplayName: *display}
	if *groups != "" {
		in.Groups = strings.Split(*groups, ",")
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	if *stdin {
		pw, err := readPassword(e)
		if err != nil {
			return err
		}
		in.Password = &pw
	}
	u, err := svc.AddUser(ctx, cliActor(e), in)
	switch {
	case errors.Is(err, admin.ErrExists):
		return fmt.Errorf("a user with username %q or email %q already exists", strings.ToLower(strings.TrimSpace(in.Username)), strings.TrimSpace(in.Email))
	case err != nil:
		return cliError(err, in.Username)
	}
	fmt.Fprintf(e.stdout, "created user %s (id %s)\n", u.Username, u.ID)
	return nil
}

// readPassword reads one line from stdin (never a flag or an argument,
// which would end up in shell history and process lists).
func readPassword(e *env) (string, error) {
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("--password-stdin: no password on stdin")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func userList(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("user list")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	users, err := svc.Users(ctx)
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

// oneUser parses "CMD USERNAME [args] [flags]" and opens the admin
// operations; rest are the positional arguments after the username.
func oneUser(ctx context.Context, e *env, name string, args []string, flags func(*flag.FlagSet)) (*app, *admin.Service, string, []string, error) {
	fs, cfgPath := e.flags(name)
	if flags != nil {
		flags(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, nil, "", nil, err
	}
	if len(pos) < 1 {
		return nil, nil, "", nil, fmt.Errorf("%w: %s USERNAME", errUsage, name)
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return nil, nil, "", nil, err
	}
	return a, svc, pos[0], pos[1:], nil
}

func userSetDisabled(disabled bool) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		a, svc, username, rest, err := oneUser(ctx, e, "user disable", args, nil)
		if err != nil {
			return err
		}
		defer a.Close()
		if len(rest) != 0 {
			return fmt.Errorf("%w: expected one username", errUsage)
		}
		u, err := svc.SetDisabled(ctx, cliActor(e), username, disabled)
		if err != nil {
			return cliError(err, username)
		}
		verb := "enabled"
		if disabled {
			verb = "disabled; running gateways end their sessions within a few seconds"
		}
		fmt.Fprintf(e.stdout, "user %s %s\n", u.Username, verb)
		return nil
	}
}

func userSetPassword(ctx context.Context, e *env, args []string) error {
	var stdin *bool
	a, svc, username, rest, err := oneUser(ctx, e, "user set-password", args, func(fs *flag.FlagSet) {
		stdin = fs.Bool("password-stdin", false, "read the new password from the first line of stdin (required)")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 0 || !*stdin {
		return fmt.Errorf("%w: user set-password USERNAME --password-stdin", errUsage)
	}
	pw, err := readPassword(e)
	if err != nil {
		return err
	}
	u, err := svc.SetPassword(ctx, cliActor(e), username, pw)
	if err != nil {
		return cliError(err, username)
	}
	fmt.Fprintf(e.stdout, "password of %s changed; their sessions end within a few seconds\n", u.Username)
	return nil
}

// userSetRole gives a user another role; their sessions end, since a
// session carries the role it was created with.
func userSetRole(ctx context.Context, e *env, args []string) error {
	a, svc, username, rest, err := oneUser(ctx, e, "user set-role", args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 1 {
		return fmt.Errorf("%w: user set-role USERNAME ROLE", errUsage)
	}
	u, err := svc.SetRole(ctx, cliActor(e), username, rest[0])
	if err != nil {
		return cliError(err, username)
	}
	fmt.Fprintf(e.stdout, "%s now has role %s; their sessions end within a few seconds\n", u.Username, u.Role)
	return nil
}

func userSetTemplate(ctx context.Context, e *env, args []string) error {
	var clear *bool
	a, svc, username, rest, err := oneUser(ctx, e, "user set-template", args, func(fs *flag.FlagSet) {
		clear = fs.Bool("clear", false, "return the user to their role's default template")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 1 && !*clear || len(rest) != 0 && *clear {
		return fmt.Errorf("%w: user set-template USERNAME TEMPLATE | user set-template USERNAME --clear", errUsage)
	}
	tpl := ""
	if !*clear {
		tpl = rest[0]
	}
	u, err := svc.SetUserTemplate(ctx, cliActor(e), username, tpl)
	if errors.Is(err, admin.ErrNoTemplate) {
		return fmt.Errorf("no template %q (gatehouse template list shows them)", tpl)
	}
	if err != nil {
		return cliError(err, username)
	}
	if tpl == "" {
		fmt.Fprintf(e.stdout, "%s now has their role's template; their sessions end within a few seconds\n", u.Username)
	} else {
		fmt.Fprintf(e.stdout, "%s now has template %s; their sessions end within a few seconds\n", u.Username, tpl)
	}
	return nil
}

func cliActor(e *env) string {
	if u := e.lookup("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}
