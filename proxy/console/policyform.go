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
	// The allowlists are typed an entry a line: a CIDR or address, then
	// optionally a space and its description ("10.1.0.0/16 Bangalore
	// office").
	Allow      string
	AllowRoles []roleList // the policy's roles, in name order
	AllowAPI   string
	Methods    []choice
	// EncryptPasswords is methods.password_encryption: an option of the
	// password method, not a method, so it is its own box.
	EncryptPasswords bool
	SingleDevice     bool
	Extra            string
}

// roleList is one role's allowlist on the form.
type roleList struct {
	Role    string
	Entries string
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
		Allow: entryLines(p.Network.Allow), AllowAPI: entryLines(p.Network.AllowAPI), SingleDevice: p.Mobile.SingleDevice,
		EncryptPasswords: p.EncryptPasswords(),
	}
	for _, flag := range anonymousFlags {
		f.BlockAnonymous = append(f.BlockAnonymous, choice{flag, slices.Contains(p.Network.BlockAnonymous, flag)})
	}
	for _, role := range formRoles(p) {
		f.AllowRoles = append(f.AllowRoles, roleList{role, entryLines(p.Network.AllowRoles[role])})
	}
	for _, id := range methodIDs(p, providers) {
		f.Methods = append(f.Methods, choice{id, p.MethodEnabled(id)})
	}
	return f
}

// formRoles are the roles the form offers a list for: those the access
// rules map and any other that has a list, sorted.
func formRoles(p policy.Policy) []string {
	roles := slices.Collect(maps.Keys(p.Access.Roles))
	for role := range p.Network.AllowRoles {
		if !slices.Contains(roles, role) {
			roles = append(roles, role)
		}
	}
	slices.Sort(roles)
	return roles
}

// roleField is the form field of a role's allowlist.
func roleField(role string) string { return "allow_roles." + role }

func methodIDs(p policy.Policy, providers []string) []string {
	ids := append([]string{"password"}, providers...)
	for _, id := range slices.Sorted(maps.Keys(p.Methods)) {
		if !slices.Contains(ids, id) && !policy.IsMethodOption(id) {
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
		EncryptPasswords: v.Get("password_encryption") == "on",
	}
	for _, flag := range anonymousFlags {
		f.BlockAnonymous = append(f.BlockAnonymous, choice{flag, slices.Contains(v["block_anonymous"], flag)})
	}
	for _, id := range methodIDs(cur, providers) {
		f.Methods = append(f.Methods, choice{id, slices.Contains(v["methods"], id)})
	}
	// A role whose field was not sent (a role added since the form was
	// shown) keeps its list: only a field sent empty clears one.
	for _, role := range formRoles(cur) {
		entries, sent := v[roleField(role)]
		if !sent {
			entries = []string{entryLines(cur.Network.AllowRoles[role])}
		}
		f.AllowRoles = append(f.AllowRoles, roleList{role, strings.Join(entries, "\n")})
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
	if allow := allowEntries(f.Allow); !slices.Equal(allow, cur.Network.Allow) {
		set("network", "allow", entriesDoc(allow))
	}
	roles := map[string]any{}
	for _, rl := range f.AllowRoles {
		list := allowEntries(rl.Entries)
		switch {
		case slices.Equal(list, cur.Network.AllowRoles[rl.Role]):
		case len(list) == 0:
			roles[rl.Role] = nil // removes the role's list
		default:
			roles[rl.Role] = entriesDoc(list)
		}
	}
	if len(roles) > 0 {
		set("network", "allow_roles", roles)
	}
	if api := allowEntries(f.AllowAPI); !slices.Equal(api, policy.AllowList(cur.Network.AllowAPI)) {
		set("network", "allow_api", entriesDoc(api))
	}
	for _, c := range f.Methods {
		if c.Checked != cur.MethodEnabled(c.Value) {
			set("methods", c.Value, c.Checked)
		}
	}
	if f.EncryptPasswords != cur.EncryptPasswords() {
		set("methods", policy.PasswordEncryption, f.EncryptPasswords)
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
func allowEntries(s string) policy.AllowList {
	var out policy.AllowList
	for _, l := range lines(s) {
		cidr, desc := l, ""
		if i := strings.IndexAny(l, " \t"); i >= 0 {
			cidr, desc = l[:i], strings.TrimSpace(l[i:])
		}
		out = append(out, policy.AllowEntry{CIDR: cidr, Description: desc})
	}
	return out
}

// entryLines writes entries as the form shows them, one a line.
func entryLines(l []policy.AllowEntry) string {
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = strings.TrimSpace(e.CIDR + " " + e.Description)
	}
	return strings.Join(out, "\n")
}

// entriesDoc is a list for the patch: a CIDR alone when it has no
// description, {cidr, description} when it has one; [] when emptied.
func entriesDoc(l policy.AllowList) []any {
	out := []any{}
	for _, e := range l {
		if e.Description == "" {
			out = append(out, e.CIDR)
		} else {
			out = append(out, map[string]string{"cidr": e.CIDR, "description": e.Description})
		}
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
