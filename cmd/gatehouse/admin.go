package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/signing"
	"golang.org/x/term"
)

const policyUse = `policy show [--version N] | policy history [--limit N] | policy diff --file F|- | policy diff --version N
       policy set --file F|- [--dry-run] [--yes] | policy rollback VERSION [--yes]`

func cmdPolicy(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || !slices.Contains([]string{"show", "history", "diff", "set", "rollback"}, args[0]) {
		return fmt.Errorf("%w: %s", errUsage, policyUse)
	}
	fs, cfgPath := e.flags("policy " + args[0])
	file := fs.String("file", "", "YAML file holding the policy or the sections to change (- reads stdin); a file naming only some sections is merged onto the policy in force")
	dry := fs.Bool("dry-run", false, "validate and say what would change; store nothing")
	yes := fs.Bool("yes", false, "store without asking for confirmation")
	ver := fs.Int64("version", 0, "a stored version (show: that version; diff: against the one before it)")
	limit := fs.Int("limit", 20, "how many versions to list")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case (args[0] == "set" || args[0] == "diff" && *ver == 0) && *file == "",
		args[0] == "rollback" && len(pos) != 1,
		args[0] != "rollback" && len(pos) != 0:
		return fmt.Errorf("%w: %s", errUsage, policyUse)
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	noPolicy := func(err error) error {
		if errors.Is(err, admin.ErrNoPolicy) && *ver == 0 {
			return errors.New("no login policy stored yet; `gatehouse serve` seeds it from the config on first start")
		}
		return err
	}
	switch args[0] {
	case "show":
		cur, err := svc.Policy(ctx)
		if *ver != 0 {
			cur, err = svc.PolicyAt(ctx, *ver)
		}
		if err != nil {
			return noPolicy(err)
		}
		fmt.Fprintf(e.stdout, "# login policy version %d, set by %s at %s\n%s", cur.Version, cur.Actor,
			cur.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), cur.Document)
		return nil
	case "history":
		h, err := svc.PolicyHistory(ctx, *limit+1)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSET BY\tAT\tCHANGED LINES")
		for i, pv := range h {
			if i == *limit {
				break
			}
			changed := "(first)"
			if i+1 < len(h) {
				changed = fmt.Sprint(len(admin.DiffLines(string(h[i+1].Document), string(pv.Document))))
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", pv.Version, pv.Actor, pv.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), changed)
		}
		return tw.Flush()
	case "diff":
		if *ver != 0 {
			to, err := svc.PolicyAt(ctx, *ver)
			if err != nil {
				return err
			}
			var from []byte
			if *ver > 1 {
				prev, err := svc.PolicyAt(ctx, *ver-1)
				if err != nil {
					return err
				}
				from = prev.Document
			}
			fmt.Fprintf(e.stdout, "version %d against version %d (set by %s):\n", *ver, *ver-1, to.Actor)
			printDiff(e, admin.DiffLines(string(from), string(to.Document)))
			return nil
		}
		data, err := readPolicyFile(e, *file)
		if err != nil {
			return err
		}
		plan, err := svc.PlanPolicy(ctx, data)
		if err != nil {
			return policyError(*file, err)
		}
		describePlan(e, *file, plan)
		return nil
	case "rollback":
		v, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || v < 1 {
			return fmt.Errorf("%w: policy rollback VERSION: %q is not a version number (see: gatehouse policy history)", errUsage, pos[0])
		}
		plan, err := svc.PlanRollback(ctx, v)
		if err != nil {
			return policyError(fmt.Sprintf("version %d", v), err)
		}
		return confirmAndApply(ctx, e, svc, plan, fmt.Sprintf("version %d as it was", v), *yes, *dry, map[string]string{"rollback_to": fmt.Sprint(v)})
	}
	data, err := readPolicyFile(e, *file)
	if err != nil {
		return err
	}
	plan, err := svc.PlanPolicy(ctx, data)
	if err != nil {
		return policyError(*file, err)
	}
	return confirmAndApply(ctx, e, svc, plan, *file, *yes, *dry, nil)
}

// stdinTerminal reports whether stdin is an interactive terminal, where
// a confirmation can be asked for (stdin holding the policy is not one).
func (e *env) stdinTerminal() bool {
	f, ok := e.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readPolicyFile reads --file, "-" meaning stdin.
func readPolicyFile(e *env, file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	}
	return os.ReadFile(file)
}

func policyError(what string, err error) error {
	var inv *admin.InvalidError
	if errors.As(err, &inv) {
		return fmt.Errorf("%s: %s", what, inv.Problems[0].Message)
	}
	return err
}

func printDiff(e *env, diff []string) {
	if len(diff) == 0 {
		fmt.Fprintln(e.stdout, "  (no change)")
	}
	for _, l := range diff {
		fmt.Fprintln(e.stdout, "  "+l)
	}
}

