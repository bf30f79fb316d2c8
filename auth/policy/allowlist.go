package policy

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxDescription bounds an allowlist entry's description, in characters.
const MaxDescription = 200

// AllowEntry is an allowlist entry with a note of what it is ("Bangalore
// office", "ETL servers"). In YAML it is either the CIDR alone
// ("10.0.0.0/8", the form every list had before descriptions) or a
// mapping {cidr, description}.
type AllowEntry struct {
	CIDR        string `yaml:"cidr"`
	Description string `yaml:"description,omitempty"`
}

// UnmarshalYAML reads a plain CIDR or a {cidr, description} mapping,
// refusing unknown keys as the strict policy decoder would.
func (e *AllowEntry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		*e = AllowEntry{CIDR: n.Value}
		return nil
	case yaml.MappingNode:
		var out AllowEntry
		var problems []string
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			var dst *string
			switch k.Value {
			case "cidr":
				dst = &out.CIDR
			case "description":
				dst = &out.Description
			default:
				problems = append(problems, fmt.Sprintf("line %d: field %s not found in type policy.AllowEntry", k.Line, k.Value))
				continue
			}
			if seen[k.Value] {
				problems = append(problems, fmt.Sprintf("line %d: mapping key %q already defined", k.Line, k.Value))
				continue
			}
			seen[k.Value] = true
			if v.Kind != yaml.ScalarNode {
				problems = append(problems, fmt.Sprintf("line %d: %s must be text", v.Line, k.Value))
				continue
			}
			*dst = v.Value
		}
		if len(problems) > 0 {
			return &yaml.TypeError{Errors: problems}
		}
		*e = out
		return nil
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: an allowlist entry is a CIDR or {cidr: CIDR, description: text}", n.Line)}}
}

// AllowList is the organisation's or a role's network allowlist.
type AllowList []AllowEntry

// CIDRs lists the entries' CIDRs, in order.
func (l AllowList) CIDRs() []string {
	return entryCIDRs(l)
}

// MarshalYAML writes an entry without a description as its CIDR alone,
// so a list that has none reads (and diffs) as it always did.
func (l AllowList) MarshalYAML() (any, error) {
	out := make([]any, len(l))
	for i, e := range l {
		if e.Description == "" {
			out[i] = e.CIDR
		} else {
			out[i] = e
		}
	}
	return out, nil
}

// APIAllowCIDRs lists the CIDRs of network.allow_api.
func (n Network) APIAllowCIDRs() []string {
	return entryCIDRs(n.AllowAPI)
}

func entryCIDRs(l []AllowEntry) []string {
	if l == nil {
		return nil
	}
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = e.CIDR
	}
	return out
}

// CheckDescription reports what is wrong with an allowlist entry's
// description: at most MaxDescription characters of one line of text
// (no control characters, which a terminal would act on and a
// one-entry-a-line form could not show).
func CheckDescription(d string) error {
	if !utf8.ValidString(d) {
		return fmt.Errorf("must be UTF-8 text")
	}
	if n := utf8.RuneCountInString(d); n > MaxDescription {
		return fmt.Errorf("at most %d characters, got %d", MaxDescription, n)
	}
	for _, r := range d {
		if unicode.IsControl(r) {
			return fmt.Errorf("must be one line without control characters")
		}
	}
	return nil
}

// validateList adds a problem for each entry of list under key whose CIDR
// does not parse (named key[i], as before descriptions) or whose
// description is refused (key[i].description).
func validateList(key string, list AllowList, bad func(key, format string, args ...any)) {
	for i, e := range list {
		if _, err := ParsePrefix(e.CIDR); err != nil {
			bad(fmt.Sprintf("%s[%d]", key, i), "%v", err)
		}
		if err := CheckDescription(e.Description); err != nil {
			bad(fmt.Sprintf("%s[%d].description", key, i), "%v", err)
		}
	}
}
