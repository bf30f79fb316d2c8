package records

import (
	"slices"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// oracle is the seed's matrix written again by hand, in plain Go over the
// memberships, without the Cedar policies or Derive: the two must agree
// (TestMatrix, TestOracleAgreesOnRandomFacts). Section numbers are the
// seed document's.
type oracle struct {
	p *People
	u *Person
}

func (o oracle) me(ref string) bool {
	x := o.p.Resolve(ref)
	return ref != "" && x != nil && x.ID == o.u.ID
}

func (o oracle) anyMe(refs []string) bool { return slices.ContainsFunc(refs, o.me) }

func (o oracle) member(ref, group string) bool {
	x := o.p.Resolve(ref)
	if ref == "" || x == nil {
		return false
	}
	return slices.ContainsFunc(x.Memberships, func(m Membership) bool { return m.Group == group })
}

func (o oracle) anyMember(refs []string, group string) bool {
	return slices.ContainsFunc(refs, func(r string) bool { return o.member(r, group) })
}

func (o oracle) inMode(mode string) bool {
	return slices.ContainsFunc(o.u.Memberships, func(m Membership) bool { return m.Mode == mode })
}

func has(m Membership, perms ...string) bool {
	for _, p := range perms {
		if slices.Contains(m.Perms, p) {
			return true
		}
	}
	return false
}

var (
	viewLeads    = []string{directory.PermViewAllLeads, directory.PermModifyAllLeads}
	modifyLeads  = []string{directory.PermModifyAllLeads}
	viewAccounts = []string{directory.PermViewAllAccounts, directory.PermModifyAllAccounts}
)

func (o oracle) someGroup(pred func(m Membership) bool) []Membership {
	var out []Membership
	for _, m := range o.u.Memberships {
		if pred(m) {
			out = append(out, m)
		}
	}
	return out
}

func deref(r *Record) *Record {
	if r == nil {
		return &Record{}
	}
	return r
}

// ---- accounts [2]

func (o oracle) ownAccount(a *Record) bool {
	return o.me(a.Owner) || o.anyMe(a.LeadOwners) || o.anyMe(a.OpportunityOwners)
}

func (o oracle) groupAccount(g string, a *Record) bool {
	return o.member(a.Owner, g) || o.anyMember(a.LeadOwners, g) || o.anyMember(a.OpportunityOwners, g)
}

// [2.2] lead-based managers with view or modify all leads and [2.3]
// account-based managers with view or modify all accounts see the
// accounts accessible to users in the group.
func (o oracle) seesAccountsOf(m Membership) bool {
	if m.Mode == directory.ModeAccountBased {
		return has(m, viewAccounts...)
	}
	return has(m, viewLeads...)
}

func (o oracle) canViewAccount(a *Record) bool {
	if o.ownAccount(a) {
		return true
	}
	for _, m := range o.someGroup(o.seesAccountsOf) {
		if o.groupAccount(m.Group, a) {
			return true
		}
	}
	return false
}

func (o oracle) modifyAllAccounts(a *Record) bool {
	for _, m := range o.u.Memberships {
		if m.Mode == directory.ModeAccountBased && has(m, directory.PermModifyAllAccounts) && o.groupAccount(m.Group, a) {
			return true
		}
	}
	return false
}

func (o oracle) account(action string, a *Record) bool {
	switch action {
	case "create":
		return true
	case "view":
		return o.canViewAccount(a)
	}
	return o.me(a.Owner) || o.modifyAllAccounts(a)
}

func (o oracle) accountActivity(action string, r *Record) bool {
	a := deref(r.Account)
	switch action {
	case "view", "create":
		return o.canViewAccount(a)
	case "update":
		manager := len(o.someGroup(o.seesAccountsOf)) > 0
		return o.me(a.Owner) || o.modifyAllAccounts(a) || (o.me(r.PostedBy) && manager && o.canViewAccount(a))
	}
	return o.me(a.Owner) || o.modifyAllAccounts(a) ||
		(o.me(r.PostedBy) && (o.canViewAccount(a) || o.inMode(directory.ModeLeadBased)))
}

// ---- leads [3]

func (o oracle) ownLead(l *Record) bool {
	return o.me(l.Owner) || o.anyMe(l.OpportunityOwners) ||
		(o.inMode(directory.ModeAccountBased) && o.me(deref(l.Account).Owner))
}

func (o oracle) groupLead(m Membership, l *Record) bool {
	return o.member(l.Owner, m.Group) || o.anyMember(l.OpportunityOwners, m.Group) ||
		(m.Mode == directory.ModeAccountBased && o.member(deref(l.Account).Owner, m.Group))
}

func (o oracle) seesLeadsOf(m Membership) bool {
	if m.Mode == directory.ModeAccountBased {
		return has(m, viewAccounts...) && has(m, viewLeads...)
	}
	return has(m, viewLeads...)
}

func (o oracle) modifiesLeadsOf(m Membership) bool {
	if m.Mode == directory.ModeAccountBased {
		return has(m, viewAccounts...) && has(m, modifyLeads...)
	}
	return has(m, modifyLeads...)
}

func (o oracle) groupLeads(pred func(Membership) bool, l *Record) bool {
	for _, m := range o.someGroup(pred) {
		if o.groupLead(m, l) {
			return true
		}
	}
	return false
}

func (o oracle) lead(action string, l *Record) bool {
	switch action {
	case "create":
		return true
	case "view":
		return o.ownLead(l) || o.groupLeads(o.seesLeadsOf, l)
	}
	return o.me(l.Owner) || (o.inMode(directory.ModeAccountBased) && o.me(deref(l.Account).Owner)) ||
		o.groupLeads(o.modifiesLeadsOf, l)
}

func (o oracle) leadActivity(action string, r *Record) bool {
	l := deref(r.Lead)
	if o.me(l.Owner) || o.groupLeads(o.seesLeadsOf, l) {
		return true
	}
	if o.inMode(directory.ModeAccountBased) && o.ownLead(l) {
		return true
	}
	return action == "view" && !o.inMode(directory.ModeLeadBased) && o.ownLead(l)
}

// ---- opportunities [4]

func (o oracle) groupOpportunity(m Membership, r *Record) bool {
	l := deref(r.Lead)
	return o.member(r.Owner, m.Group) || o.member(l.Owner, m.Group) ||
		(m.Mode == directory.ModeAccountBased && o.member(deref(l.Account).Owner, m.Group))
}

func (o oracle) opportunity(action string, r *Record) bool {
	if action == "create" {
		return true
	}
	l := deref(r.Lead)
	if o.me(r.Owner) || o.me(l.Owner) || (o.inMode(directory.ModeAccountBased) && o.me(deref(l.Account).Owner)) {
		return true
	}
	perms := viewLeads
	if action != "view" {
		perms = modifyLeads
	}
	for _, m := range o.u.Memberships {
		if has(m, perms...) && o.groupOpportunity(m, r) {
			return true
		}
	}
	return false
}

func (o oracle) allow(action string, r *Record) bool {
	switch r.Type {
	case "account":
		return o.account(action, r)
	case "account_activity":
		return o.accountActivity(action, r)
	case "lead":
		return o.lead(action, r)
	case "lead_activity":
		return o.leadActivity(action, r)
	case "opportunity":
		return o.opportunity(action, r)
	}
	return false
}