// describePlan prints what storing a plan would do: how the document was
// read, the diff, the access-rule changes, and warnings.
func describePlan(e *env, what string, plan admin.PolicyPlan) {
	for _, w := range plan.Warnings {
		fmt.Fprintln(e.stderr, "warning:", w)
	}
	switch {
	case plan.From.Version == 0:
		fmt.Fprintf(e.stdout, "%s would become login policy version 1\n", what)
	case plan.Merged:
		fmt.Fprintf(e.stdout, "%s names only some sections: merged onto version %d (every key it does not name stays as it is; null removes one)\n", what, plan.From.Version)
	default:
		fmt.Fprintf(e.stdout, "%s is a whole policy: it replaces version %d\n", what, plan.From.Version)
	}
	fmt.Fprintln(e.stdout, "changes:")
	printDiff(e, plan.Diff)
	if len(plan.Access) == 0 {
		fmt.Fprintln(e.stdout, "access: no change to route rules or access.default")
	}
	for _, l := range plan.Access {
		fmt.Fprintln(e.stdout, "access:", l)
	}
	im := plan.Impact
	for _, l := range im.NetworkLoss {
		fmt.Fprintf(e.stdout, "network: %s would be refused from %s, where they logged in lately (%s)\n", l.Username, l.Address, l.Rule)
	}
	if len(im.ForcedEnrolment) > 0 {
		fmt.Fprintf(e.stdout, "2fa: must enrol a second factor at their next login: %s\n", strings.Join(im.ForcedEnrolment, ", "))
	}
	switch {
	case im.SessionsEnding > 0:
		fmt.Fprintf(e.stdout, "sessions: %d live sessions end at their next request under the new lifetimes\n", im.SessionsEnding)
	case im.SessionsEnding < 0 && plan.From.Version > 0:
		fmt.Fprintln(e.stdout, "sessions: not counted here (the CLI reads no session store; the admin API's dry run counts them)")
	}
}

// confirmAndApply shows the plan and stores it when the operator agrees:
// --yes, or "yes" typed at a terminal. Without a terminal nothing is
// stored unless --yes says so.
func confirmAndApply(ctx context.Context, e *env, svc *admin.Service, plan admin.PolicyPlan, what string, yes, dry bool, detail map[string]string) error {
	describePlan(e, what, plan)
	if dry {
		fmt.Fprintf(e.stdout, "dry run: valid; would become login policy version %d; nothing was stored\n", plan.From.Version+1)
		return nil
	}
	if len(plan.Diff) == 0 {
		fmt.Fprintf(e.stdout, "nothing to store: version %d already says exactly this\n", plan.From.Version)
		return nil
	}
	if !yes {
		if !e.stdinTerminal() {
			return fmt.Errorf("%w: not stored; add --yes to store it without a terminal to confirm at", errUsage)
		}
		fmt.Fprint(e.stderr, "store this as the login policy? type yes: ")
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return errors.New("not stored")
		}
	}
	ch, err := svc.ApplyPolicy(ctx, cliActor(e), plan, detail)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "login policy version %d is in force; running gateways apply it within a few seconds\n", ch.To.Version)
	return nil
}

// kidPattern is a key id: an RFC 7638 thumbprint in base64url, which
// starts with "-" one time in 64.
var kidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// kidsAsOperands moves key ids that begin with "-" behind "--", so the
// flag parser takes `keys retire -3tC…` for a key, not an unknown flag.
func kidsAsOperands(args []string) []string {
	var flags, kids []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") && kidPattern.MatchString(a) {
			kids = append(kids, a)
		} else {
			flags = append(flags, a)
		}
	}
	if len(kids) == 0 {
		return args
	}
	return append(append(flags, "--"), kids...)
}

func cmdKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: keys list | keys rotate | keys retire KID", errUsage)
	}
	fs, cfgPath := e.flags("keys " + args[0])
	pos, err := parseInterspersed(fs, kidsAsOperands(args[1:]))
	if err != nil {
		return err
	}
	a, err := openApp(ctx, e, *cfgPath, false, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	switch {
	case args[0] == "list" && len(pos) == 0:
		keys, err := a.dir.SigningKeys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATUS")
		for _, k := range keys {
			status := "active"
			if k.Retired {
				status = "retired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.CreatedAt.Format("2006-01-02 15:04"), status)
		}
		return tw.Flush()
	case args[0] == "rotate" && len(pos) == 0:
		keys, err := loadKeyring(a.cfg)
		if err != nil {
			return err
		}
		k, err := signing.Generate(ctx, a.dir, keys, a.now())
		if err != nil {
			return err
		}
		a.audit.Record(ctx, audit.Event{Event: audit.KeyRotated, Actor: cliActor(e), Detail: map[string]string{"kid": k.KID}})
		fmt.Fprintf(e.stdout, "new signing key %s: published in the JWKS now, used for signing after %s. Retire the old key %s after that, once its last tokens have expired.\n",
			k.KID, signing.ActivationDelay, "(gatehouse keys retire KID)")
		return nil
	case args[0] == "retire" && len(pos) == 1:
		if err := a.dir.RetireSigningKey(ctx, pos[0]); err != nil {
			return err
		}
		a.audit.Record(ctx, audit.Event{Event: audit.KeyRotated, Actor: cliActor(e), Detail: map[string]string{"retired": pos[0]}})
		fmt.Fprintf(e.stdout, "key %s retired\n", pos[0])
		return nil
	}
	return fmt.Errorf("%w: keys list | keys rotate | keys retire KID", errUsage)
}
