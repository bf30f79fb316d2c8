package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

const groupUse = `group list | group show NAME | group add NAME [--mode lead_based|account_based] [--description D]
       group set-mode NAME MODE | group delete NAME
       group add-member NAME USER | group remove-member NAME USER
       group grant NAME USER PERM... | group revoke NAME USER PERM...`

// cmdGroup manages sales groups, their members and the members' manager
// permissions.
func cmdGroup(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, groupUse)
	}
	fs, cfgPath := e.flags("group " + args[0])
	mode := fs.String("mode", directory.ModeLeadBased, "access mode: lead_based or account_based")
	desc := fs.String("description", "", "what the group is")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	arity := map[string][2]int{"list": {0, 0}, "show": {1, 1}, "add": {1, 1}, "set-mode": {2, 2}, "delete": {1, 1},
		"add-member": {2, 2}, "remove-member": {2, 2}, "grant": {3, 99}, "revoke": {3, 99}}
	n, ok := arity[args[0]]
	if !ok || len(pos) < n[0] || len(pos) > n[1] {
		return fmt.Errorf("%w: %s", errUsage, groupUse)
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	actor, w := cliActor(e), e.stdout
	switch args[0] {
	case "list":
		gs, err := svc.Groups(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tMODE\tMEMBERS\tMANAGERS\tDESCRIPTION")
		for _, g := range gs {
			managers := 0
			for _, m := range g.Members {
				if len(m.Perms) > 0 {
					managers++
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", g.Name, g.Mode, len(g.Members), managers, g.Description)
		}
		return tw.Flush()
	case "show":
		g, err := svc.Group(ctx, pos[0])
		if err != nil {
			return groupError(err, pos[0], "")
		}
		fmt.Fprintf(w, "group:       %s\nmode:        %s\n", g.Name, g.Mode)
		if g.Description != "" {
			fmt.Fprintf(w, "description: %s\n", g.Description)
		}
		fmt.Fprintf(w, "members:     %d\n", len(g.Members))
		for _, m := range g.Members {
			perms := "member"
			if len(m.Perms) > 0 {
				perms = strings.Join(m.Perms, ", ")
			}
			fmt.Fprintf(w, "  %-20s %s\n", m.Username, perms)
		}
		return nil
	case "add":
		g, err := svc.AddGroup(ctx, actor, pos[0], *mode, *desc)
		if err != nil {
			return groupError(err, pos[0], "")
		}
		fmt.Fprintf(w, "group %s added (%s)\n", g.Name, g.Mode)
		return nil
	case "set-mode":
		g, err := svc.SetGroupMode(ctx, actor, pos[0], pos[1])
		if err != nil {
			return groupError(err, pos[0], "")
		}
		fmt.Fprintf(w, "group %s is now %s\n", g.Name, g.Mode)
		return nil
	case "delete":
		if err := svc.DeleteGroup(ctx, actor, pos[0]); err != nil {
			return groupError(err, pos[0], "")
		}
		fmt.Fprintf(w, "group %s deleted; its members' sessions end at their next request\n", pos[0])
		return nil
	case "add-member":
		u, err := svc.AddMember(ctx, actor, pos[0], pos[1])
		if err != nil {
			return groupError(err, pos[0], pos[1])
		}
		fmt.Fprintf(w, "%s is in group %s; their sessions end at their next request\n", u.Username, pos[0])
		return nil
	case "remove-member":
		u, err := svc.RemoveMember(ctx, actor, pos[0], pos[1])
		if err != nil {
			return groupError(err, pos[0], pos[1])
		}
		fmt.Fprintf(w, "%s left group %s; their sessions end at their next request\n", u.Username, pos[0])
		return nil
	default:
		perms, err := svc.GrantPerms(ctx, actor, pos[0], pos[1], pos[2:], args[0] == "grant")
		if err != nil {
			return groupError(err, pos[0], pos[1])
		}
		shown := "none (an ordinary member)"
		if len(perms) > 0 {
			shown = strings.Join(perms, ", ")
		}
		fmt.Fprintf(w, "%s in %s: %s\n", pos[1], pos[0], shown)
		return nil
	}
}

func groupError(err error, group, username string) error {
	var inv *admin.InvalidError
	switch {
	case errors.As(err, &inv):
		var msgs []string
		for _, p := range inv.Problems {
			msgs = append(msgs, p.Message)
		}
		return errors.New(strings.Join(msgs, "\n"))
	case errors.Is(err, admin.ErrNoGroup):
		return fmt.Errorf("no group %q", group)
	case errors.Is(err, admin.ErrGroupExists):
		return fmt.Errorf("group %q exists already", group)
	case errors.Is(err, admin.ErrNotMember):
		return errors.New(strings.TrimPrefix(err.Error(), admin.ErrNotMember.Error()+": "))
	case errors.Is(err, admin.ErrNoUser):
		return fmt.Errorf("no user %q", username)
	}
	return err
}
