package configs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/apilogin"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/oidc"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/auth/saml"
)

// Provider is one external identity provider (providers[]). Route names
// use the id: /.gatehouse/login/{id}, /.gatehouse/oidc/{id}/callback,
// /.gatehouse/saml/{id}/metadata and /.gatehouse/saml/{id}/acs. A
// configured provider is on unless policy.methods.<id> is false.
//
// The keys every provider has are fields here; the others belong to the
// login method its type selects, which decodes, defaults, validates and
// opens them (Method).
type Provider struct {
	ID    string `yaml:"id"`
	Type  string `yaml:"type"`  // google | oidc | saml | api
	Label string `yaml:"label"` // login button text; default from the type

	// How an identity finds its directory user (auth/federation).
	Match    string                             `yaml:"match"` // email | upn | subject
	JIT      federation.JIT                     `yaml:"jit"`
	GroupMap map[string]federation.GroupMapping `yaml:"group_map"`

	// Method is the rest of the entry, decoded into the section of the
	// login method Type selects (*oidc.Section, *saml.Section); nil when
	// the type is unknown.
	Method Method `yaml:"-"`
	// Rest holds the entry's other keys between the strict decode of the
	// file and their decode into Method; empty afterwards.
	Rest map[string]yaml.Node `yaml:",inline"`
}

// Method is a login method's part of a providers[] entry: its own keys,
// their defaults, and the one validation `check-config` and `serve`
// share. How the provider opens depends on its shape: a RedirectMethod
// (a button on the login page) or a PasswordMethod (the login form's
// credentials checked elsewhere).
type Method interface {
	SetDefaults()
	// Validate reports every problem as "<key>.<field>: ...", for the
	// provider id behind publicURL (nil when public_url is invalid).
	Validate(key, id string, publicURL *url.URL) error
}

// RedirectMethod opens a provider the browser is sent to.
type RedirectMethod interface {
	Method
	Open(ctx context.Context, env federation.Env) (auth.RedirectLogin, error)
}

// PasswordMethod opens a provider that checks the login form's
// username and password (type api).
type PasswordMethod interface {
	Method
	OpenPassword(ctx context.Context, env federation.Env) (auth.PasswordLogin, error)
}

// methodKind is a provider type: the package that owns its section and
// the defaults of its common keys.
type methodKind struct {
	typ, label, match string
	section           func() Method
}

// methodKinds are the provider types, in the order errors list them.
var methodKinds = []methodKind{
	{oidc.TypeGoogle, "Google", "email", func() Method { return oidc.NewSection(oidc.TypeGoogle) }},
	{oidc.TypeOIDC, "", "email", func() Method { return oidc.NewSection(oidc.TypeOIDC) }},
	{saml.Type, "", "upn", func() Method { return saml.NewSection() }},
	{apilogin.Type, "", "email", func() Method { return apilogin.NewSection() }},
}

// kindOf returns the provider type typ, or nil.
func kindOf(typ string) *methodKind {
	for i := range methodKinds {
		if methodKinds[i].typ == typ {
			return &methodKinds[i]
		}
	}
	return nil
}

var providerID = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// reservedIDs would collide with the policy's own method names (and
// policy.IsMethodOption's keys, which are settings, not methods).
var reservedIDs = []string{"password", "totp", "apikey", "webauthn", policy.PasswordEncryption, policy.PasswordReset, policy.Passkey}

// Rule is the provider's mapping rule.
func (p *Provider) Rule() federation.Rule {
	return federation.Rule{Match: p.Match, JIT: p.JIT, GroupMap: p.GroupMap}
}

// Env is what opening the provider needs: its common settings and the
// gateway's public URL, plus the shared services given in shared.
func (p *Provider) Env(publicURL *url.URL, shared federation.Env) federation.Env {
	shared.ID, shared.Label, shared.Rule, shared.PublicURL = p.ID, p.Label, p.Rule(), publicURL
	return shared
}

// decodeMethods hands each provider's remaining keys to the section of
// its type, strictly: a key the section does not have is a problem, as is
// a value of the wrong shape. An unknown type's keys are left undecoded;
// validation reports the type.
func (c *Config) decodeMethods(doc *document) []error {
	var errs []error
	for i := range c.Providers {
		p := &c.Providers[i]
		rest := p.Rest
		p.Rest, p.Method = nil, nil
		k := kindOf(p.Type)
		if k == nil {
			continue
		}
		p.Method = k.section()
		errs = append(errs, decodeSection(doc, rest, p.Method, fmt.Sprintf("providers[%d]", i), p.Type)...)
	}
	return errs
}

