package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
)

const apikeyUse = `apikey create --user U [--name N] [--expires 90d] [--scopes a,b] [--allow-ips CIDR,...] | apikey list [--user U] | apikey revoke ID`

// cmdAPIKey manages API keys. create prints the key and nothing else on
// stdout, so a script can capture it; the key is never shown again.
func cmdAPIKey(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, apikeyUse)
	}
	fs, cfgPath := e.flags("apikey " + args[0])
	user := fs.String("user", "", "the key's owner")
	name := fs.String("name", "", "what the key is for")
	expires := fs.String("expires", "", "lifetime, e.g. 90d or 720h (default and maximum: the policy's api_keys.max_lifetime)")
	scopes := fs.String("scopes", "", "comma-separated features the key may use (default: all of the owner's)")
	allow := fs.String("allow-ips", "", "comma-separated CIDRs the key may be used from")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case args[0] == "create" && (*user == "" || len(pos) != 0),
		args[0] == "list" && len(pos) != 0,
		args[0] == "revoke" && len(pos) != 1,
		args[0] != "create" && args[0] != "list" && args[0] != "revoke":
		return fmt.Errorf("%w: %s", errUsage, apikeyUse)
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	switch args[0] {
	case "create":
		d, err := parseLifetime(*expires)
		if err != nil {
			return fmt.Errorf("%w: --expires: %v", errUsage, err)
		}
		keys, err := loadKeyring(a.cfg)
		if err != nil {
			return err
		}
		tok, k, err := svc.CreateAPIKey(ctx, cliActor(e), keys, admin.NewAPIKey{Username: *user, Name: *name, Expires: d,
			Scopes: splitList(*scopes), AllowIPs: splitList(*allow)})
		if err != nil {
			return cliError(err, *user)
		}
		fmt.Fprintf(e.stderr, "API key %s for %s, expires %s; it is shown only now:\n", k.ID, *user, k.ExpiresAt.Format(time.RFC3339))
		fmt.Fprintln(e.stdout, tok)
		return nil
	case "list":
		keys, err := svc.APIKeys(ctx, *user)
		if err != nil {
			return cliError(err, *user)
		}
		users, err := svc.Users(ctx)
		if err != nil {
			return err
		}
		names := map[string]string{}
		for _, u := range users {
			names[u.ID] = u.Username
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tOWNER\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tSTATE")
		now := a.now()
		for _, k := range keys {
			state := "active"
			switch {
			case !k.RevokedAt.IsZero():
				state = "revoked " + k.RevokedAt.Format(time.DateOnly)
			case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
				state = "expired"
			}
			last := "never"
			if !k.LastUsedAt.IsZero() {
				last = k.LastUsedAt.Format(time.DateTime) + " from " + k.LastUsedIP
			}
			sc := "all of the owner's"
			if len(k.Scopes) > 0 {
				sc = strings.Join(k.Scopes, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, names[k.UserID], sc,
				k.CreatedAt.Format(time.DateOnly), k.ExpiresAt.Format(time.DateOnly), last, state)
		}
		return tw.Flush()
	default:
		k, err := svc.RevokeAPIKey(ctx, cliActor(e), pos[0])
		if errors.Is(err, admin.ErrNoAPIKey) {
			return fmt.Errorf("no API key %q", pos[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "API key %s revoked; every gateway refuses it within a second\n", k.ID)
		return nil
	}
}

// parseLifetime reads a Go duration or a number of days ("90d").
func parseLifetime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration (90d, 720h)", s)
	}
	return d, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
