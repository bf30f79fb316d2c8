package records

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// A persona is the caller's place in the sales organisation: no group, or
// a member of group "team" (lead- or account-based) holding some manager
// permissions. "mate" is always a plain member of team; "other" is in no
// group.
type persona struct {
	mode  string
	perms []string
}

var personas = map[string]persona{
	"sales_user":                    {},
	"lead_member":                   {directory.ModeLeadBased, nil},
	"lead_view_all_leads":           {directory.ModeLeadBased, []string{directory.PermViewAllLeads}},
	"lead_modify_all_leads":         {directory.ModeLeadBased, []string{directory.PermModifyAllLeads}},
	"account_member":                {directory.ModeAccountBased, nil},
	"account_view_all_accounts":     {directory.ModeAccountBased, []string{directory.PermViewAllAccounts}},
	"account_modify_all_accounts":   {directory.ModeAccountBased, []string{directory.PermModifyAllAccounts}},
	"account_view_all_leads":        {directory.ModeAccountBased, []string{directory.PermViewAllLeads}},
	"account_modify_all_leads":      {directory.ModeAccountBased, []string{directory.PermModifyAllLeads}},
	"account_view_accounts_leads":   {directory.ModeAccountBased, []string{directory.PermViewAllLeads, directory.PermViewAllAccounts}},
	"account_view_acc_modify_leads": {directory.ModeAccountBased, []string{directory.PermModifyAllLeads, directory.PermViewAllAccounts}},
	"account_modify_acc_and_leads":  {directory.ModeAccountBased, []string{directory.PermModifyAllLeads, directory.PermModifyAllAccounts}},
}

func (pe persona) people() (*People, *Person) {
	users := []directory.User{{ID: "id-me", Username: "me"}, {ID: "id-mate", Username: "mate"}, {ID: "id-other", Username: "other"}}
	var groups []directory.Group
	if pe.mode != "" {
		groups = append(groups, directory.Group{Name: "team", Mode: pe.mode, Members: []directory.GroupMember{
			{UserID: "id-me", Username: "me", Perms: pe.perms}, {UserID: "id-mate", Username: "mate"}}})
	}
	p := NewPeople(users, groups)
	return p, p.Resolve("me")
}

