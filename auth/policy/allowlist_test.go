package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// TestAllowListYAMLForms: an allowlist entry is a plain CIDR (every
// config and stored version before descriptions) or {cidr, description},
// mixed freely in one list, for the organisation's and the roles' lists.
func TestAllowListYAMLForms(t *testing.T) {
	doc := `network:
  allow:
    - 10.0.0.0/8
    - {cidr: 10.1.0.0/16, description: Bangalore office}
    - cidr: 2001:db8::/32
  allow_roles:
    admin: [192.0.2.0/24, {cidr: 198.51.100.7, description: "admin VPN: exit"}]
  allow_api:
    - 203.0.113.0/24
    - {cidr: 203.0.113.9, description: ETL servers}
`
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := policy.AllowList{{CIDR: "10.0.0.0/8"}, {CIDR: "10.1.0.0/16", Description: "Bangalore office"}, {CIDR: "2001:db8::/32"}}
	if !slices.Equal(p.Network.Allow, want) {
		t.Errorf("allow: got %+v, want %+v", p.Network.Allow, want)
	}
	if got, want := p.Network.AllowRoles["admin"], (policy.AllowList{{CIDR: "192.0.2.0/24"}, {CIDR: "198.51.100.7", Description: "admin VPN: exit"}}); !slices.Equal(got, want) {
		t.Errorf("allow_roles.admin: got %+v, want %+v", got, want)
	}
	if got, want := p.Network.APIAllowCIDRs(), []string{"203.0.113.0/24", "203.0.113.9"}; !slices.Equal(got, want) {
		t.Errorf("allow_api: got %v, want %v", got, want)
	}
	if got, want := p.Network.Allow.CIDRs(), []string{"10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32"}; !slices.Equal(got, want) {
		t.Errorf("CIDRs: got %v, want %v", got, want)
	}
}

// TestAllowListMarshal: an entry without a description is written as
// the CIDR alone, so a stored version without descriptions is the same
// document it always was and a diff shows only what an admin changed.
func TestAllowListMarshal(t *testing.T) {
	p := policy.Default()
	p.Network.Allow = policy.AllowList{{CIDR: "10.0.0.0/8"}, {CIDR: "10.1.0.0/16", Description: "Bangalore office"}}
	p.Network.AllowRoles = map[string]policy.AllowList{"admin": {{CIDR: "192.0.2.0/24"}}}
	doc, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"    allow:\n        - 10.0.0.0/8\n        - cidr: 10.1.0.0/16\n          description: Bangalore office\n",
		"    allow_roles:\n        admin:\n            - 192.0.2.0/24\n",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("Marshal: want %q in\n%s", want, doc)
		}
	}
	back, err := policy.Parse(doc)
	if err != nil || !policy.Equal(back, p) {
		t.Fatalf("Parse(Marshal()): %+v, %v", back.Network, err)
	}

	// A document written before descriptions marshals byte for byte as
	// before: no churn in stored versions or their diffs.
	old := "network:\n    allow:\n        - 10.0.0.0/8\n    allow_roles:\n        admin:\n            - 192.0.2.0/24\n"
	q, err := policy.Parse([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := q.Marshal()
	if !strings.Contains(string(out), old) {
		t.Errorf("an old document re-marshalled: want %q in\n%s", old, out)
	}
}

// TestAllowListInvalid: a bad entry is named by its key and index (and
// .description for a bad description); a malformed entry is a decode
// error with its line.
func TestAllowListInvalid(t *testing.T) {
	long := strings.Repeat("é", policy.MaxDescription+1)
	for _, tc := range []struct {
		name, doc string
		wantIn    []string
	}{
		{"bad plain CIDR", "network: {allow: [10.0.0.0/8, 10.0.0.0/33]}", []string{"policy.network.allow[1]:", `"10.0.0.0/33"`}},
		{"bad CIDR in a mapping", "network: {allow: [10.0.0.0/8, 10.1.0.0/16, {cidr: nope, description: office}]}", []string{"policy.network.allow[2]:", `"nope"`}},
		{"missing cidr", "network: {allow: [{description: office}]}", []string{"policy.network.allow[0]:"}},
		{"role list", "network: {allow_roles: {admin: [192.0.2.0/24, {cidr: x}]}}", []string{"policy.network.allow_roles.admin[1]:"}},
		{"description too long", "network: {allow: [{cidr: 10.0.0.0/8, description: " + long + "}]}", []string{"policy.network.allow[0].description:", "at most 200 characters"}},
		{"description with a line break", `network: {allow_roles: {ops: [{cidr: 10.0.0.0/8, description: "a\nb"}]}}`, []string{"policy.network.allow_roles.ops[0].description:", "one line"}},
		{"api description too long", "network: {allow_api: [{cidr: 10.0.0.0/8, description: " + long + "}]}", []string{"policy.network.allow_api[0].description:"}},
		{"unknown key", "network: {allow: [{cidr: 10.0.0.0/8, note: office}]}", []string{"line 1", "field note not found in type policy.AllowEntry"}},
		{"repeated key", "network:\n  allow:\n    - {cidr: 10.0.0.0/8, cidr: 10.0.0.0/9}\n", []string{"line 3", `"cidr" already defined`}},
		{"a list as an entry", "network: {allow: [[10.0.0.0/8]]}", []string{"line 1", "a CIDR or {cidr"}},
		{"a list as the cidr", "network: {allow: [{cidr: [10.0.0.0/8]}]}", []string{"cidr must be text"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse(%q): got nil, want an error", tc.doc)
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Parse: got %q, want it to contain %q", err, s)
				}
			}
		})
	}
	// 200 characters exactly is fine.
	if _, err := policy.Parse([]byte("network: {allow: [{cidr: 10.0.0.0/8, description: " + long[2:] + "}]}")); err != nil {
		t.Errorf("a 200-character description: %v", err)
	}
}
