package console

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// anonymousFlags are network.block_anonymous's choices (auth/policy's
// list, in its order).
var anonymousFlags = []string{"is_anonymous", "is_anonymous_vpn", "is_public_proxy", "is_tor_exit_node", "is_hosting_provider", "is_residential_proxy"}

// policyForm is the policy editor's common settings as typed, plus Extra:
// YAML for everything else, laid over them.
type policyForm struct {
	IdleTimeout      string
	AbsoluteLifetime string
	MFAMode          string
	RequiredRoles    string // comma- or space-separated
	BlockTor         string
	BlockAnonymous   []choice
	Allow            string // a CIDR a line
	AllowAPI         string // "CIDR description" a line
	Methods          []choice
	SingleDevice     bool
	Extra            string
}

// choice is one checkbox.
type choice struct {
	Value   string
	Checked bool
}

// formFromPolicy fills the form from the policy in force; methods are
// the password, the configured providers and any other the policy names.
func formFromPolicy(p policy.Policy, providers []string) policyForm {
	f := policyForm{
		IdleTimeout: shortDuration(p.Session.IdleTimeout), AbsoluteLifetime: shortDuration(p.Session.AbsoluteLifetime),
		MFAMode: p.MFA.Mode, RequiredRoles: strings.Join(p.MFA.RequiredRoles, ", "), BlockTor: p.Network.BlockTor,
		Allow: strings.Join(p.Network.Allow, "\n"), SingleDevice: p.Mobile.SingleDevice,
	}
	for _, flag := range anonymousFlags {
		f.BlockAnonymous = append(f.BlockAnonymous, choice{flag, slices.Contains(p.Network.BlockAnonymous, flag)})
	}
	var api []string
	for _, e := range p.Network.AllowAPI {
		api = append(api, strings.TrimSpace(e.CIDR+" "+e.Description))
	}
	f.AllowAPI = strings.Join(api, "\n")
	for _, id := range methodIDs(p, providers) {
		f.Methods = append(f.Methods, choice{id, p.MethodEnabled(id)})
	}
	return f
}

func methodIDs(p policy.Policy, providers []string) []string {
	ids := append([]string{"password"}, providers...)
	for _, id := range slices.Sorted(maps.Keys(p.Methods)) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// parsePolicyForm reads the posted form; the checkbox lists are those of
// cur, so a box left unticked reads as off.
func parsePolicyForm(v url.Values, cur policy.Policy, providers []string) policyForm {
	f := policyForm{
		IdleTimeout: strings.TrimSpace(v.Get("idle_timeout")), AbsoluteLifetime: strings.TrimSpace(v.Get("absolute_lifetime")),
		MFAMode: v.Get("mfa_mode"), RequiredRoles: v.Get("required_roles"), BlockTor: v.Get("block_tor"),
		Allow: v.Get("allow"), AllowAPI: v.Get("allow_api"), SingleDevice: v.Get("single_device") == "on", Extra: v.Get("extra"),
	}
	for _, flag := range anonymousFlags {
		f.BlockAnonymous = append(f.BlockAnonymous, choice{flag, slices.Contains(v["block_anonymous"], flag)})
	}
	for _, id := range methodIDs(cur, providers) {
		f.Methods = append(f.Methods, choice{id, slices.Contains(v["methods"], id)})
	}
	return f
}

// patch is the form as a policy document: a merge patch over cur naming
// only what the form changes (so the plan's diff is the admin's change
// and nothing else), with Extra laid over it.
func (f policyForm) patch(cur policy.Policy) ([]byte, error) {
	doc := map[string]any{}
	set := func(section, key string, v any) {
		m, _ := doc[section].(map[string]any)
		if m == nil {
			m = map[string]any{}
			doc[section] = m
		}
		m[key] = v
	}
	setDuration := func(section, key, typed string, was time.Duration) {
		d, err := time.ParseDuration(typed)
		switch {
		case err != nil:
			set(section, key, typed) // the validator names the key and the fix
		case d != was:
			set(section, key, shortDuration(d))
		}
	}
	setDuration("session", "idle_timeout", f.IdleTimeout, cur.Session.IdleTimeout)
	setDuration("session", "absolute_lifetime", f.AbsoluteLifetime, cur.Session.AbsoluteLifetime)
	if f.MFAMode != cur.MFA.Mode {
		set("mfa", "mode", f.MFAMode)
	}
	if roles := fields(f.RequiredRoles); !slices.Equal(roles, cur.MFA.RequiredRoles) {
		set("mfa", "required_roles", orEmpty(roles))
	}
	if f.BlockTor != cur.Network.BlockTor {
		set("network", "block_tor", f.BlockTor)
	}
	var flags []string
	for _, c := range f.BlockAnonymous {
		if c.Checked {
			flags = append(flags, c.Value)
		}
	}
	if !sameSet(flags, cur.Network.BlockAnonymous) {
		set("network", "block_anonymous", orEmpty(flags))
	}
	if allow := lines(f.Allow); !slices.Equal(allow, cur.Network.Allow) {
		set("network", "allow", orEmpty(allow))
	}
	api := allowEntries(f.AllowAPI)
	if !slices.Equal(api, cur.Network.AllowAPI) {
		out := []map[string]string{}
		for _, e := range api {
			m := map[string]string{"cidr": e.CIDR}
			if e.Description != "" {
				m["description"] = e.Description
			}
			out = append(out, m)
		}
		set("network", "allow_api", out)
	}
	for _, c := range f.Methods {
		if c.Checked != cur.MethodEnabled(c.Value) {
			set("methods", c.Value, c.Checked)
		}
	}
	if f.SingleDevice != cur.Mobile.SingleDevice {
		set("mobile", "single_device", f.SingleDevice)
	}
	if strings.TrimSpace(f.Extra) != "" {
		var extra map[string]any
		if err := yaml.Unmarshal([]byte(f.Extra), &extra); err != nil {
			return nil, fmt.Errorf("the additional YAML does not parse: %v", err)
		}
		if extra == nil {
			return nil, errors.New("the additional YAML must be a mapping of policy sections (session:, network:, …)")
		}
		doc = overlay(doc, extra)
	}
	if len(doc) == 0 {
		return []byte("{}\n"), nil
	}
	return yaml.Marshal(doc)
}

// overlay lays b over a: mappings merge, anything else replaces (the
// merge-patch rule the policy store itself applies).
func overlay(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		am, aok := out[k].(map[string]any)
		bm, bok := v.(map[string]any)
		if aok && bok {
			out[k] = overlay(am, bm)
			continue
		}
		out[k] = v
	}
	return out
}

// shortDuration writes 30m rather than 30m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// fields splits a comma- or space-separated list.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// lines splits a list typed one item a line, dropping blank lines.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// allowEntries reads "CIDR description" lines.
func allowEntries(s string) []policy.AllowEntry {
	var out []policy.AllowEntry
	for _, l := range lines(s) {
		cidr, desc := l, ""
		if i := strings.IndexAny(l, " \t"); i >= 0 {
			cidr, desc = l[:i], strings.TrimSpace(l[i:])
		}
		out = append(out, policy.AllowEntry{CIDR: cidr, Description: desc})
	}
	return out
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// orEmpty keeps an emptied list in the patch as [] (a list replaced by
// nothing), not null (a key removed).
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
