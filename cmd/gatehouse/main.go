// Command gatehouse is the authentication gateway: `gatehouse serve` runs
// it, and the admin subcommands (user, policy, keys, check-config) work on
// the same directory and session store the configuration names.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage: gatehouse <command> [flags]

commands:
  serve [--config FILE]                 run the gateway
  check-config [--config FILE] [--offline]
                                        check what serve checks at start (the configuration, its
                                        files, certificates, lists and providers) and create nothing;
                                        unless --offline, also ping Redis and PostgreSQL, run OIDC
                                        discovery and fetch the SAML metadata and Tor list URLs
  user add --username U --email E --role R [--display-name N] [--groups a,b] [--password-stdin [--must-change]]
  user list | user disable U | user enable U | user set-role U ROLE
  user set-password U --password-stdin [--must-change]   --must-change: the user picks a new one at next login
  user allow-ips U CIDR[=DESCRIPTION]... | user allow-ips U --clear   e.g. "10.1.0.0/16=Bangalore office"
  user logout U | user reset-2fa U | user require-2fa U on|off
  user set-template U TEMPLATE | user set-template U --clear
  user show U | user edit U [--email E] [--display-name N] [--role R] [--groups a,b]   only what is named
  user delete U [--erase] [--yes]       asks for the username on stdin unless --yes; --erase also
                                        pseudonymizes their audit events and the events queued for
                                        the CRM (data-protection erasure)
  user unlock U | user sessions U       failed-login counters, live sessions (session.store: redis)
  template list | template show NAME | template set NAME --file F | template delete NAME
  access explain --user U METHOD PATH   which route rule applies, what it needs, and whether U has it
  access check --user U --action A --resource-file F   may U act on that record, and which policies say so
  access policy show | access policy set --file F      the Cedar policies over accounts, leads, opportunities
  group list | group show NAME | group add NAME [--mode lead_based|account_based] [--description D]
  group set-mode NAME MODE | group delete NAME | group add-member NAME USER | group remove-member NAME USER
  group grant NAME USER PERM... | group revoke NAME USER PERM...   manager permissions: view_all_leads,
                                        modify_all_leads, view_all_accounts, modify_all_accounts
  apikey create --user U [--name N] [--expires 90d] [--scopes a,b] [--allow-ips CIDR,...]   prints the key once
  apikey list [--user U] | apikey revoke ID
  device list U | device revoke U DEVICE... | device revoke U --all   the user's mobile app logins
  webhook list [--failed] [--limit N]   the session-end events queued for the CRM (upstream_notify),
                                        newest first; --failed: only those given up
  webhook retry ID                      re-queue a failed event now, under the same id
  provider test ID --username U --password-stdin   one check against an api provider's endpoint
  check-ip ADDR [--user U]              what the network guard decides for an address, and why
  policy show [--version N] | policy history [--limit N] | policy diff --file F|- | policy diff --version N
  policy set --file F|- [--dry-run] [--yes]   a file naming only some sections is merged onto the policy in force
  policy rollback VERSION [--yes]       store an earlier version again as the next one
  logout-all [--include-api-keys] [--yes]   end every session and device of every user, on every gateway
  audit [--user U] [--event E] [--since T] [--until T] [--limit N] [--format table|ndjson|csv]
                                        the audit log, newest first; T: RFC 3339, a date, or 24h/7d ago
  keys list | keys rotate | keys retire KID
  password-key list | password-key rotate   the login page's password encryption keys (policy
                                        methods.password_encryption); the gateway makes the first one
  version

Every command takes --config FILE (default: $GATEHOUSE_CONFIG, else the
embedded defaults), so admin commands reach the same stores as serve.
`

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}

// env is what a command sees of the outside world; tests pass their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	vars           []string
	// tty overrides the terminal check of stderr (tests).
	tty *bool
}

// terminal reports whether stderr is an interactive terminal, where a
// generated password may be shown. A character-device check would also
// say yes to /dev/null, where the password would be lost; x/term asks
// the terminal itself.
func (e *env) terminal() bool {
	if e.tty != nil {
		return *e.tty
	}
	f, ok := e.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, vars []string) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, vars: vars}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if isHelp(args[0]) || args[0] == "help" && len(args) == 1 {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if args[0] == "help" || len(args) == 2 && isHelp(args[1]) {
		// "gatehouse user --help", "gatehouse help user": that command's
		// lines of the usage (subcommands have their own flags' help).
		name := args[len(args)-1]
		if args[0] != "help" {
			name = args[0]
		}
		if lines := usageOf(name); lines != "" {
			fmt.Fprint(stdout, lines)
			return 0
		}
	}
	cmds := map[string]func(context.Context, *env, []string) error{
		"serve":        cmdServe,
		"check-config": cmdCheckConfig,
		"user":         cmdUser,
		"policy":       cmdPolicy,
		"template":     cmdTemplate,
		"access":       cmdAccess,
		"group":        cmdGroup,
		"apikey":       cmdAPIKey,
		"device":       cmdDevice,
		"webhook":      cmdWebhook,
		"logout-all":   cmdLogoutAll,
		"audit":        cmdAudit,
		"provider":     cmdProvider,
		"keys":         cmdKeys,
		"password-key": cmdPasswordKey,
		"check-ip":     cmdCheckIP,
		"version":      func(context.Context, *env, []string) error { fmt.Fprintln(stdout, "gatehouse", version); return nil },
	}
	f, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch err := f(ctx, e, args[1:]); {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0 // the flags' help was asked for, and printed
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "gatehouse %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "gatehouse %s: %v\n", args[0], err)
		return 1
	}
}

// flags returns a FlagSet with the common --config flag.
func (e *env) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg := fs.String("config", e.lookup("GATEHOUSE_CONFIG"), "configuration file (default: embedded defaults)")
	return fs, cfg
}

func (e *env) lookup(name string) string {
	for _, kv := range e.vars {
		if len(kv) > len(name) && kv[:len(name)] == name && kv[len(name)] == '=' {
			return kv[len(name)+1:]
		}
	}
	return ""
}

// parseInterspersed parses flags that may follow positional arguments
// ("user disable alice --config f"), which the flag package alone does not.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err // the flags' help was printed: not a mistake
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// usageOf is the usage's lines for one command, with their continuation
// lines; "" when the usage names no such command.
func usageOf(name string) string {
	var b strings.Builder
	in := false
	for line := range strings.SplitSeq(usage, "\n") {
		switch {
		case strings.HasPrefix(line, "  "+name+" ") || line == "  "+name:
			in = true
		case strings.HasPrefix(line, "    ") && in:
			// a continuation of the command above
		default:
			in = false
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