// Scenarios: records described by whose they are, relative to "me".
var scenarios = map[string]Record{
	"account: own":                         {Type: "account", Owner: "me"},
	"account: of a lead I own":             {Type: "account", Owner: "other", LeadOwners: []string{"me"}},
	"account: of my opportunity":           {Type: "account", Owner: "other", OpportunityOwners: []string{"me"}},
	"account: mate's":                      {Type: "account", Owner: "mate"},
	"account: of mate's lead":              {Type: "account", Owner: "other", LeadOwners: []string{"mate"}},
	"account: stranger's":                  {Type: "account", Owner: "other", LeadOwners: []string{"other"}},
	"lead: own":                            {Type: "lead", Owner: "me"},
	"lead: of my opportunity":              {Type: "lead", Owner: "other", OpportunityOwners: []string{"me"}},
	"lead: under my account":               {Type: "lead", Owner: "other", Account: &Record{Owner: "me"}},
	"lead: mate's":                         {Type: "lead", Owner: "mate"},
	"lead: under mate's account":           {Type: "lead", Owner: "other", Account: &Record{Owner: "mate"}},
	"lead: stranger's":                     {Type: "lead", Owner: "other", Account: &Record{Owner: "other"}},
	"opportunity: own":                     {Type: "opportunity", Owner: "me", Lead: &Record{Owner: "other"}},
	"opportunity: of my lead":              {Type: "opportunity", Owner: "other", Lead: &Record{Owner: "me"}},
	"opportunity: of a lead under my acct": {Type: "opportunity", Owner: "other", Lead: &Record{Owner: "other", Account: &Record{Owner: "me"}}},
	"opportunity: mate's":                  {Type: "opportunity", Owner: "mate", Lead: &Record{Owner: "other"}},
	"opportunity: of mate's lead":          {Type: "opportunity", Owner: "other", Lead: &Record{Owner: "mate"}},
	"opportunity: stranger's":              {Type: "opportunity", Owner: "other", Lead: &Record{Owner: "other"}},
	"lead activity: on own lead":           {Type: "lead_activity", Lead: &Record{Owner: "me"}, PostedBy: "other"},
	"lead activity: on lead of my opp":     {Type: "lead_activity", Lead: &Record{Owner: "other", OpportunityOwners: []string{"me"}}, PostedBy: "other"},
	"lead activity: on lead under my acct": {Type: "lead_activity", Lead: &Record{Owner: "other", Account: &Record{Owner: "me"}}, PostedBy: "other"},
	"lead activity: on mate's lead":        {Type: "lead_activity", Lead: &Record{Owner: "mate"}, PostedBy: "mate"},
	"lead activity: stranger's":            {Type: "lead_activity", Lead: &Record{Owner: "other"}, PostedBy: "other"},
	"acct activity: on own account":        {Type: "account_activity", Account: &Record{Owner: "me"}, PostedBy: "other"},
	"acct activity: mine, on acct I reach": {Type: "account_activity", Account: &Record{Owner: "other", LeadOwners: []string{"me"}}, PostedBy: "me"},
	"acct activity: other's, acct I reach": {Type: "account_activity", Account: &Record{Owner: "other", LeadOwners: []string{"me"}}, PostedBy: "other"},
	"acct activity: mine, stranger's acct": {Type: "account_activity", Account: &Record{Owner: "other"}, PostedBy: "me"},
	"acct activity: on mate's account":     {Type: "account_activity", Account: &Record{Owner: "mate"}, PostedBy: "mate"},
	"acct activity: mine, on mate's acct":  {Type: "account_activity", Account: &Record{Owner: "mate"}, PostedBy: "me"},
	"acct activity: stranger's":            {Type: "account_activity", Account: &Record{Owner: "other"}, PostedBy: "other"},
}