// decodeSection decodes the keys of rest into the struct section points
// to, in file order. yaml's Node.Decode is never strict, so unknown keys
// are found here, from the section's yaml tags.
func decodeSection(doc *document, rest map[string]yaml.Node, section any, key, typ string) []error {
	v := reflect.ValueOf(section).Elem()
	fields := map[string]int{}
	var known []string
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = i
			known = append(known, name)
		}
	}
	names := slices.SortedFunc(func(yield func(string) bool) {
		for k := range rest {
			if !yield(k) {
				return
			}
		}
	}, func(a, b string) int {
		if d := rest[a].Line - rest[b].Line; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var errs []error
	for _, name := range names {
		node := rest[name]
		path := key + "." + name
		line := doc.line(path, node.Line)
		i, ok := fields[name]
		if !ok {
			errs = append(errs, fmt.Errorf("line %d: %s: unknown key for type %s; its keys are %s and the common ones (id, type, label, match, jit, group_map)",
				line, path, typ, strings.Join(known, ", ")))
			continue
		}
		if err := node.Decode(v.Field(i).Addr().Interface()); err != nil {
			errs = append(errs, decodeProblems(doc, err, path)...)
		}
	}
	return errs
}

// decodeProblems names path in each of a value's decode errors.
func decodeProblems(doc *document, err error, path string) []error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []error{fmt.Errorf("%s: %w", path, err)}
	}
	out := make([]error, len(te.Errors))
	for i, msg := range te.Errors {
		line, rest, ok := splitLine(msg)
		if m := durationMsg.FindStringSubmatch(rest); m != nil {
			rest = fmt.Sprintf("want a duration such as 30s, 15m or 12h, got %q", m[1]) // as explain words it
		}
		if !ok {
			out[i] = fmt.Errorf("%s: %s", path, rest)
			continue
		}
		out[i] = fmt.Errorf("line %d: %s: %s", line, path, rest)
	}
	return out
}

func (p *Provider) setDefaults() {
	k := kindOf(p.Type)
	if k == nil {
		return
	}
	if p.Label == "" {
		p.Label = cmp.Or(k.label, p.ID)
	}
	if p.Match == "" {
		p.Match = k.match
	}
	if p.Method != nil {
		p.Method.SetDefaults()
	}
}

// validateProviders checks the common keys here, the mapping rule in
// auth/federation and each section in its login method's package; none of
// them is checked twice.
func validateProviders(ps []Provider, publicURL *url.URL) error {
	var errs []error
	seen := map[string]bool{}
	types := make([]string, len(methodKinds))
	for i, k := range methodKinds {
		types[i] = k.typ
	}
	for i := range ps {
		p := &ps[i]
		key := fmt.Sprintf("providers[%d]", i)
		switch {
		case !providerID.MatchString(p.ID):
			errs = append(errs, fmt.Errorf("%s.id: required; lower-case letters, digits, _ and -, starting with a letter (it is part of URLs)", key))
		case slices.Contains(reservedIDs, p.ID):
			errs = append(errs, fmt.Errorf("%s.id: %q is reserved; pick another", key, p.ID))
		case seen[p.ID]:
			errs = append(errs, fmt.Errorf("%s.id: %q is used twice", key, p.ID))
		}
		seen[p.ID] = true
		if kindOf(p.Type) == nil {
			errs = append(errs, fmt.Errorf("%s.type: must be one of %s, got %q", key, strings.Join(types, ", "), p.Type))
		}
		errs = append(errs, p.Rule().Validate(key))
		if p.Method != nil {
			errs = append(errs, p.Method.Validate(key, p.ID, publicURL))
		}
	}
	return errors.Join(errs...)
}

// MarshalYAML writes the entry as the file has it: the common keys and
// the section's, in one mapping (so a marshalled Config loads again).
func (p Provider) MarshalYAML() (any, error) {
	type plain Provider // without this method
	q := plain(p)
	q.Rest = nil
	var n yaml.Node
	if err := n.Encode(q); err != nil {
		return nil, err
	}
	if p.Method != nil {
		var sec yaml.Node
		if err := sec.Encode(p.Method); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, sec.Content...)
	}
	return &n, nil
}
