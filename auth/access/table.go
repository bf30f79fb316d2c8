package access

import (
	"slices"
	"strings"
	"sync/atomic"
)

// maxFeatures bounds the catalogue so a grant is a few machine words.
const maxFeatures = 512

// Grants is what one template lets its holders do, compiled: the set as
// bits for the request path, and as text for the upstream.
type Grants struct {
	Template string   // "" when the caller has none (no feature granted)
	Features []string // sorted
	// Header is Features joined with ",", the X-Gatehouse-Permissions value.
	Header string
	bits   []uint64
}

// Has reports whether the grants include feature number i.
func (g *Grants) has(i int32) bool {
	w := int(i >> 6)
	return w < len(g.bits) && g.bits[w]&(1<<(uint(i)&63)) != 0
}

// Decision is the answer for one request.
type Decision struct {
	// Rule is the index of the matching route rule, -1 when none did.
	Rule int
	// Feature is what the rule needs ("" when none matched).
	Feature string
	Allowed bool
}

// Table is the compiled form of one policy version's access section and
// one template set. It is immutable; Live swaps whole tables.
type Table struct {
	cfg       Config
	set       TemplateSet
	rt        *routes
	ruleFeat  []int32
	templates map[string]*Grants
	roles     map[string]*Grants
	none      *Grants
	// Gen changes whenever a new table is compiled, so anything derived
	// from a caller's grants (a cached assertion) knows to redo it.
	Gen uint64
}

var generation atomic.Uint64

// Compile builds a Table. cfg must have passed Validate; templates naming
// features the catalogue lacks keep the rest (the feature grants nothing
// no rule can ask for). A role whose template does not exist grants
// nothing: a typo fails closed.
func Compile(cfg Config, set TemplateSet) (*Table, error) {
	cfg.SetDefaults()
	if err := cfg.Validate("access"); err != nil {
		return nil, err
	}
	index := make(map[string]int32, len(cfg.Features))
	for i, f := range cfg.Features {
		index[f] = int32(i)
	}
	t := &Table{cfg: cfg, set: set, templates: map[string]*Grants{}, roles: map[string]*Grants{},
		none: &Grants{Features: []string{}}, Gen: generation.Add(1)}
	words := (len(cfg.Features) + 63) / 64
	for name, tpl := range set.Templates {
		g := &Grants{Template: name, bits: make([]uint64, words)}
		for _, f := range tpl.Features {
			if i, ok := index[f]; ok {
				g.bits[i>>6] |= 1 << (uint(i) & 63)
				g.Features = append(g.Features, f)
			}
		}
		slices.Sort(g.Features)
		g.Features = slices.Compact(g.Features)
		if g.Features == nil {
			g.Features = []string{}
		}
		g.Header = strings.Join(g.Features, ",")
		t.templates[name] = g
	}
	for role, name := range cfg.Roles {
		if g := t.templates[name]; g != nil {
			t.roles[role] = g
		}
	}
	pats := make([]pattern, len(cfg.Routes))
	t.ruleFeat = make([]int32, len(cfg.Routes))
	for i, r := range cfg.Routes {
		p, err := parsePattern(r.Pattern, cfg.Fold())
		if err != nil {
			return nil, err // Validate parsed it already
		}
		pats[i] = p
		t.ruleFeat[i] = index[r.Feature]
	}
	t.rt = compileRoutes(pats)
	return t, nil
}

// Config is the access section the table was compiled from.
func (t *Table) Config() Config { return t.cfg }

// Templates is the template set the table was compiled from.
func (t *Table) Templates() TemplateSet { return t.set }

// GrantsFor returns the grants of a caller: their own template when they
// have one, else their role's; a template that does not exist grants
// nothing.
func (t *Table) GrantsFor(role, template string) *Grants {
	if template != "" {
		if g := t.templates[template]; g != nil {
			return g
		}
		return t.none
	}
	if g := t.roles[role]; g != nil {
		return g
	}
	return t.none
}

// TemplateFor names the template GrantsFor would use ("" for none).
func (t *Table) TemplateFor(role, template string) string {
	if template != "" {
		return template
	}
	return t.cfg.Roles[role]
}

// HasRules reports whether any route rule exists; without one, and with
// default allow, the table never refuses.
func (t *Table) HasRules() bool { return len(t.cfg.Routes) > 0 }

// Decide answers whether a caller holding g may make the request. path is
// the request's decoded path, which must be clean (see CleanPath).
func (t *Table) Decide(method, path string, g *Grants) Decision {
	rule := t.Route(method, path)
	if rule < 0 {
		return Decision{Rule: -1, Allowed: t.cfg.Default == "allow"}
	}
	f := t.ruleFeat[rule]
	return Decision{Rule: rule, Feature: t.cfg.Features[f], Allowed: g.has(f)}
}

// Route returns the index of the rule matching the request, -1 for none.
func (t *Table) Route(method, path string) int {
	if len(t.cfg.Routes) == 0 {
		return -1
	}
	var buf [512]byte
	var p []byte
	if len(path) <= len(buf) {
		p = buf[:len(path)]
	} else {
		p = make([]byte, len(path))
	}
	copy(p, path)
	if t.cfg.Fold() {
		for i, c := range p {
			if 'A' <= c && c <= 'Z' {
				p[i] = c + ('a' - 'A')
			}
		}
	}
	return int(t.rt.lookup(method, p))
}

// Rule returns rule i.
func (t *Table) Rule(i int) Route { return t.cfg.Routes[i] }

// CleanPath reports whether a decoded request path is in the form rules
// are matched against: rooted, no empty, "." or ".." segments and no
// backslash. The gateway's router has already cleaned the escaped path;
// this catches what percent-encoding hid from it (/a/%2e%2e/b), which an
// upstream that decodes before routing would resolve to another route.
func CleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] == '\\' {
			return false
		}
		if i == len(p) || p[i] == '/' {
			seg := p[start:i]
			if seg == "." || seg == ".." || seg == "" && i != len(p) {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// Narrow returns g limited to features (an API key's scopes): the
// intersection, so a credential never grants what its user's template
// does not. It allocates; callers cache the result per table.
func (t *Table) Narrow(g *Grants, features []string) *Grants {
	n := &Grants{Template: g.Template, bits: make([]uint64, len(g.bits)), Features: []string{}}
	for _, f := range g.Features {
		if slices.Contains(features, f) {
			n.Features = append(n.Features, f)
		}
	}
	for i, f := range t.cfg.Features {
		if slices.Contains(n.Features, f) {
			n.bits[i>>6] |= 1 << (uint(i) & 63)
		}
	}
	n.Header = strings.Join(n.Features, ",")
	return n
}