// matrix is the seed's access matrix, one row per statement (section in
// the name), each checked through the Cedar policy set and the oracle.
// "who" lists personas; "do" the actions; want the seed's answer.
var matrix = []struct {
	name, who, scenario, do string
	want                    bool
}{
	// 2.1 sales users, and lead-based members, who have the same access to accounts
	{"2.1 create accounts", "sales_user lead_member account_member", "account: stranger's", "create", true},
	{"2.1 view accounts of leads they own", "sales_user lead_member account_member", "account: of a lead I own", "view", true},
	{"2.1 view accounts of (leads of) opportunities they own", "sales_user lead_member account_member", "account: of my opportunity", "view", true},
	{"2.1 not view a stranger's account", "sales_user lead_member account_member", "account: stranger's", "view update delete", false},
	{"2.1 members do not see a mate's account", "lead_member account_member", "account: mate's", "view", false},
	{"2.1 not modify accounts they only reach through a lead (no modify rule)", "sales_user lead_member account_member lead_modify_all_leads", "account: of a lead I own", "update delete", false},
	{"A2 owners update and delete their own accounts", "sales_user lead_member account_member", "account: own", "view update delete", true},
	{"2.1 create and view activities on accounts they can access", "sales_user lead_member account_member", "acct activity: other's, acct I reach", "create view", true},
	{"2.1 update and delete activities posted on accounts they own", "sales_user lead_member account_member", "acct activity: on own account", "update delete", true},
	{"2.1 delete activities they posted on an account they can access", "sales_user account_member", "acct activity: mine, on acct I reach", "delete", true},
	{"2.1 not update activities they posted on an account they do not own", "sales_user lead_member account_member", "acct activity: mine, on acct I reach", "update", false},
	{"2.1 not delete others' activities on accounts they do not own", "sales_user lead_member account_member", "acct activity: other's, acct I reach", "update delete", false},
	{"2.1 not delete own activity on an account they cannot access", "sales_user account_member", "acct activity: mine, stranger's acct", "delete", false},
	{"2.2 lead-based members delete activities they posted on any account", "lead_member lead_view_all_leads", "acct activity: mine, stranger's acct", "delete", true},
	{"2.1 nothing on a stranger's account activities", "sales_user lead_member account_member", "acct activity: stranger's", "view create update delete", false},
	// 2.2 lead-based managers
	{"2.2 managers view accounts accessible to users in the group", "lead_view_all_leads lead_modify_all_leads", "account: of mate's lead", "view", true},
	{"2.2 managers view a mate's account", "lead_view_all_leads lead_modify_all_leads", "account: mate's", "view", true},
	{"2.2 managers do not modify the group's accounts", "lead_view_all_leads lead_modify_all_leads", "account: mate's", "update delete", false},
	{"2.2 managers create and view activities on the group's accounts", "lead_view_all_leads lead_modify_all_leads", "acct activity: on mate's account", "create view", true},
	{"2.2 managers do not update others' activities on the group's accounts", "lead_view_all_leads lead_modify_all_leads", "acct activity: on mate's account", "update", false},
	{"2.2 managers update and delete activities they posted on accounts they can access", "lead_view_all_leads lead_modify_all_leads", "acct activity: mine, on mate's acct", "update delete", true},
	// 2.3 account-based managers
	{"2.3 view all accounts: view accounts accessible to users in the group", "account_view_all_accounts account_modify_all_accounts", "account: of mate's lead", "view", true},
	{"2.3 view all accounts: no modify", "account_view_all_accounts", "account: mate's", "update delete", false},
	{"2.3 view all accounts: create and view activities on the group's accounts", "account_view_all_accounts", "acct activity: on mate's account", "create view", true},
	{"2.3 view all accounts: update and delete activities they posted there", "account_view_all_accounts", "acct activity: mine, on mate's acct", "update delete", true},
	{"2.3 view all accounts: not others' activities", "account_view_all_accounts", "acct activity: on mate's account", "update delete", false},
	{"2.3 modify all accounts: update and delete the group's accounts", "account_modify_all_accounts account_modify_acc_and_leads", "account: mate's", "view update delete", true},
	{"2.3 modify all accounts: every activity on the group's accounts", "account_modify_all_accounts", "acct activity: on mate's account", "create view update delete", true},
	{"2.3 account-based view-all-leads alone does not reach accounts", "account_view_all_leads account_modify_all_leads", "account: mate's", "view", false},
	{"2.3 managers do not reach a stranger's account", "account_modify_all_accounts lead_modify_all_leads", "account: stranger's", "view update delete", false},
	// 3 leads: defaults
	{"3 everyone creates leads", "sales_user lead_member account_member", "lead: stranger's", "create", true},
	{"3 view, update and delete the leads they own", "sales_user lead_member account_member", "lead: own", "view update delete", true},
	{"3.1 view leads of the opportunities they own", "sales_user lead_member account_member", "lead: of my opportunity", "view", true},
	{"3.1 not modify leads of their opportunities", "sales_user lead_member", "lead: of my opportunity", "update delete", false},
	{"3 not a stranger's lead", "sales_user lead_member account_member", "lead: stranger's", "view update delete", false},
	{"3.2 lead-based: not the leads under their accounts", "sales_user lead_member", "lead: under my account", "view update delete", false},
	{"3.3 account-based: view, update, delete leads under the accounts they own", "account_member", "lead: under my account", "view update delete", true},
	{"3.2 members do not see a mate's lead", "lead_member account_member", "lead: mate's", "view", false},
	// 3 lead activities
	{"3.1 every action on activities of leads they own", "sales_user lead_member account_member", "lead activity: on own lead", "create view update delete", true},
	{"3.1 sales users view activities on leads they can access", "sales_user", "lead activity: on lead of my opp", "view", true},
	{"3.1 sales users do not modify them", "sales_user", "lead activity: on lead of my opp", "create update delete", false},
	{"3.2 lead-based members view activities only on leads they own", "lead_member", "lead activity: on lead of my opp", "view create update delete", false},
	{"3.3 account-based members: every action on activities of leads they can access", "account_member", "lead activity: on lead under my acct", "create view update delete", true},
	{"3.3 account-based members: and of the leads of their opportunities", "account_member", "lead activity: on lead of my opp", "create view update delete", true},
	// 3.2 lead-based managers
	{"3.2 view all leads: view leads accessible to users in the group", "lead_view_all_leads lead_modify_all_leads", "lead: mate's", "view", true},
	{"3.2 view all leads: not modify them", "lead_view_all_leads", "lead: mate's", "update delete", false},
	{"3.2 view all leads: every action on activities of the group's leads", "lead_view_all_leads lead_modify_all_leads", "lead activity: on mate's lead", "create view update delete", true},
	{"3.2 modify all leads: update and delete the group's leads", "lead_modify_all_leads", "lead: mate's", "update delete", true},
	{"3.2 lead-based managers: account ownership does not reach leads", "lead_view_all_leads lead_modify_all_leads", "lead: under mate's account", "view update delete", false},
	// 3.3 account-based managers
	{"3.3 view all accounts + view all leads: view the group's leads", "account_view_accounts_leads", "lead: mate's", "view", true},
	{"3.3 ... and the leads under the group's accounts", "account_view_accounts_leads", "lead: under mate's account", "view", true},
	{"3.3 view all accounts + view all leads: not modify them", "account_view_accounts_leads", "lead: mate's", "update delete", false},
	{"3.3 view all accounts + view all leads: activities on the group's leads", "account_view_accounts_leads", "lead activity: on mate's lead", "create view update delete", true},
	{"3.3 view or modify all accounts + modify all leads: modify the group's leads", "account_view_acc_modify_leads account_modify_acc_and_leads", "lead: under mate's account", "view update delete", true},
	{"A5 account-based view or modify all leads alone reaches no group lead", "account_view_all_leads account_modify_all_leads", "lead: mate's", "view update delete", false},
	{"A5 account-based view all accounts alone reaches no group lead", "account_view_all_accounts account_modify_all_accounts", "lead: mate's", "view update delete", false},
	// 4 opportunities
	{"4 everyone creates opportunities", "sales_user lead_member account_member", "opportunity: stranger's", "create", true},
	{"4.1 view, update, delete opportunities of the leads they own", "sales_user lead_member account_member", "opportunity: of my lead", "view update delete", true},
	{"A4 and the opportunities they own", "sales_user lead_member account_member", "opportunity: own", "view update delete", true},
	{"4.2 lead-based: not opportunities of leads under their accounts", "sales_user lead_member", "opportunity: of a lead under my acct", "view", false},
	{"4.3 account-based: opportunities of leads under the accounts they own", "account_member", "opportunity: of a lead under my acct", "view update delete", true},
	{"4 not a stranger's opportunity", "sales_user lead_member account_member", "opportunity: stranger's", "view update delete", false},
	{"4.2/4.3 view all leads: view the group's opportunities", "lead_view_all_leads account_view_all_leads", "opportunity: mate's", "view", true},
	{"4.2/4.3 view all leads: not modify them", "lead_view_all_leads account_view_all_leads", "opportunity: of mate's lead", "update delete", false},
	{"4.2/4.3 modify all leads: modify the group's opportunities", "lead_modify_all_leads account_modify_all_leads", "opportunity: of mate's lead", "view update delete", true},
	{"4.3 view all accounts alone: not the group's opportunities", "account_view_all_accounts", "opportunity: mate's", "view", false},
}

