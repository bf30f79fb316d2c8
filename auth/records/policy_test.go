package records

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
)

func defaultSet(t testing.TB) *PolicySet {
	t.Helper()
	ps, err := ParsePolicies(DefaultPolicies)
	if err != nil {
		t.Fatalf("the default policies: %v", err)
	}
	return ps
}

func TestDefaultPoliciesParse(t *testing.T) {
	ps := defaultSet(t)
	if len(ps.IDs()) < 20 {
		t.Fatalf("%d policies", len(ps.IDs()))
	}
}

// TestParsePoliciesRefuses: each way a policy set could be wrong is
// refused with a message naming the policy.
func TestParsePoliciesRefuses(t *testing.T) {
	for _, c := range []struct{ name, doc, want string }{
		{"syntax", `permit (principal, action, resource`, "access policies"},
		{"empty", ``, "holds no policy"},
		{"no id", `permit (principal, action == Action::"create", resource is Lead);`, "needs an @id"},
		{"duplicate id", `@id("a") permit (principal, action == Action::"create", resource is Lead); @id("a") permit (principal, action == Action::"create", resource is Account);`, `@id "a" is used twice`},
		{"forbid", `@id("f") forbid (principal, action, resource is Lead) when { resource.owner != principal };`, "only permit policies"},
		{"unknown attribute", `@id("x") permit (principal, action == Action::"view", resource is Lead) when { resource.region == "north" };`, `policy "x"`},
		{"unknown entity type", `@id("x") permit (principal, action, resource is Invoice);`, `policy "x"`},
		{"type error", `@id("x") permit (principal, action == Action::"view", resource is Lead) when { resource.owner == "alice" };`, `policy "x"`},
		{"names a user", `@id("x") permit (principal, action == Action::"view", resource is Lead) when { resource.owner == User::"u03" };`, "scope answer"},
		{"two facts at once", `@id("x") permit (principal, action == Action::"view", resource is Lead) when { resource.owner == principal && resource.account.owner == principal };`, "scope answer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePolicies([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestFilterKeepsDecisions: skipping the policies whose scope cannot
// match changes no decision and no reason.
func TestFilterKeepsDecisions(t *testing.T) {
	ps := defaultSet(t)
	p, checks := Corpus(7, 3000)
	for _, c := range checks {
		e := env{p: p}
		req := cedar.Request{Principal: types.NewEntityUID(tUser, types.String(p.Resolve(c.User).ID)),
			Action: types.NewEntityUID("Action", types.String(c.Action)), Resource: e.resource(&c.Resource), Context: types.NewRecord(nil)}
		full, diag := cedar.Authorize(ps.set, &e, req)
		var want []string
		for _, r := range diag.Reasons {
			want = append(want, string(r.PolicyID))
		}
		slices.Sort(want)
		got, err := ps.Decide(p, p.Resolve(c.User), c.Action, &c.Resource)
		if err != nil || got.Allow != (full == cedar.Allow) || !slices.Equal(got.Reasons, want) && len(want)+len(got.Reasons) > 0 {
			t.Fatalf("%s %+v: filtered %+v (%v), full %v %v", c.Action, c.Resource, got, err, full, want)
		}
	}
}

// FuzzParsePolicies: any document is accepted or refused with an error,
// never a panic, and an accepted one decides the corpus without error.
func FuzzParsePolicies(f *testing.F) {
	f.Add(DefaultPolicies)
	f.Add([]byte(`@id("x") permit (principal, action == Action::"create", resource is Lead);`))
	f.Add([]byte(`@id("x") permit (principal, action in [Action::"view"], resource) when { principal.inLeadBasedGroup };`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		ps, err := ParsePolicies(doc)
		if err != nil {
			return
		}
		p, checks := Corpus(3, 50)
		for _, c := range checks {
			if _, err := ps.Decide(p, p.Resolve(c.User), c.Action, &c.Resource); err != nil {
				t.Fatalf("accepted set fails: %v", err)
			}
		}
	})
}

// FuzzCheck: any JSON body the API might receive is refused by Validate
// or decided without error (deep nesting, huge lists, odd names).
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"user": "u01", "action": "update", "resource": {"type": "lead", "owner": "u02", "account": {"owner": "u01"}}}`))
	f.Add([]byte(`{"user": "user03", "action": "delete", "resource": {"type": "account_activity", "account": {"owner": "", "lead_owners": ["stranger", "u04"]}, "posted_by": "u03"}}`))
	f.Add([]byte(`{"user": "u05", "action": "view", "resource": {"type": "opportunity", "lead": {"account": {"lead": {"account": {}}}}}}`))
	ps := defaultSet(f)
	p, _ := Corpus(9, 1)
	f.Fuzz(func(t *testing.T, body []byte) {
		var c Check
		if json.Unmarshal(body, &c) != nil || c.Validate() != nil {
			return
		}
		who := p.Resolve(c.User)
		if who == nil {
			return
		}
		if _, err := ps.Decide(p, who, c.Action, &c.Resource); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	})
}
