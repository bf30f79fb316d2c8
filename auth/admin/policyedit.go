package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// ErrPolicyChanged means another admin stored a version after the one the
// change was prepared against (HTTP 409).
var ErrPolicyChanged = errors.New("admin: the login policy changed since this edit began")

// sections are the policy document's top-level keys: a document naming
// all of them is a whole policy and replaces the one in force.
var sections = []string{"session", "methods", "mfa", "network", "access", "api_keys", "mobile"}

// PolicyPlan is a policy change worked out and not yet stored: what an
// admin reads before confirming.
type PolicyPlan struct {
	// From is the version in force the change applies to.
	From directory.PolicyVersion
	// Merged says the document named only some keys and was laid over
	// the version in force (RFC 7396 merge patch: mappings merged,
	// lists and values replaced, null removes a key); false: the
	// document was a whole policy and replaces it.
	Merged bool
	// Document is the new policy, canonical.
	Document []byte
	// Diff lists changed lines of the canonical documents ("-old",
	// "+new"); empty when nothing changes.
	Diff     []string
	Warnings []string
	// Access describes route-rule changes and whom they refuse.
	Access []string
	// Impact is what the change does to people: who loses access from
	// where, who must enrol a second factor, how many sessions end.
	Impact Impact
}

// PlanPolicy validates doc against the policy in force and works out what
// storing it would change. A document that omits sections is merged onto
// the version in force, never read as "reset everything omitted".
func (s *Service) PlanPolicy(ctx context.Context, doc []byte) (PolicyPlan, error) {
	return s.plan(ctx, doc, true)
}

// CheckPolicy is PlanPolicy without the impact and route-rule scans
// (Impact says "not counted", Access is empty): what a save needs after
// a preview showed them, without reading every user and session again.
func (s *Service) CheckPolicy(ctx context.Context, doc []byte) (PolicyPlan, error) {
	return s.plan(ctx, doc, false)
}

func (s *Service) plan(ctx context.Context, doc []byte, scan bool) (PolicyPlan, error) {
	cur, err := s.dir.CurrentPolicy(ctx)
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return PolicyPlan{}, err
	}
	plan := PolicyPlan{From: cur}
	whole := doc
	if cur.Version > 0 {
		if whole, plan.Merged, err = mergePolicy(cur.Document, doc); err != nil {
			return PolicyPlan{}, &InvalidError{Problems: []FieldProblem{{Field: "policy", Message: err.Error()}}}
		}
	}
	p, out, warnings, err := s.checkPolicy(ctx, whole)
	if err != nil {
		return PolicyPlan{}, err
	}
	plan.Document, plan.Warnings = out, warnings
	old, err := s.currentPolicy(ctx)
	if err != nil {
		return PolicyPlan{}, err
	}
	if err := s.checkSources(&old, &p); err != nil {
		return PolicyPlan{}, err
	}
	plan.Diff = DiffLines(canonical(cur.Document), string(out))
	if !scan {
		plan.Impact = notCounted()
		return plan, nil
	}
	if plan.Impact, err = s.impact(ctx, &old, &p); err != nil {
		return PolicyPlan{}, err
	}
	dr, err := s.DryRunPolicy(ctx, out)
	if err != nil {
		return PolicyPlan{}, err
	}
	plan.Access = dr.Access
	return plan, nil
}

// ApplyPolicy stores a plan's document, only if the policy in force is
// still the one it was planned against (ErrPolicyChanged otherwise).
func (s *Service) ApplyPolicy(ctx context.Context, actor string, plan PolicyPlan, detail map[string]string) (PolicyChange, error) {
	pv, err := s.dir.PutPolicyAfter(ctx, plan.Document, actor, plan.From.Version)
	if errors.Is(err, directory.ErrConflict) {
		return PolicyChange{}, fmt.Errorf("%w (it was version %d when read)", ErrPolicyChanged, plan.From.Version)
	}
	if err != nil {
		return PolicyChange{}, err
	}
	d := map[string]string{"from_version": fmt.Sprint(plan.From.Version), "to_version": fmt.Sprint(pv.Version)}
	for k, v := range detail {
		d[k] = v
	}
	s.audit.Record(ctx, audit.Event{Event: audit.PolicyChanged, Actor: actor, Detail: d})
	return PolicyChange{From: plan.From, To: pv, Warnings: plan.Warnings}, nil
}

// PolicyHistory lists stored versions, newest first.
func (s *Service) PolicyHistory(ctx context.Context, limit int) ([]directory.PolicyVersion, error) {
	return s.dir.PolicyHistory(ctx, limit)
}

