package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/pwcrypt"
)

const passwordKeyUsage = "password-key list | password-key rotate"

// cmdPasswordKey lists and rotates the login page's password encryption
// keys (policy methods.password_encryption; auth/pwcrypt). The gateway
// makes the first key itself when the policy turns encryption on.
func cmdPasswordKey(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, passwordKeyUsage)
	}
	fs, cfgPath := e.flags("password-key " + args[0])
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 || args[0] != "list" && args[0] != "rotate" {
		return fmt.Errorf("%w: %s", errUsage, passwordKeyUsage)
	}
	a, err := openApp(ctx, e, *cfgPath, false, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if args[0] == "list" {
		return listPasswordKeys(ctx, e, a)
	}
	keys, err := loadKeyring(a.cfg)
	if err != nil {
		return err
	}
	kid, retired, err := pwcrypt.Rotate(ctx, a.dir, keys, a.now())
	if err != nil {
		return err
	}
	detail := map[string]string{"key": "password_encryption", "kid": kid}
	if len(retired) > 0 {
		detail["retired"] = strings.Join(retired, ",")
	}
	a.audit.Record(ctx, audit.Event{Event: audit.KeyRotated, Actor: cliActor(e), Detail: detail})
	fmt.Fprintf(e.stdout, "new password encryption key %s: every gateway issues login challenges under it within %s; the key before it keeps decrypting the challenges already issued until they expire.\n",
		kid, pwcrypt.ReloadInterval)
	for _, k := range retired {
		fmt.Fprintf(e.stdout, "retired %s (replaced more than %s ago)\n", k, pwcrypt.Overlap)
	}
	return nil
}

// listPasswordKeys prints the password keys, newest last: the newest
// live one is active, older live ones still decrypt what was issued
// under them.
func listPasswordKeys(ctx context.Context, e *env, a *app) error {
	all, err := a.dir.SigningKeys(ctx)
	if err != nil {
		return err
	}
	newest := ""
	for _, k := range all {
		if k.Alg == pwcrypt.Alg && !k.Retired {
			newest = k.KID
		}
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tCREATED\tSTATUS")
	for _, k := range all {
		if k.Alg != pwcrypt.Alg {
			continue
		}
		status := "replaced"
		switch {
		case k.Retired:
			status = "retired"
		case k.KID == newest:
			status = "active"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.KID, k.CreatedAt.Format("2006-01-02 15:04"), status)
	}
	return tw.Flush()
}
