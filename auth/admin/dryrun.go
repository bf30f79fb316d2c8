package admin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// PolicyDryRun is what storing a policy document would do, without
// storing it: the version it would become, the warnings SetPolicy would
// give, and what changes for access (route rules and the default), with
// the templates — and how many users hold each — a change refuses.
type PolicyDryRun struct {
	Version  int64
	Warnings []string
	Access   []string
}

// DryRunPolicy validates doc exactly as SetPolicy does and describes the
// change; nothing is stored or audited.
func (s *Service) DryRunPolicy(ctx context.Context, doc []byte) (PolicyDryRun, error) {
	p, _, warnings, err := s.checkPolicy(ctx, doc)
	if err != nil {
		return PolicyDryRun{}, err
	}
	cur, err := s.currentPolicy(ctx)
	if err != nil {
		return PolicyDryRun{}, err
	}
	pv, err := s.dir.CurrentPolicy(ctx)
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return PolicyDryRun{}, err
	}
	set, _, err := s.Templates(ctx)
	if err != nil {
		return PolicyDryRun{}, err
	}
	tbl, err := access.Compile(p.Access, set)
	if err != nil {
		return PolicyDryRun{}, err
	}
	users, err := s.dir.ListUsers(ctx)
	if err != nil {
		return PolicyDryRun{}, err
	}
	holders := map[string]int{} // template → users holding it under the new policy
	for _, u := range users {
		if !u.Disabled {
			holders[tbl.TemplateFor(u.Role, u.Template)]++
		}
	}
	refused := func(feature string) string {
		var out []string
		for _, name := range slices.Sorted(maps.Keys(holders)) {
			if name == "" || !slices.Contains(set.Templates[name].Features, feature) {
				label := name
				if label == "" {
					label = "(none)"
				}
				out = append(out, fmt.Sprintf("%s (%d users)", label, holders[name]))
			}
		}
		if len(out) == 0 {
			return "every user's template grants it"
		}
		return "refused for templates " + strings.Join(out, ", ")
	}
	r := PolicyDryRun{Version: pv.Version + 1, Warnings: warnings}
	if cur.Access.Default != p.Access.Default {
		r.Access = append(r.Access, fmt.Sprintf("access.default: %s → %s (requests no rule matches)", cur.Access.Default, p.Access.Default))
	}
	before := map[string]string{}
	for _, rt := range cur.Access.Routes {
		before[rt.Pattern] = rt.Feature
	}
	after := map[string]string{}
	for _, rt := range p.Access.Routes {
		after[rt.Pattern] = rt.Feature
		switch old, ok := before[rt.Pattern]; {
		case !ok:
			r.Access = append(r.Access, fmt.Sprintf("+ %q needs %s: %s", rt.Pattern, rt.Feature, refused(rt.Feature)))
		case old != rt.Feature:
			r.Access = append(r.Access, fmt.Sprintf("~ %q needs %s instead of %s: %s", rt.Pattern, rt.Feature, old, refused(rt.Feature)))
		}
	}
	for _, rt := range cur.Access.Routes {
		if _, ok := after[rt.Pattern]; !ok {
			r.Access = append(r.Access, fmt.Sprintf("- %q (%s) removed: it then follows access.default (%s)", rt.Pattern, rt.Feature, p.Access.Default))
		}
	}
	return r, nil
}
