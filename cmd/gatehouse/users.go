package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/password"
	"github.com/gatehouse-auth/gatehouse/configs"
	"github.com/gatehouse-auth/gatehouse/session"
)

func cmdUser(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: user add|list|show|edit|delete|disable|enable|unlock|sessions|set-password|set-role|set-template|allow-ips|logout|reset-2fa|require-2fa", errUsage)
	}
	sub := map[string]func(context.Context, *env, []string) error{
		"add": userAdd, "list": userList, "disable": userSetDisabled(true), "enable": userSetDisabled(false),
		"set-password": userSetPassword, "set-role": userSetRole, "allow-ips": userAllowIPs,
		"logout": userLogout, "reset-2fa": userReset2FA, "require-2fa": userRequire2FA,
		"set-template": userSetTemplate, "show": userShow, "edit": userEdit, "delete": userDelete,
		"unlock": userUnlock, "sessions": userSessions,
	}[args[0]]
	if sub == nil {
		return fmt.Errorf("%w: unknown user command %q", errUsage, args[0])
	}
	return sub(ctx, e, args[1:])
}

// openAdmin opens the directory and the admin operations over it.
func openAdmin(ctx context.Context, e *env, cfgPath string) (*app, *admin.Service, error) {
	return openAdminWith(ctx, e, cfgPath, false)
}

// openAdminWith is openAdmin that also opens the session store when
// withSessions is set.
func openAdminWith(ctx context.Context, e *env, cfgPath string, withSessions bool) (*app, *admin.Service, error) {
	a, err := openApp(ctx, e, cfgPath, withSessions, nil)
	if err != nil {
		return nil, nil, err
	}
	return a, admin.New(a.dir, a.audit, password.NewHasher(password.Default, a.cfg.Login.MaxConcurrentHashes), providerIDs(a.cfg), a.now).
		WithNetworkSources(networkSources(a.cfg)), nil
}

