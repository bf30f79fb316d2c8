package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/signing"
	"github.com/gatehouse-auth/gatehouse/configs"
)

func cmdCheckConfig(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("check-config")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	cfg, err := configs.Load(*cfgPath, e.vars)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(e.stdout, "warning:", w)
	}
	fmt.Fprintln(e.stdout, "configuration ok")
	return nil
}

func cmdPolicy(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "show" && args[0] != "set") {
		return fmt.Errorf("%w: policy show | policy set --file F [--dry-run]", errUsage)
	}
	fs, cfgPath := e.flags("policy " + args[0])
	file := fs.String("file", "", "YAML file holding the new policy (the same shape as the config's policy: section)")
	dry := fs.Bool("dry-run", false, "validate and say what would change (access rules and who they refuse); store nothing")
	if _, err := parseInterspersed(fs, args[1:]); err != nil {
		return err
	}
	if args[0] == "set" && *file == "" {
		return fmt.Errorf("%w: policy set --file F", errUsage)
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	if args[0] == "show" {
		cur, err := svc.Policy(ctx)
		if errors.Is(err, admin.ErrNoPolicy) {
			return errors.New("no login policy stored yet; `gatehouse serve` seeds it from the config on first start")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "# login policy version %d, set by %s at %s\n%s", cur.Version, cur.Actor,
			cur.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), cur.Document)
		return nil
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	if *dry {
		dr, err := svc.DryRunPolicy(ctx, data)
		var inv *admin.InvalidError
		if errors.As(err, &inv) {
			return fmt.Errorf("%s: %s", *file, inv.Problems[0].Message)
		}
		if err != nil {
			return err
		}
		for _, w := range dr.Warnings {
			fmt.Fprintln(e.stderr, "warning:", w)
		}
		fmt.Fprintf(e.stdout, "dry run: %s is valid and would become login policy version %d; nothing was stored\n", *file, dr.Version)
		if len(dr.Access) == 0 {
			fmt.Fprintln(e.stdout, "access: no change to route rules or access.default")
		}
		for _, l := range dr.Access {
			fmt.Fprintln(e.stdout, "access:", l)
		}
		return nil
	}
	ch, err := svc.SetPolicy(ctx, cliActor(e), data)
	var inv *admin.InvalidError
	if errors.As(err, &inv) {
		return fmt.Errorf("%s: %s", *file, inv.Problems[0].Message)
	}
	if err != nil {
		return err
	}
	for _, w := range ch.Warnings {
		fmt.Fprintln(e.stderr, "warning:", w)
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