func decideBoth(t *testing.T, ps *PolicySet, pe persona, action string, r Record) (cedarAnswer, oracleAnswer bool, reasons []string) {
	t.Helper()
	p, me := pe.people()
	d, err := ps.Decide(p, me, action, &r)
	if err != nil {
		t.Fatal(err)
	}
	return d.Allow, oracle{p, me}.allow(action, &r), d.Reasons
}

func TestMatrix(t *testing.T) {
	ps := defaultSet(t)
	for _, row := range matrix {
		sc, ok := scenarios[row.scenario]
		if !ok {
			t.Fatalf("row %q: no scenario %q", row.name, row.scenario)
		}
		for _, who := range strings.Fields(row.who) {
			pe, ok := personas[who]
			if !ok {
				t.Fatalf("row %q: no persona %q", row.name, who)
			}
			for _, action := range strings.Fields(row.do) {
				t.Run(fmt.Sprintf("%s/%s/%s", row.name, who, action), func(t *testing.T) {
					c, o, reasons := decideBoth(t, ps, pe, action, sc)
					if c != row.want || o != row.want {
						t.Errorf("%s %s (%s): cedar %v (reasons %v), oracle %v; the seed says %v", who, action, row.scenario, c, reasons, o, row.want)
					}
				})
			}
		}
	}
}