// PolicyAt returns one stored version, or ErrNoPolicy.
func (s *Service) PolicyAt(ctx context.Context, version int64) (directory.PolicyVersion, error) {
	pv, err := s.dir.PolicyAt(ctx, version)
	if errors.Is(err, directory.ErrNotFound) {
		return pv, fmt.Errorf("%w: no version %d", ErrNoPolicy, version)
	}
	return pv, err
}

// PlanRollback plans storing an earlier version's document again as the
// next version (history is never rewritten). It is checked as any new
// policy is: against the templates and providers of today.
func (s *Service) PlanRollback(ctx context.Context, version int64) (PolicyPlan, error) {
	return s.rollback(ctx, version, true)
}

// CheckRollback is PlanRollback without the scans, as CheckPolicy is
// PlanPolicy.
func (s *Service) CheckRollback(ctx context.Context, version int64) (PolicyPlan, error) {
	return s.rollback(ctx, version, false)
}

func (s *Service) rollback(ctx context.Context, version int64, scan bool) (PolicyPlan, error) {
	old, err := s.PolicyAt(ctx, version)
	if err != nil {
		return PolicyPlan{}, err
	}
	plan, err := s.plan(ctx, old.Document, scan)
	if err != nil {
		return plan, err
	}
	plan.Merged = false
	return plan, nil
}

// canonical re-marshals a stored document so diffs compare like with like
// (documents stored by old releases may differ in layout).
func canonical(doc []byte) string {
	if len(doc) == 0 {
		return ""
	}
	p, err := policy.Parse(doc)
	if err != nil {
		return string(doc)
	}
	out, err := p.Marshal()
	if err != nil {
		return string(doc)
	}
	return string(out)
}

// mergePolicy lays patch over base. A patch naming every section is a
// whole document and is returned as it is.
func mergePolicy(base, patch []byte) ([]byte, bool, error) {
	var p map[string]any
	if err := yaml.Unmarshal(patch, &p); err != nil {
		return nil, false, fmt.Errorf("the document is not YAML: %v", err)
	}
	if p == nil && len(bytes.TrimSpace(patch)) > 0 {
		return nil, false, errors.New("the document must be a mapping of policy sections")
	}
	whole := true
	for _, k := range sections {
		if _, ok := p[k]; !ok {
			whole = false
		}
	}
	if whole {
		return patch, false, nil
	}
	var b map[string]any
	if err := yaml.Unmarshal(base, &b); err != nil {
		return nil, false, fmt.Errorf("the policy in force does not parse: %v", err)
	}
	merged := mergePatch(b, p)
	out, err := yaml.Marshal(merged)
	return out, true, err
}

// mergePatch is RFC 7396 over YAML mappings.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	out := make(map[string]any, len(tm))
	for k, v := range tm {
		out[k] = v
	}
	for k, v := range pm {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}

// DiffLines is a line diff of a and b: unchanged lines are left out,
// removed ones start with "-", added ones with "+", in document order.
func DiffLines(a, b string) []string {
	x, y := splitLines(a), splitLines(b)
	// Longest common subsequence table; policies are a few hundred lines.
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "-"+x[i])
			i++
		default:
			out = append(out, "+"+y[j])
			j++
		}
	}
	return out
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return slices.Collect(strings.SplitSeq(s, "\n"))
}

// NetworkSources says which lists the gateway's configuration provides:
// a policy cannot block what the gateway cannot see.
type NetworkSources struct {
	TorExitList bool // network.tor_exit_list has a file or url
	AnonymousDB bool // network.anonymous_ip_db has a file
}

// WithNetworkSources lets policy changes be checked against the lists
// configured; without it they are not.
func (s *Service) WithNetworkSources(n NetworkSources) *Service {
	s.sources = &n
	return s
}

// checkSources refuses a change that turns on Tor or anonymizer blocking
// the configuration has no list for: it would look like protection and
// block nothing. A policy that already says so (the default block_tor:
// login) is left alone, with the start-up warning.
func (s *Service) checkSources(old, p *policy.Policy) error {
	if s.sources == nil {
		return nil
	}
	var problems []FieldProblem
	if p.Network.BlockTor != "off" && old.Network.BlockTor == "off" && !s.sources.TorExitList {
		problems = append(problems, FieldProblem{Field: "policy", Message: fmt.Sprintf(
			"policy.network.block_tor: %q blocks Tor exits, but network.tor_exit_list names no file or url, so none would be; configure the list first, or keep block_tor: off", p.Network.BlockTor)})
	}
	if len(p.Network.BlockAnonymous) > 0 && len(old.Network.BlockAnonymous) == 0 && !s.sources.AnonymousDB {
		problems = append(problems, FieldProblem{Field: "policy", Message: "policy.network.block_anonymous: blocks anonymizers, but network.anonymous_ip_db names no file, so none would be; configure the database first, or leave block_anonymous empty"})
	}
	if len(problems) > 0 {
		return &InvalidError{Problems: problems}
	}
	return nil
}
