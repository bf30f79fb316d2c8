package records

import (
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// DefaultPolicies is the shipped policy set: the seed's matrix.
//
//go:embed default.cedar
var DefaultPolicies []byte

// Schema is the Cedar schema every policy set is validated against.
//
//go:embed schema.cedarschema
var Schema []byte

// PolicySet is a parsed, validated policy set, safe for concurrent use.
type PolicySet struct {
	set *cedar.PolicySet
	ids []string
	// byRequest holds, per action and entity type, the policies whose
	// scope can match: Cedar evaluates every policy it is given, and most
	// are about another action or record type.
	byRequest map[requestKey]cedar.PolicyMap
}

type requestKey struct{ action, typ string }

// scopeMatches reports whether a policy's action and resource scope can
// match the request; a scope form it does not recognise counts as a
// match, so the filter only ever skips policies that cannot apply.
func scopeMatches(p *xast.Policy, action string, typ types.EntityType) bool {
	act := types.NewEntityUID("Action", types.String(action))
	switch a := p.Action.(type) {
	case xast.ScopeTypeEq:
		if a.Entity != act {
			return false
		}
	case xast.ScopeTypeInSet:
		if !slices.Contains(a.Entities, act) {
			return false
		}
	}
	switch r := p.Resource.(type) {
	case xast.ScopeTypeIs:
		return r.Type == typ
	case xast.ScopeTypeIsIn:
		return r.Type == typ
	}
	return true
}

// ParsePolicies parses a policy document and accepts it only when every
// policy has a unique @id, permits (a forbid that errors is skipped, so it
// would fail open), passes the schema's type check, and evaluates without
// an error on the built-in corpus of checks, and when the scope answers
// agree with row-by-row checks on that corpus.
func ParsePolicies(doc []byte) (*PolicySet, error) {
	// The self test costs tens of milliseconds; a replica re-reads the
	// same document at every start and every version, so accepted sets
	// are remembered by content (they are immutable).
	key := sha256.Sum256(doc)
	parsedMu.Lock()
	ps, ok := parsed[key]
	parsedMu.Unlock()
	if ok {
		return ps, nil
	}
	ps, err := parsePolicies(doc)
	if err != nil {
		return nil, err
	}
	parsedMu.Lock()
	if len(parsed) >= 16 {
		clear(parsed)
	}
	parsed[key] = ps
	parsedMu.Unlock()
	return ps, nil
}

var (
	parsedMu sync.Mutex
	parsed   = map[[32]byte]*PolicySet{}
)

func parsePolicies(doc []byte) (*PolicySet, error) {
	list, err := cedar.NewPolicyListFromBytes("policies.cedar", doc)
	if err != nil {
		return nil, fmt.Errorf("access policies: %w", err)
	}
	if len(list) == 0 {
		return nil, errors.New("access policies: the document holds no policy")
	}
	v, err := validator()
	if err != nil {
		return nil, err
	}
	ps := &PolicySet{set: cedar.NewPolicySet()}
	var errs []error
	for i, p := range list {
		at := fmt.Sprintf("policy %d (line %d)", i+1, p.Position().Line)
		id := string(p.Annotations()["id"])
		switch {
		case id == "":
			errs = append(errs, fmt.Errorf("%s: needs an @id(\"…\") annotation, which decisions name as the reason", at))
			continue
		case slices.Contains(ps.ids, id):
			errs = append(errs, fmt.Errorf("%s: @id %q is used twice", at, id))
			continue
		}
		at = fmt.Sprintf("policy %q (line %d)", id, p.Position().Line)
		if p.Effect() != cedar.Permit {
			errs = append(errs, fmt.Errorf("%s: only permit policies are allowed (a forbid that errors is skipped, which would fail open)", at))
		}
		if err := v.Policy(id, (*xast.Policy)(p.AST())); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", at, err))
		}
		ps.set.Add(cedar.PolicyID(id), p)
		ps.ids = append(ps.ids, id)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("access policies: %w", err)
	}
	ps.byRequest = map[requestKey]cedar.PolicyMap{}
	for _, action := range Actions {
		for typ, et := range recordTypes {
			m := cedar.PolicyMap{}
			for id, p := range ps.set.All() {
				if scopeMatches((*xast.Policy)(p.AST()), action, types.EntityType(et)) {
					m[id] = p
				}
			}
			ps.byRequest[requestKey{action, typ}] = m
		}
	}
	if err := ps.selfTest(); err != nil {
		return nil, fmt.Errorf("access policies: %w", err)
	}
	return ps, nil
}

// validator is built once: the schema is embedded and never changes.
var validator = sync.OnceValues(func() (*validate.Validator, error) {
	var s schema.Schema
	if err := s.UnmarshalCedar(Schema); err != nil {
		return nil, fmt.Errorf("records: schema: %w", err)
	}
	r, err := s.Resolve()
	if err != nil {
		return nil, fmt.Errorf("records: schema: %w", err)
	}
	return validate.New(r), nil
})

// IDs lists the policies' ids in document order.
func (ps *PolicySet) IDs() []string { return slices.Clone(ps.ids) }