// TestMatrixGrid: every persona × scenario × action, Cedar against the
// oracle (the named rows above pin what the seed says; this pins that the
// two implementations agree everywhere else too).
func TestMatrixGrid(t *testing.T) {
	ps := defaultSet(t)
	n := 0
	for who, pe := range personas {
		for name, sc := range scenarios {
			for _, action := range Actions {
				if c, o, reasons := decideBoth(t, ps, pe, action, sc); c != o {
					t.Errorf("%s %s %s: cedar %v (reasons %v), oracle %v", who, action, name, c, reasons, o)
				}
				n++
			}
		}
	}
	t.Logf("%d cases agree", n)
}

// TestOracleAgreesOnRandomFacts: random directories (modes, members,
// permissions) and random facts, Cedar against the oracle.
func TestOracleAgreesOnRandomFacts(t *testing.T) {
	ps := defaultSet(t)
	allowed := 0
	const dirs, perDir = 50, 400
	for seed := range uint64(dirs) {
		p, checks := Corpus(seed+100, perDir)
		for _, c := range checks {
			u := p.Resolve(c.User)
			d, err := ps.Decide(p, u, c.Action, &c.Resource)
			if err != nil {
				t.Fatal(err)
			}
			if o := (oracle{p, u}).allow(c.Action, &c.Resource); o != d.Allow {
				t.Fatalf("seed %d: %s %s %+v: cedar %v (%v), oracle %v", seed, u.Username, c.Action, c.Resource, d.Allow, d.Reasons, o)
			}
			if d.Allow {
				allowed++
			}
		}
	}
	// Both answers occur often enough for agreement to mean something.
	if allowed < dirs*perDir/10 || allowed > dirs*perDir*9/10 {
		t.Fatalf("%d of %d allowed: the generator is lopsided", allowed, dirs*perDir)
	}
	t.Logf("%d checks agree, %d allowed", dirs*perDir, allowed)
}

// TestScopeAgreesWithChecks: for random directories, a scope answer
// qualifies exactly the records the row-by-row check allows.
func TestScopeAgreesWithChecks(t *testing.T) {
	ps := defaultSet(t)
	for seed := range uint64(30) {
		p, checks := Corpus(seed+500, 600)
		if err := ps.scopeAgrees(p, checks); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// TestDecisionReasons: a decision names the policies that allowed it.
func TestDecisionReasons(t *testing.T) {
	ps := defaultSet(t)
	_, _, reasons := decideBoth(t, ps, personas["account_modify_acc_and_leads"], "update", scenarios["lead: under mate's account"])
	if !slices.Equal(reasons, []string{"lead.modify.group"}) {
		t.Fatalf("reasons %v", reasons)
	}
}

func TestScopeShape(t *testing.T) {
	ps := defaultSet(t)
	p, me := personas["lead_view_all_leads"].people()
	s, err := ps.Scope(p, me, "view", "lead")
	if err != nil {
		t.Fatal(err)
	}
	if s.All || !slices.Equal(s.Fields["owner"], []string{"id-mate", "id-me"}) || !slices.Equal(s.Fields["opportunity_owner"], []string{"id-mate", "id-me"}) ||
		len(s.Fields["account_owner"]) != 0 {
		t.Fatalf("scope %+v", s)
	}
	if s, _ := ps.Scope(p, me, "create", "lead"); !s.All {
		t.Fatalf("create scope %+v", s)
	}
	if _, err := ps.Scope(p, me, "view", "lead_activity"); err == nil {
		t.Fatal("scope of activities answered")
	}
	_ = rand.N[int]
}