// networkSources is what the configuration gives the network guard.
func networkSources(cfg *configs.Config) admin.NetworkSources {
	t := cfg.Network.TorExitList
	return admin.NetworkSources{TorExitList: t.File != "" || t.URL != "", AnonymousDB: cfg.Network.AnonymousIPDB.File != ""}
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
			case strings.HasPrefix(p.Field, "allowlist["): // positional; the message quotes the argument
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
	mustChange := fs.Bool("must-change", false, "with --password-stdin: the password works for one login, which must choose a new one")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if *mustChange && !*stdin {
		return fmt.Errorf("%w: --must-change needs --password-stdin (a user without a password has nothing to change)", errUsage)
	}
	in := admin.NewUser{Username: *username, Email: *email, Role: *role, DisplayName: *display, MustChange: *mustChange}
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
	users, err := svc.UserList(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tEMAIL\tROLE\tGROUPS\tSTATUS\tPASSWORD\t2FA\tCREATED")
	for _, u := range users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		pw := "no"
		if u.PasswordHash != "" {
			pw = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, termSafe(u.Email), u.Role, termSafe(strings.Join(u.Groups, ",")),
			status, pw, twoFactorCell(u.TwoFactor), u.CreatedAt.Format("2006-01-02"))
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
	var stdin, mustChange *bool
	a, svc, username, rest, err := oneUser(ctx, e, "user set-password", args, func(fs *flag.FlagSet) {
		stdin = fs.Bool("password-stdin", false, "read the new password from the first line of stdin (required)")
		mustChange = fs.Bool("must-change", false, "enforce password reset: the password works for one login, which must choose a new one")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 0 || !*stdin {
		return fmt.Errorf("%w: user set-password USERNAME --password-stdin [--must-change]", errUsage)
	}
	pw, err := readPassword(e)
	if err != nil {
		return err
	}
	u, err := svc.SetPassword(ctx, cliActor(e), username, pw, *mustChange)
	if err != nil {
		return cliError(err, username)
	}
	fmt.Fprintf(e.stdout, "password of %s changed; their sessions end within a few seconds\n", u.Username)
	if *mustChange {
		fmt.Fprintf(e.stdout, "%s must choose a new password at the next login\n", u.Username)
	}
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

// cliActor names who ran a command, for the audit log: the
// operating-system account (USER, else the account of the process), and
// the account that ran sudo when there is one, so "cli:alice via sudo as
// root" says who rather than only which shared account. The "cli:"
// prefix keeps an OS account apart from the gatehouse user of the same
// name acting through the admin API. Both names come from the caller's
// environment: a record, not a proof (whoever can run the CLI can write
// the directory anyway).
func cliActor(e *env) string {
	name := e.lookup("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		} else {
			name = "uid " + strconv.Itoa(os.Getuid())
		}
	}
	if sudo := e.lookup("SUDO_USER"); sudo != "" && sudo != name {
		return "cli:" + sudo + " via sudo as " + name
	}
	return "cli:" + name
}

// termSafe makes text that users or their browsers chose (a user agent,
// a display name from an identity provider) safe to print on an admin's
// terminal: escape sequences and other unprintable characters are
// Go-quoted, never written raw; "-" stands for empty.
func termSafe(s string) string {
	if s == "" {
		return "-"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r == '\t' || r == unicode.ReplacementChar || !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

func twoFactorCell(st admin.TwoFactorState) string {
	switch {
	case st.Enrolled:
		return "on"
	case st.Required:
		return "must enrol"
	}
	return "off"
}

const timeLayout = "2006-01-02 15:04:05 UTC"

// userShow prints one user: what an admin checks before changing them.
func userShow(ctx context.Context, e *env, args []string) error {
	a, svc, username, rest, err := oneUser(ctx, e, "user show", args, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 0 {
		return fmt.Errorf("%w: user show USERNAME", errUsage)
	}
	d, err := svc.ShowUser(ctx, username)
	if err != nil {
		return cliError(err, username)
	}
	u := d.User
	status := "active"
	if u.Disabled {
		status = "disabled"
	}
	pw := "none (federated logins only)"
	switch {
	case u.PasswordHash != "" && !u.PasswordExpires.IsZero():
		pw = "set, expires " + u.PasswordExpires.UTC().Format(timeLayout)
	case u.PasswordHash != "":
		pw = "set"
	}
	if u.PasswordHash != "" && u.MustChangePassword {
		pw += "; must change it at the next login"
	}
	tpl := "none: the role maps to no template, so no feature is granted"
	switch d.TemplateSource {
	case "user":
		tpl = d.Template + " (the user's own)"
	case "role":
		tpl = d.Template + " (the role's)"
	}
	if d.Admin {
		tpl += "; grants " + admin.AdminFeature
	}
	mfa := "not enrolled"
	switch {
	case d.TwoFactor.Enrolled:
		mfa = fmt.Sprintf("enrolled, %d recovery codes left", d.TwoFactor.RecoveryCodesLeft)
	case d.TwoFactor.Required:
		mfa = "required, not enrolled: enrols at the next login"
	}
	switch {
	case d.TwoFactor.Required && u.Require2FA:
		mfa += "; required for this user (gatehouse user require-2fa)"
	case d.TwoFactor.Required:
		mfa += "; required by the login policy"
	}
	ips := "any (the policy's rules only)"
	if len(u.AllowList) > 0 {
		ips = allowListText(u.AllowList)
	}
	last := "none recorded"
	if !d.LastLogin.IsZero() {
		last = d.LastLogin.UTC().Format(timeLayout)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"username", u.Username}, {"id", u.ID}, {"email", termSafe(u.Email)}, {"display name", termSafe(u.DisplayName)},
		{"role", u.Role}, {"template", tpl}, {"groups", termSafe(strings.Join(u.Groups, ", "))}, {"status", status},
		{"password", pw}, {"2fa", mfa}, {"allowed ips", ips},
		{"api keys", fmt.Sprintf("%d live (gatehouse apikey list --user %s)", d.APIKeys, u.Username)},
		{"devices", fmt.Sprintf("%d signed in (gatehouse device list %s)", d.Devices, u.Username)},
		{"last login", last}, {"created", u.CreatedAt.UTC().Format(timeLayout)}, {"updated", u.UpdatedAt.UTC().Format(timeLayout)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// userEdit changes the named fields of a user in one operation, and only
// those.
func userEdit(ctx context.Context, e *env, args []string) error {
	var (
		fs                          *flag.FlagSet
		email, display, role, group *string
	)
	a, svc, username, rest, err := oneUser(ctx, e, "user edit", args, func(f *flag.FlagSet) {
		fs = f
		email = f.String("email", "", "new email address (\"\" removes it)")
		display = f.String("display-name", "", "new display name")
		role = f.String("role", "", "new role, one the login policy's access.roles knows; ends the user's sessions")
		group = f.String("groups", "", "the user's sales groups, comma-separated, replacing the current ones (\"\" for none)")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	var in admin.UserEdit
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "email":
			in.Email = email
		case "display-name":
			in.DisplayName = display
		case "role":
			in.Role = role
		case "groups":
			groups := []string{}
			if strings.TrimSpace(*group) != "" {
				groups = strings.Split(*group, ",")
			}
			in.Groups = &groups
		}
	})
	if len(rest) != 0 || in == (admin.UserEdit{}) {
		return fmt.Errorf("%w: user edit USERNAME [--email E] [--display-name N] [--role R] [--groups a,b]: name at least one field to change", errUsage)
	}
	u, changed, err := svc.EditUser(ctx, cliActor(e), username, in)
	switch {
	case errors.Is(err, admin.ErrExists):
		return fmt.Errorf("--email: another user already has %q; each address belongs to one user", strings.TrimSpace(*email))
	case err != nil:
		return cliError(err, username)
	case len(changed) == 0:
		fmt.Fprintf(e.stdout, "%s unchanged: every value given was already set\n", u.Username)
		return nil
	}
	fmt.Fprintf(e.stdout, "%s: changed %s; their sessions end within a few seconds\n", u.Username, strings.Join(changed, ", "))
	return nil
}

// userDelete deletes a user for good. Without --yes the username must be
// typed again on stdin: a delete cannot be undone, and a user recreated
// under the same name is a new account without the old one's factor,
// keys or devices.
func userDelete(ctx context.Context, e *env, args []string) error {
	var yes, erase *bool
	a, svc, username, rest, err := oneUser(ctx, e, "user delete", args, func(fs *flag.FlagSet) {
		yes = fs.Bool("yes", false, "delete without asking for the username to be typed again")
		erase = fs.Bool("erase", false, "data-protection erasure: also rewrite the user's audit events so they no longer name them")
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if len(rest) != 0 {
		return fmt.Errorf("%w: user delete USERNAME [--erase] [--yes]", errUsage)
	}
	if !*yes {
		d, err := svc.ShowUser(ctx, username)
		if err != nil {
			return cliError(err, username)
		}
		gone := []string{"the account"}
		if d.TwoFactor.Enrolled {
			gone = append(gone, "the second factor and recovery codes")
		}
		if d.APIKeys > 0 {
			gone = append(gone, fmt.Sprintf("%d live API key(s)", d.APIKeys))
		}
		if d.Devices > 0 {
			gone = append(gone, fmt.Sprintf("%d device login(s)", d.Devices))
		}
		if len(d.User.Groups) > 0 {
			gone = append(gone, "the memberships of "+termSafe(strings.Join(d.User.Groups, ", ")))
		}
		if *erase {
			gone = append(gone, "their name, email and addresses from the audit log and the events queued for the CRM (the events stay, under a pseudonym)")
		}
		fmt.Fprintf(e.stderr, "Deleting %s removes %s, and ends their sessions on every gateway. It cannot be undone.\nType the username to confirm: ",
			d.User.Username, strings.Join(gone, ", "))
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		fmt.Fprintln(e.stderr)
		if got := strings.TrimSpace(line); got != d.User.Username {
			if got == "" {
				return fmt.Errorf("%s not deleted: type the username on stdin to confirm, or pass --yes", d.User.Username)
			}
			return fmt.Errorf("%s not deleted: %q does not match the username", d.User.Username, got)
		}
	}
	var erasure admin.Erasure
	if *erase {
		erasure, err = svc.EraseUser(ctx, cliActor(e), username)
	} else {
		_, err = svc.DeleteUser(ctx, cliActor(e), username)
	}
	if errors.Is(err, admin.ErrLastAdmin) {
		return fmt.Errorf("%s not deleted: no other enabled user has the %s feature, so nobody could administer the gateway; give another user an admin role first (gatehouse user edit OTHER --role admin)",
			username, admin.AdminFeature)
	}
	if err != nil {
		return cliError(err, username)
	}
	fmt.Fprintf(e.stdout, "user %s deleted; running gateways end their sessions within a few seconds\n", username)
	if *erase {
		fmt.Fprintf(e.stdout, "%d audit events rewritten: they now name %s\n", erasure.Events, erasure.Pseudonym)
		if erasure.Webhooks > 0 {
			fmt.Fprintf(e.stdout, "%d events queued for the CRM rewritten the same way; pending ones are still delivered\n", erasure.Webhooks)
		}
	}
	return nil
}

// memoryStoreErr explains why a command that reads or resets what the
// gateways keep in the session store cannot work with the memory store:
// each process has its own, and the CLI's is empty.
func memoryStoreErr(cfg *configs.Config, what, instead string) error {
	return fmt.Errorf("session.store is %s: %s live in the running gateway's memory, which this command cannot reach; %s",
		cfg.Session.Store, what, instead)
}

// userUnlock clears a locked-out user's failed-login counters in the
// shared session store.
func userUnlock(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("user unlock")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: user unlock USERNAME", errUsage)
	}
	a, svc, err := openAdminWith(ctx, e, *cfgPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.cfg.Session.Store != configs.StoreRedis {
		return memoryStoreErr(a.cfg, "the failed-login counters",
			fmt.Sprintf("they clear by themselves %s (login.lockout_window) after the first failure, or when the gateway restarts", a.cfg.Login.LockoutWindow))
	}
	u, err := svc.Unlock(ctx, cliActor(e), pos[0], a.store)
	if err != nil {
		return cliError(err, pos[0])
	}
	fmt.Fprintf(e.stdout, "%s unlocked: their failed-login counters are cleared on every gateway\n", u.Username)
	return nil
}

// userSessions lists a user's live sessions from the shared session
// store: browser logins and mobile device logins.
func userSessions(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("user sessions")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: user sessions USERNAME", errUsage)
	}
	a, svc, err := openAdminWith(ctx, e, *cfgPath, true)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := svc.User(ctx, pos[0])
	if err != nil {
		return cliError(err, pos[0])
	}
	if a.cfg.Session.Store != configs.StoreRedis {
		return memoryStoreErr(a.cfg, "sessions",
			fmt.Sprintf("the user sees their devices on the account page (/.gatehouse/account), and gatehouse user logout %s ends every session on every gateway", u.Username))
	}
	recs, err := a.store.ListUser(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("list the sessions of %s: %w", u.Username, err)
	}
	if len(recs) == 0 {
		fmt.Fprintf(e.stdout, "%s has no live session\n", u.Username)
		return nil
	}
	slices.SortFunc(recs, func(x, y session.Record) int { return y.LastSeen.Compare(x.LastSeen) })
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tKIND\tCREATED\tLAST SEEN\tADDRESS\tMETHODS\tUSER AGENT")
	for _, r := range recs {
		kind := "browser"
		if r.Meta.Client != "" {
			kind = "mobile device (" + termSafe(r.Meta.Client) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, kind, r.Created.UTC().Format(timeLayout), r.LastSeen.UTC().Format(timeLayout),
			termSafe(r.Meta.ClientIP), termSafe(strings.Join(r.Meta.Methods, "+")), termSafe(r.Meta.UserAgent))
	}
	return tw.Flush()
}
