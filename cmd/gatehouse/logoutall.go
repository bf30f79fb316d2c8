package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
)

const logoutAllUse = `logout-all [--include-api-keys] [--yes]`

// cmdLogoutAll is "log out everyone" (the product's Force Logout All
// Users): for a suspected compromise. It asks for the phrase to be typed
// at a terminal unless --yes says so.
func cmdLogoutAll(ctx context.Context, e *env, args []string) error {
	fs, cfgPath := e.flags("logout-all")
	keys := fs.Bool("include-api-keys", false, "revoke every live API key too")
	yes := fs.Bool("yes", false, "do it without asking")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: %s", errUsage, logoutAllUse)
	}
	if !*yes {
		if !e.stdinTerminal() {
			return fmt.Errorf("%w: nothing done; add --yes to log everyone out without a terminal to confirm at", errUsage)
		}
		fmt.Fprint(e.stderr, "every session and mobile device of every user ends on every gateway. Type \"log out everyone\": ")
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "log out everyone" {
			return errors.New("nothing done")
		}
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := svc.LogoutAll(ctx, cliActor(e), *keys)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d users logged out: every session and device ends on every gateway within a second\n", res.Users)
	if *keys {
		fmt.Fprintf(e.stdout, "%d API keys revoked\n", res.APIKeys)
	}
	return nil
}
