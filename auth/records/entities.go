package records

import (
	"github.com/cedar-policy/cedar-go/types"
)

// Entity types of the schema.
const (
	tUser  types.EntityType = "User"
	tGroup types.EntityType = "Group"
)

// nobodyID names the user of an empty fact (a lead without an account has
// an account owned by nobody); no person has an empty id.
const nobodyID = ""

// entityCache holds the Cedar entity of every person and group, built once
// per snapshot so a check only builds the record's own entities.
type entityCache struct {
	users  map[string]types.Entity // by user id
	groups map[string]types.Entity
	// groupSets holds each user's groups and account-based groups as
	// values, for unions over a record's owner lists.
	groupVals   map[string][]types.Value
	nobody      types.Entity
	emptyGroups types.Set
}

func uidsOf(names []string, typ types.EntityType) []types.Value {
	out := make([]types.Value, len(names))
	for i, n := range names {
		out[i] = types.NewEntityUID(typ, types.String(n))
	}
	return out
}

func userEntity(id string, x *Person) types.Entity {
	var groups, accountGroups []string
	if x != nil {
		for _, m := range x.Memberships {
			groups = append(groups, m.Group)
			if m.Mode == "account_based" {
				accountGroups = append(accountGroups, m.Group)
			}
		}
	}
	pw := Derive(x)
	set := func(l []string) types.Set { return types.NewSet(uidsOf(l, tGroup)...) }
	parents := make([]types.EntityUID, len(groups))
	for i, g := range groups {
		parents[i] = types.NewEntityUID(tGroup, types.String(g))
	}
	return types.Entity{
		UID:     types.NewEntityUID(tUser, types.String(id)),
		Parents: types.NewEntityUIDSet(parents...),
		Attributes: types.NewRecord(types.RecordMap{
			"groups":                set(groups),
			"accountGroups":         set(accountGroups),
			"inLeadBasedGroup":      types.Boolean(pw.InLeadBased),
			"inAccountBasedGroup":   types.Boolean(pw.InAccountBased),
			"viewLeadsOf":           set(pw.ViewLeads),
			"modifyLeadsOf":         set(pw.ModifyLeads),
			"viewAccountsOf":        set(pw.ViewAccounts),
			"modifyAccountsOf":      set(pw.ModifyAccounts),
			"viewOpportunitiesOf":   set(pw.ViewOpportunities),
			"modifyOpportunitiesOf": set(pw.ModifyOpportunities),
			"accountsManager":       types.Boolean(len(pw.ViewAccounts) > 0),
		}),
	}
}

func newEntityCache(p *People) *entityCache {
	c := &entityCache{users: map[string]types.Entity{}, groups: map[string]types.Entity{}, groupVals: map[string][]types.Value{},
		nobody: userEntity(nobodyID, nil), emptyGroups: types.NewSet()}
	for id, x := range p.byID {
		c.users[id] = userEntity(id, x)
		var names []string
		for _, m := range x.Memberships {
			names = append(names, m.Group)
			if _, ok := c.groups[m.Group]; !ok {
				c.groups[m.Group] = types.Entity{UID: types.NewEntityUID(tGroup, types.String(m.Group)),
					Attributes: types.NewRecord(types.RecordMap{"mode": types.String(m.Mode)})}
			}
		}
		c.groupVals[id] = uidsOf(names, tGroup)
	}
	return c
}

// userUID names a referenced user: their id when the directory knows
// them, else a name no id can take ("?" + the reference), so an unknown
// name is never mistaken for a known user.
func (p *People) userUID(ref string) (types.EntityUID, string) {
	if ref == "" {
		return types.NewEntityUID(tUser, nobodyID), ""
	}
	if x := p.Resolve(ref); x != nil {
		return types.NewEntityUID(tUser, types.String(x.ID)), x.ID
	}
	return types.NewEntityUID(tUser, types.String("?"+ref)), ""
}

// env is the entity store of one check: the snapshot's users and groups
// and the record's few entities.
type env struct {
	p   *People
	res []types.Entity
}

func (e *env) Get(uid types.EntityUID) (types.Entity, bool) {
	switch uid.Type {
	case tUser:
		if ent, ok := e.p.cache.users[string(uid.ID)]; ok {
			return ent, true
		}
		n := e.p.cache.nobody
		n.UID = uid
		return n, true
	case tGroup:
		ent, ok := e.p.cache.groups[string(uid.ID)]
		return ent, ok
	}
	for _, ent := range e.res {
		if ent.UID == uid {
			return ent, true
		}
	}
	return types.Entity{}, false
}

// users turns a list of references into a set of users and the union of
// their groups.
func (e *env) users(refs []string) (types.Set, types.Set) {
	if len(refs) == 0 {
		return e.p.cache.emptyGroups, e.p.cache.emptyGroups
	}
	us := make([]types.Value, 0, len(refs))
	var gs []types.Value
	for _, r := range refs {
		uid, id := e.p.userUID(r)
		us = append(us, uid)
		if id != "" {
			gs = append(gs, e.p.cache.groupVals[id]...)
		}
	}
	return types.NewSet(us...), types.NewSet(gs...)
}

func (e *env) user(ref string) types.EntityUID {
	uid, _ := e.p.userUID(ref)
	return uid
}

// account adds the Account entity for r (nil: an account of nobody).
func (e *env) account(id string, r *Record) types.EntityUID {
	if r == nil {
		r = &Record{}
	}
	uid := types.NewEntityUID("Account", types.String(id))
	lo, log := e.users(r.LeadOwners)
	oo, oog := e.users(r.OpportunityOwners)
	e.res = append(e.res, types.Entity{UID: uid, Attributes: types.NewRecord(types.RecordMap{
		"owner": e.user(r.Owner), "leadOwners": lo, "leadOwnerGroups": log,
		"opportunityOwners": oo, "opportunityOwnerGroups": oog,
	})})
	return uid
}

func (e *env) lead(id string, r *Record) types.EntityUID {
	if r == nil {
		r = &Record{}
	}
	uid := types.NewEntityUID("Lead", types.String(id))
	acct := e.account(id+".account", r.Account)
	oo, oog := e.users(r.OpportunityOwners)
	e.res = append(e.res, types.Entity{UID: uid, Attributes: types.NewRecord(types.RecordMap{
		"owner": e.user(r.Owner), "account": acct, "opportunityOwners": oo, "opportunityOwnerGroups": oog,
	})})
	return uid
}

// resource builds the entities of r and returns the resource's uid.
func (e *env) resource(r *Record) types.EntityUID {
	switch r.Type {
	case "account":
		return e.account("r", r)
	case "lead":
		return e.lead("r", r)
	case "opportunity":
		uid := types.NewEntityUID("Opportunity", "r")
		lead := e.lead("r.lead", r.Lead)
		e.res = append(e.res, types.Entity{UID: uid, Attributes: types.NewRecord(types.RecordMap{
			"owner": e.user(r.Owner), "lead": lead})})
		return uid
	case "lead_activity":
		uid := types.NewEntityUID("LeadActivity", "r")
		lead := e.lead("r.lead", r.Lead)
		e.res = append(e.res, types.Entity{UID: uid, Attributes: types.NewRecord(types.RecordMap{
			"lead": lead, "postedBy": e.user(r.PostedBy)})})
		return uid
	default: // account_activity
		uid := types.NewEntityUID("AccountActivity", "r")
		acct := e.account("r.account", r.Account)
		e.res = append(e.res, types.Entity{UID: uid, Attributes: types.NewRecord(types.RecordMap{
			"account": acct, "postedBy": e.user(r.PostedBy)})})
		return uid
	}
}
