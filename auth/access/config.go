// Package access decides what a signed-in user may do in the CRM. Features
// are named capabilities ("leads.export"); a permission template grants a
// set of them; a role names its default template and a user may be given
// another; route rules say which feature a method and path need. The
// gateway compiles all of that into a Table once per policy or template
// version and asks it on every request, without allocating.
//
// The package does no I/O: the rules arrive in the login policy document
// (Config, its access: section) and the templates in their own versioned
// directory document (TemplateSet).
package access

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Config is the access: section of the login policy.
type Config struct {
	// Default is what a route no rule matches gets: allow or deny.
	Default string `yaml:"default"`
	// Features is the catalogue of feature names rules and templates may
	// use: data, so a CRM's new capability needs no new build.
	Features []string `yaml:"features,omitempty"`
	// Roles maps a role to its default permission template.
	Roles map[string]string `yaml:"roles,omitempty"`
	// Routes map request patterns to the feature they need.
	Routes []Route `yaml:"routes,omitempty"`
	// FoldCase matches paths case-insensitively (the default): an upstream
	// that serves /Export as /export cannot be reached around a rule, and
	// one that does not only answers 404 to the refused spelling.
	FoldCase *bool `yaml:"fold_case,omitempty"`
}

// Route is one rule: requests matching Pattern need Feature.
type Route struct {
	Pattern string `yaml:"route"`
	Feature string `yaml:"feature"`
}

// DefaultFeatures is the catalogue a policy without one gets: the CRM's
// capabilities the product documents name.
var DefaultFeatures = []string{
	"leads.view", "leads.create", "leads.update", "leads.delete", "leads.import", "leads.export",
	"accounts.view", "accounts.manage", "opportunities.view", "opportunities.manage",
	"activities.manage", "tasks.manage", "dashboards", "reports", "api", "admin",
}

// DefaultRoles maps the roles Gatehouse has always shipped to the default
// templates (DefaultTemplates).
var DefaultRoles = map[string]string{
	"admin": "admin", "sales_manager": "sales_manager", "manager": "sales_manager",
	"sales_user": "sales_user", "sales": "sales_user",
}

// SetDefaults fills what the section leaves out.
func (c *Config) SetDefaults() {
	if c.Default == "" {
		c.Default = "allow"
	}
	if c.Features == nil {
		c.Features = slices.Clone(DefaultFeatures)
	}
	if c.Roles == nil {
		c.Roles = map[string]string{}
		for k, v := range DefaultRoles {
			c.Roles[k] = v
		}
	}
	if c.FoldCase == nil {
		t := true
		c.FoldCase = &t
	}
}

// Fold reports whether paths match case-insensitively.
func (c *Config) Fold() bool { return c.FoldCase == nil || *c.FoldCase }

var (
	validFeature  = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	validTemplate = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	validRole     = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
)

// Validate reports every problem with its key path under prefix
// ("policy.access").
func (c *Config) Validate(prefix string) error {
	d := *c
	d.SetDefaults() // what is left out means the default, as at use
	c = &d
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	if c.Default != "allow" && c.Default != "deny" {
		bad("default", "must be allow or deny, got %q", c.Default)
	}
	known := map[string]bool{}
	for i, f := range c.Features {
		switch {
		case !validFeature.MatchString(f):
			bad(fmt.Sprintf("features[%d]", i), "%q is not a feature name (lower-case words joined by dots, like leads.export)", f)
		case known[f]:
			bad(fmt.Sprintf("features[%d]", i), "%q is listed twice", f)
		}
		known[f] = true
	}
	if len(c.Features) > maxFeatures {
		bad("features", "at most %d features, got %d", maxFeatures, len(c.Features))
	}
	for _, role := range slices.Sorted(maps.Keys(c.Roles)) {
		if !validRole.MatchString(role) {
			bad("roles", "%q is not a role name", role)
		}
		if t := c.Roles[role]; !validTemplate.MatchString(t) {
			bad("roles."+role, "%q is not a template name (lower-case letters, digits, - and _)", t)
		}
	}
	var patterns []pattern
	var texts []string
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		p, err := parsePattern(r.Pattern, c.Fold())
		if err != nil {
			bad(key+".route", "%v", err)
			continue
		}
		if !known[r.Feature] {
			bad(key+".feature", "%q is not in access.features", r.Feature)
		}
		patterns, texts = append(patterns, p), append(texts, r.Pattern)
	}
	if len(errs) == 0 {
		if err := checkConflicts(patterns, texts); err != nil {
			bad("routes", "%v (make one rule more specific, or merge them)", err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(errs, "\n"))
}

// canonical is the pattern as ServeMux syntax with folded literals, so
// that two rules that differ only in case are a duplicate there too.
func (p pattern) canonical() string {
	var b strings.Builder
	if p.method != "" {
		b.WriteString(p.method + " ")
	}
	for i, s := range p.segs {
		switch s.kind {
		case segLiteral:
			b.WriteString("/" + s.lit)
		case segOne:
			fmt.Fprintf(&b, "/{w%d}", i)
		case segMulti:
			b.WriteString("/")
		case segEnd:
			b.WriteString("/{$}")
		}
	}
	if len(p.segs) == 0 {
		b.WriteString("/")
	}
	return b.String()
}
