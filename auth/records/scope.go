package records

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Scope says which records of one type a user may act on, as conditions a
// CRM puts in its SQL WHERE: the record qualifies when All is true, or when
// any of its fields (ScopeFields) names a user listed for that field.
type Scope struct {
	All    bool                `json:"all"`
	Fields map[string][]string `json:"fields"` // field → user ids, sorted
}

// ScopeFields are the ownership facts a scope is expressed in, per type.
var ScopeFields = map[string][]string{
	"account":     {"owner", "lead_owner", "opportunity_owner"},
	"lead":        {"owner", "account_owner", "opportunity_owner"},
	"opportunity": {"owner", "lead_owner", "account_owner"},
}

// probe builds a record of type typ whose only fact is field = ref.
func probe(typ, field, ref string) *Record {
	r := &Record{Type: typ}
	switch typ + "." + field {
	case "account.owner", "lead.owner", "opportunity.owner":
		r.Owner = ref
	case "account.lead_owner":
		r.LeadOwners = []string{ref}
	case "account.opportunity_owner", "lead.opportunity_owner":
		r.OpportunityOwners = []string{ref}
	case "lead.account_owner":
		r.Account = &Record{Owner: ref}
	case "opportunity.lead_owner":
		r.Lead = &Record{Owner: ref}
	case "opportunity.account_owner":
		r.Lead = &Record{Account: &Record{Owner: ref}}
	}
	return r
}

// fieldValues reads a record's facts for field.
func fieldValues(r *Record, field string) []string {
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	switch r.Type + "." + field {
	case "account.owner", "lead.owner", "opportunity.owner":
		return one(r.Owner)
	case "account.lead_owner":
		return r.LeadOwners
	case "account.opportunity_owner", "lead.opportunity_owner":
		return r.OpportunityOwners
	case "lead.account_owner":
		if r.Account != nil {
			return one(r.Account.Owner)
		}
	case "opportunity.lead_owner":
		if r.Lead != nil {
			return one(r.Lead.Owner)
		}
	case "opportunity.account_owner":
		if r.Lead != nil && r.Lead.Account != nil {
			return one(r.Lead.Account.Owner)
		}
	}
	return nil
}

// Scope computes the answer for a list screen without a call per row. It
// probes the policy set with records holding one fact each: the policies
// are disjunctions over single facts (ParsePolicies refuses a set for
// which the probes disagree with row-by-row checks on its corpus), and a
// user's influence on a decision is their identity and group memberships,
// so one probe per distinct membership stands for every user sharing it.
// The candidates are the caller, everyone in the caller's groups, and a
// stranger (who stands for everyone else: if a stranger qualifies, All).
func (ps *PolicySet) Scope(p *People, principal *Person, action, typ string) (Scope, error) {
	fields, ok := ScopeFields[typ]
	if !ok {
		return Scope{}, fmt.Errorf("%w: scope answers for %s, not %q", ErrBadCheck, strings.Join(slices.Sorted(maps.Keys(ScopeFields)), ", "), typ)
	}
	if !slices.Contains(Actions, action) {
		return Scope{}, fmt.Errorf("%w: action %q is not one of %s", ErrBadCheck, action, strings.Join(Actions, ", "))
	}
	s := Scope{Fields: map[string][]string{}}
	// A record with no facts at all that qualifies means every record does.
	if d, err := ps.Decide(p, principal, action, &Record{Type: typ}); err != nil {
		return Scope{}, err
	} else if d.Allow {
		return Scope{All: true, Fields: s.Fields}, nil
	}
	// Candidates grouped by membership signature.
	bySig := map[string][]string{}
	seen := map[string]bool{principal.ID: true}
	for _, m := range principal.Memberships {
		for _, id := range p.Members(m.Group) {
			if !seen[id] {
				seen[id] = true
				sig := signature(p.byID[id])
				bySig[sig] = append(bySig[sig], id)
			}
		}
	}
	for _, field := range fields {
		var ids []string
		if d, err := ps.Decide(p, principal, action, probe(typ, field, principal.ID)); err != nil {
			return Scope{}, err
		} else if d.Allow {
			ids = append(ids, principal.ID)
		}
		for _, members := range bySig {
			d, err := ps.Decide(p, principal, action, probe(typ, field, members[0]))
			if err != nil {
				return Scope{}, err
			}
			if d.Allow {
				ids = append(ids, members...)
			}
		}
		d, err := ps.Decide(p, principal, action, probe(typ, field, "\x00stranger"))
		if err != nil {
			return Scope{}, err
		}
		if d.Allow {
			return Scope{All: true, Fields: map[string][]string{}}, nil
		}
		slices.Sort(ids)
		s.Fields[field] = ids
	}
	return s, nil
}

func signature(x *Person) string {
	var parts []string
	for _, m := range x.Memberships {
		parts = append(parts, m.Group+"\x00"+m.Mode+"\x00"+strings.Join(m.Perms, ","))
	}
	slices.Sort(parts)
	return strings.Join(parts, "\x01")
}

// Matches reports whether a record qualifies under s.
func (s Scope) Matches(p *People, r *Record) bool {
	if s.All {
		return true
	}
	for field, ids := range s.Fields {
		for _, ref := range fieldValues(r, field) {
			if x := p.Resolve(ref); x != nil {
				if _, found := slices.BinarySearch(ids, x.ID); found {
					return true
				}
			}
		}
	}
	return false
}

// scopeAgrees checks Scope against Decide on every scopable check.
func (ps *PolicySet) scopeAgrees(p *People, checks []Check) error {
	memo := map[string]Scope{}
	for _, c := range checks {
		if _, ok := ScopeFields[c.Resource.Type]; !ok {
			continue
		}
		x := p.Resolve(c.User)
		key := x.ID + " " + c.Action + " " + c.Resource.Type
		s, ok := memo[key]
		if !ok {
			var err error
			if s, err = ps.Scope(p, x, c.Action, c.Resource.Type); err != nil {
				return err
			}
			memo[key] = s
		}
		d, err := ps.Decide(p, x, c.Action, &c.Resource)
		if err != nil {
			return err
		}
		if got := s.Matches(p, &c.Resource); got != d.Allow {
			return fmt.Errorf("the scope answer for %s %s disagrees with the check of one record (scope %v, check %v): "+
				"scopes need every policy to test one ownership fact of the record at a time, and no policy to name a user", c.Action, c.Resource.Type, got, d.Allow)
		}
	}
	return nil
}
