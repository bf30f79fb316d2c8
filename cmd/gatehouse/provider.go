package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/apilogin"
)

// cmdProvider runs `provider test ID --username U --password-stdin`: one
// check against an API provider's endpoint, printing what happened (TLS,
// status, timing, the answer) and never the password. Nothing is
// counted, linked or changed.
func cmdProvider(ctx context.Context, e *env, args []string) error {
	const use = "provider test ID --username U --password-stdin"
	if len(args) == 0 || args[0] != "test" {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	fs, cfgPath := e.flags("provider test")
	username := fs.String("username", "", "the login name to check")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 || *username == "" || !*stdin {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	a, err := openApp(ctx, e, *cfgPath, false, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	var sec *apilogin.Section
	for _, p := range a.cfg.Providers {
		if p.ID == pos[0] {
			s, ok := p.Method.(*apilogin.Section)
			if !ok {
				return fmt.Errorf("provider %s is of type %s; only api providers can be tested this way", p.ID, p.Type)
			}
			sec = s
		}
	}
	if sec == nil {
		return fmt.Errorf("no provider %q in the configuration", pos[0])
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("read the password from stdin: nothing there")
	}
	pw := strings.TrimRight(line, "\r\n")
	c, err := apilogin.NewClient(sec)
	if err != nil {
		return fmt.Errorf("provider %s: %w", pos[0], err)
	}
	ans, tr, err := c.Check(ctx, strings.ToLower(strings.TrimSpace(*username)), pw, "127.0.0.1")
	w := e.stdout
	fmt.Fprintf(w, "endpoint: %s\n", sec.URL)
	if tr.TLSVersion != "" {
		fmt.Fprintf(w, "tls:      %s, %s, server %s\n", tr.TLSVersion, tr.Cipher, tr.PeerSubject)
	}
	if tr.Status != 0 {
		fmt.Fprintf(w, "status:   %d\n", tr.Status)
	}
	fmt.Fprintf(w, "time:     %s\n", tr.Elapsed.Round(time.Millisecond))
	if err != nil {
		fmt.Fprintf(w, "result:   could not check (%v); a login now would be refused as unavailable and count as nothing\n", err)
		return errors.New("the check failed")
	}
	if !ans.Valid {
		fmt.Fprintln(w, "result:   invalid credentials (a login would count as a failed attempt)")
		return nil
	}
	fmt.Fprintf(w, "result:   valid, email %s\n", ans.Email)
	return nil
}