// Decide answers one check for principal, who must be a person of p.
func (ps *PolicySet) Decide(p *People, principal *Person, action string, r *Record) (Decision, error) {
	e := env{p: p, res: make([]types.Entity, 0, 6)}
	req := cedar.Request{
		Principal: types.NewEntityUID(tUser, types.String(principal.ID)),
		Action:    types.NewEntityUID("Action", types.String(action)),
		Resource:  e.resource(r),
		Context:   types.NewRecord(nil),
	}
	dec, diag := cedar.Authorize(ps.byRequest[requestKey{action, r.Type}], &e, req)
	if len(diag.Errors) > 0 {
		// A permit that errors is skipped; the answer may still be
		// right, but an operator must hear of it.
		msgs := make([]string, len(diag.Errors))
		for i, d := range diag.Errors {
			msgs[i] = fmt.Sprintf("%s: %s", d.PolicyID, d.Message)
		}
		return Decision{}, fmt.Errorf("records: policy evaluation failed: %s", strings.Join(msgs, "; "))
	}
	d := Decision{Allow: dec == cedar.Allow, Reasons: []string{}}
	for _, r := range diag.Reasons {
		d.Reasons = append(d.Reasons, string(r.PolicyID))
	}
	slices.Sort(d.Reasons)
	return d, nil
}

// Corpus returns a People snapshot and a deterministic set of checks over
// it covering every mode, permission, action and record type: the cases
// a policy set must evaluate without error (ParsePolicies) and the
// property tests draw on.
func Corpus(seed uint64, n int) (*People, []Check) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	users, groups := randomDirectory(rng, 12, 4)
	p := NewPeople(users, groups)
	checks := make([]Check, n)
	for i := range checks {
		checks[i] = RandomCheck(rng, users)
	}
	return p, checks
}

func randomDirectory(rng *rand.Rand, nUsers, nGroups int) ([]directory.User, []directory.Group) {
	users := make([]directory.User, nUsers)
	for i := range users {
		users[i] = directory.User{ID: fmt.Sprintf("u%02d", i), Username: fmt.Sprintf("user%02d", i)}
	}
	groups := make([]directory.Group, nGroups)
	for i := range groups {
		g := directory.Group{Name: fmt.Sprintf("g%d", i), Mode: directory.ModeLeadBased}
		if rng.IntN(2) == 0 {
			g.Mode = directory.ModeAccountBased
		}
		for _, u := range users {
			if rng.IntN(3) != 0 {
				continue
			}
			m := directory.GroupMember{UserID: u.ID, Username: u.Username}
			for _, perm := range directory.GroupPerms {
				if rng.IntN(4) == 0 && (g.Mode == directory.ModeAccountBased || perm == directory.PermViewAllLeads || perm == directory.PermModifyAllLeads) {
					m.Perms = append(m.Perms, perm)
				}
			}
			g.Members = append(g.Members, m)
		}
		groups[i] = g
	}
	return users, groups
}

// RandomCheck draws a check whose facts name users (by id or username),
// strangers the directory does not know, and empty facts.
func RandomCheck(rng *rand.Rand, users []directory.User) Check {
	ref := func() string {
		switch k := rng.IntN(10); {
		case k == 0:
			return ""
		case k == 1:
			return "stranger"
		default:
			u := users[rng.IntN(len(users))]
			if k == 2 {
				return u.Username
			}
			return u.ID
		}
	}
	refs := func() []string {
		var l []string
		for range rng.IntN(3) {
			l = append(l, ref())
		}
		return l
	}
	account := func() *Record {
		if rng.IntN(5) == 0 {
			return nil
		}
		return &Record{Owner: ref(), LeadOwners: refs(), OpportunityOwners: refs()}
	}
	lead := func() *Record {
		if rng.IntN(8) == 0 {
			return nil
		}
		return &Record{Owner: ref(), Account: account(), OpportunityOwners: refs()}
	}
	types := Types()
	r := Record{Type: types[rng.IntN(len(types))], ID: fmt.Sprint(rng.IntN(1000))}
	switch r.Type {
	case "account":
		r.Owner, r.LeadOwners, r.OpportunityOwners = ref(), refs(), refs()
	case "lead":
		r.Owner, r.Account, r.OpportunityOwners = ref(), account(), refs()
	case "opportunity":
		r.Owner, r.Lead = ref(), lead()
	case "lead_activity":
		r.Lead, r.PostedBy = lead(), ref()
	case "account_activity":
		r.Account, r.PostedBy = account(), ref()
	}
	u := users[rng.IntN(len(users))]
	return Check{User: u.ID, Action: Actions[rng.IntN(len(Actions))], Resource: r}
}

// selfTest evaluates the corpus: any evaluation error refuses the set,
// and so does a scope answer that disagrees with the row checks.
func (ps *PolicySet) selfTest() error {
	p, checks := Corpus(1, 2000)
	for _, c := range checks {
		if _, err := ps.Decide(p, p.Resolve(c.User), c.Action, &c.Resource); err != nil {
			return fmt.Errorf("on a %s %s check: %w", c.Action, c.Resource.Type, err)
		}
	}
	return ps.scopeAgrees(p, checks)
}
