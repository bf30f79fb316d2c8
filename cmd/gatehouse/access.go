package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/admin"
	"github.com/gatehouse-auth/gatehouse/auth/records"
)

// cmdTemplate manages permission templates: list, show, set, delete.
func cmdTemplate(ctx context.Context, e *env, args []string) error {
	const use = "template list | template show NAME | template set NAME --file F | template delete NAME"
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	fs, cfgPath := e.flags("template " + args[0])
	file := fs.String("file", "", "YAML file holding the template: {description: ..., features: [...]}")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	want := map[string]int{"list": 0, "show": 1, "set": 1, "delete": 1}
	if n, ok := want[args[0]]; !ok || len(pos) != n || (args[0] == "set") != (*file != "") {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	switch args[0] {
	case "list":
		set, version, err := svc.Templates(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "# permission templates version %d\n", version)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TEMPLATE\tFEATURES\tDESCRIPTION")
		for _, name := range slices.Sorted(maps.Keys(set.Templates)) {
			t := set.Templates[name]
			fmt.Fprintf(tw, "%s\t%d\t%s\n", name, len(t.Features), t.Description)
		}
		return tw.Flush()
	case "show":
		set, version, err := svc.Templates(ctx)
		if err != nil {
			return err
		}
		t, ok := set.Templates[pos[0]]
		if !ok {
			return fmt.Errorf("no template %q", pos[0])
		}
		out, err := yaml.Marshal(t)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "# template %s (templates version %d)\n%s", pos[0], version, out)
		return nil
	case "set":
		data, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		t, err := access.ParseTemplate(pos[0], data, nil)
		if err != nil {
			return fmt.Errorf("%s: %v", *file, err)
		}
		ch, err := svc.SetTemplate(ctx, cliActor(e), pos[0], t)
		if err := templateError(err, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "template %s saved (templates version %d); running gateways apply it within a second\n", pos[0], ch.To)
		return nil
	default:
		ch, err := svc.DeleteTemplate(ctx, cliActor(e), pos[0])
		if err := templateError(err, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "template %s deleted (templates version %d)\n", pos[0], ch.To)
		return nil
	}
}

func templateError(err error, name string) error {
	var inv *admin.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv):
		return errors.New(inv.Problems[0].Message)
	case errors.Is(err, admin.ErrNoTemplate):
		return fmt.Errorf("no template %q", name)
	}
	return err
}

// cmdAccess answers questions about the access rules and manages the
// record access policies.
func cmdAccess(ctx context.Context, e *env, args []string) error {
	const use = "access explain --user U METHOD PATH | access check --user U --action A --resource-file F | access policy show | access policy set --file F"
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	switch args[0] {
	case "check":
		return accessCheck(ctx, e, args[1:])
	case "policy":
		return accessPolicies(ctx, e, args[1:])
	case "explain":
	default:
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	fs, cfgPath := e.flags("access explain")
	user := fs.String("user", "", "the user whose request to explain")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if *user == "" || len(pos) != 2 || !strings.HasPrefix(pos[1], "/") {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	x, err := svc.Explain(ctx, *user, strings.ToUpper(pos[0]), pos[1])
	if err != nil {
		return cliError(err, *user)
	}
	w := e.stdout
	fmt.Fprintf(w, "user:     %s (role %s)\n", x.User.Username, x.User.Role)
	switch x.TemplateSource {
	case "user":
		fmt.Fprintf(w, "template: %s (the user's own)", x.Template)
	case "role":
		fmt.Fprintf(w, "template: %s (the default of role %s)", x.Template, x.User.Role)
	default:
		fmt.Fprintf(w, "template: none (role %s has no default template)", x.User.Role)
	}
	if x.Template != "" && !x.TemplateExists {
		fmt.Fprint(w, " — it does not exist, so it grants nothing")
	}
	fmt.Fprintln(w)
	switch {
	case !x.CleanPath:
		fmt.Fprintf(w, "rule:     none; the path is not in canonical form and is refused (400)\ndecision: refused\n")
		return nil
	case x.Rule < 0:
		fmt.Fprintf(w, "rule:     none matches; access.default is %s\n", x.Default)
	default:
		granted := "does not grant it"
		if x.Allowed {
			granted = "grants it"
		}
		fmt.Fprintf(w, "rule:     #%d %q needs %s; the template %s\n", x.Rule, x.Route, x.Feature, granted)
	}
	if x.Allowed {
		fmt.Fprintln(w, "decision: allowed")
	} else {
		fmt.Fprintln(w, "decision: refused (403)")
	}
	return nil
}

// accessCheck prints the decision for one record check.
func accessCheck(ctx context.Context, e *env, args []string) error {
	const use = "access check --user U --action view|create|update|delete --resource-file F"
	fs, cfgPath := e.flags("access check")
	user := fs.String("user", "", "who asks (username or user id)")
	action := fs.String("action", "", "view, create, update or delete")
	file := fs.String("resource-file", "", `JSON file with the record's facts: {"type": "lead", "owner": "…", "account": {"owner": "…"}, …}`)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *user == "" || *action == "" || *file == "" || len(pos) != 0 {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	c := records.Check{User: *user, Action: *action}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.Resource); err != nil {
		return fmt.Errorf("%s: %v", *file, err)
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	d, err := svc.CheckAccess(ctx, c)
	if err != nil {
		if errors.Is(err, admin.ErrNoUser) {
			return fmt.Errorf("no user %q", *user)
		}
		return templateError(err, "")
	}
	if d.Allow {
		fmt.Fprintf(e.stdout, "decision: allow\npolicies: %s\n", strings.Join(d.Reasons, ", "))
	} else {
		fmt.Fprintln(e.stdout, "decision: deny (no policy permits it)")
	}
	return nil
}

// accessPolicies shows or replaces the record access policy set.
func accessPolicies(ctx context.Context, e *env, args []string) error {
	const use = "access policy show | access policy set --file F"
	if len(args) == 0 || (args[0] != "show" && args[0] != "set") {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	fs, cfgPath := e.flags("access policy " + args[0])
	file := fs.String("file", "", "Cedar policy file")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 || (args[0] == "set") != (*file != "") {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	a, svc, err := openAdmin(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer a.Close()
	if args[0] == "show" {
		doc, version, err := svc.AccessPolicies(ctx)
		if err != nil {
			return err
		}
		if version == 0 {
			fmt.Fprintln(e.stdout, "// access policies: the shipped set (none stored yet)")
		} else {
			fmt.Fprintf(e.stdout, "// access policies version %d\n", version)
		}
		_, err = e.stdout.Write(doc)
		return err
	}
	doc, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	ch, err := svc.SetAccessPolicies(ctx, cliActor(e), doc, -1)
	if err := templateError(err, ""); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "access policies saved (version %d); running gateways apply them within a second\n", ch.To)
	return nil
}
