// Package records decides who may act on the CRM's accounts, leads,
// opportunities and their activities. The CRM owns the records and sends
// their ownership facts (Record); the gateway owns who is who: the
// caller's sales groups, their modes and the manager permissions held in
// them (People). Cedar policies (PolicySet, DefaultPolicies) combine the
// two; the shipped set implements the seed document's access matrix.
//
// The package does no I/O: callers load People from the directory and the
// policy set from its versioned document.
package records

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// Actions a check may ask about.
var Actions = []string{"view", "create", "update", "delete"}

// Record types and the Cedar entity type each becomes.
var recordTypes = map[string]string{
	"account":          "Account",
	"lead":             "Lead",
	"opportunity":      "Opportunity",
	"lead_activity":    "LeadActivity",
	"account_activity": "AccountActivity",
}

// Types lists the record types, sorted.
func Types() []string {
	var t []string
	for k := range recordTypes {
		t = append(t, k)
	}
	slices.Sort(t)
	return t
}

// Record is what the CRM knows about the record a check is about. Which
// fields matter depends on Type:
//
//	account           owner, lead_owners, opportunity_owners
//	lead              owner, account {owner}, opportunity_owners
//	opportunity       owner, lead {owner, account {owner}}
//	lead_activity     lead {owner, account {owner}, opportunity_owners}, posted_by
//	account_activity  account {owner, lead_owners, opportunity_owners}, posted_by
//
// Users are named by the gateway's user id (the assertion's sub) or
// username; a name the directory does not know is a user in no group.
type Record struct {
	Type              string   `json:"type,omitempty"`
	ID                string   `json:"id,omitempty"`
	Owner             string   `json:"owner,omitempty"`
	Account           *Record  `json:"account,omitempty"`
	Lead              *Record  `json:"lead,omitempty"`
	OpportunityOwners []string `json:"opportunity_owners,omitempty"`
	LeadOwners        []string `json:"lead_owners,omitempty"`
	PostedBy          string   `json:"posted_by,omitempty"`
}

// Check is one question: may User do Action on Resource?
type Check struct {
	User     string `json:"user"`
	Action   string `json:"action"`
	Resource Record `json:"resource"`
}

// Decision answers a Check; Reasons are the ids of the policies that
// permitted it (none when refused).
type Decision struct {
	Allow   bool     `json:"allow"`
	Reasons []string `json:"reasons"`
}

// ErrBadCheck marks a check the engine cannot answer as asked.
var ErrBadCheck = errors.New("records: bad check")

// Validate checks the action and type and bounds the sizes of a check.
func (c *Check) Validate() error {
	if !slices.Contains(Actions, c.Action) {
		return fmt.Errorf("%w: action %q is not one of %s", ErrBadCheck, c.Action, strings.Join(Actions, ", "))
	}
	if _, ok := recordTypes[c.Resource.Type]; !ok {
		return fmt.Errorf("%w: resource type %q is not one of %s", ErrBadCheck, c.Resource.Type, strings.Join(Types(), ", "))
	}
	if n := c.Resource.size(0); n > maxRefs {
		return fmt.Errorf("%w: the resource names %d users; at most %d", ErrBadCheck, n, maxRefs)
	}
	return nil
}

const maxRefs = 10000

func (r *Record) size(depth int) int {
	if r == nil || depth > 3 {
		return 0
	}
	return 2 + len(r.OpportunityOwners) + len(r.LeadOwners) + r.Account.size(depth+1) + r.Lead.size(depth+1)
}

// Membership is one group a person is in, with its mode and the manager
// permissions the person holds in it.
type Membership struct {
	Group string
	Mode  string
	Perms []string
}

// Person is a user as the engine sees them.
type Person struct {
	ID          string
	Username    string
	Memberships []Membership
}

func (p *Person) has(m Membership, perm string) bool { return slices.Contains(m.Perms, perm) }

// People is a snapshot of the directory's users and groups, indexed for
// checks. Build one per directory change, not per check.
type People struct {
	byID   map[string]*Person
	byName map[string]*Person
	// members of each group, by user id
	members map[string][]string
	cache   *entityCache
}

// NewPeople indexes users and groups.
func NewPeople(users []directory.User, groups []directory.Group) *People {
	p := &People{byID: map[string]*Person{}, byName: map[string]*Person{}, members: map[string][]string{}}
	for _, u := range users {
		x := &Person{ID: u.ID, Username: u.Username}
		p.byID[u.ID] = x
		p.byName[strings.ToLower(u.Username)] = x
	}
	for _, g := range groups {
		for _, m := range g.Members {
			x := p.byID[m.UserID]
			if x == nil {
				continue
			}
			x.Memberships = append(x.Memberships, Membership{Group: g.Name, Mode: g.Mode, Perms: m.Perms})
			p.members[g.Name] = append(p.members[g.Name], m.UserID)
		}
	}
	p.cache = newEntityCache(p)
	return p
}

// Resolve finds a person by user id or username; nil when neither matches.
func (p *People) Resolve(ref string) *Person {
	if x := p.byID[ref]; x != nil {
		return x
	}
	return p.byName[strings.ToLower(ref)]
}

// Members returns the ids of a group's members.
func (p *People) Members(group string) []string { return p.members[group] }

// Powers are the groups whose members' records a person's manager
// permissions reach, per kind of record and strength, as the seed ties
// them to the group's mode:
//
//	                       lead-based group            account-based group
//	view leads             view or modify all leads    (view or modify all accounts) and (view or modify all leads)
//	modify leads           modify all leads            (view or modify all accounts) and modify all leads
//	view accounts          view or modify all leads    view or modify all accounts
//	modify accounts        —                           modify all accounts
//	view opportunities     view or modify all leads    view or modify all leads
//	modify opportunities   modify all leads            modify all leads
type Powers struct {
	ViewLeads, ModifyLeads, ViewAccounts, ModifyAccounts, ViewOpportunities, ModifyOpportunities []string
	InLeadBased, InAccountBased                                                                  bool
}

// Derive computes a person's Powers from their memberships.
func Derive(x *Person) Powers {
	var pw Powers
	if x == nil {
		return pw
	}
	for _, m := range x.Memberships {
		vl := x.has(m, directory.PermViewAllLeads) || x.has(m, directory.PermModifyAllLeads)
		ml := x.has(m, directory.PermModifyAllLeads)
		va := x.has(m, directory.PermViewAllAccounts) || x.has(m, directory.PermModifyAllAccounts)
		ma := x.has(m, directory.PermModifyAllAccounts)
		add := func(l *[]string, ok bool) {
			if ok {
				*l = append(*l, m.Group)
			}
		}
		if m.Mode == directory.ModeAccountBased {
			pw.InAccountBased = true
			add(&pw.ViewLeads, va && vl)
			add(&pw.ModifyLeads, va && ml)
			add(&pw.ViewAccounts, va)
			add(&pw.ModifyAccounts, ma)
		} else {
			pw.InLeadBased = true
			add(&pw.ViewLeads, vl)
			add(&pw.ModifyLeads, ml)
			add(&pw.ViewAccounts, vl)
		}
		add(&pw.ViewOpportunities, vl)
		add(&pw.ModifyOpportunities, ml)
	}
	return pw
}
