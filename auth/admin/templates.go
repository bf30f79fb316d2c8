package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// ErrNoTemplate means no permission template has the given name.
var ErrNoTemplate = errors.New("admin: no such permission template")

// Templates returns the stored template set and its version (0 and an
// empty set when none was ever stored).
func (s *Service) Templates(ctx context.Context) (access.TemplateSet, int64, error) {
	doc, err := s.dir.CurrentDocument(ctx, directory.DocTemplates)
	if errors.Is(err, directory.ErrNotFound) {
		return access.TemplateSet{Templates: map[string]access.Template{}}, 0, nil
	}
	if err != nil {
		return access.TemplateSet{}, 0, err
	}
	set, err := access.ParseTemplates(doc.Body, nil)
	if err != nil {
		return access.TemplateSet{}, 0, fmt.Errorf("stored templates version %d: %w", doc.Version, err)
	}
	return set, doc.Version, nil
}

// currentPolicy is the policy in force, parsed; the default before any
// is stored.
func (s *Service) currentPolicy(ctx context.Context) (policy.Policy, error) {
	pv, err := s.dir.CurrentPolicy(ctx)
	if errors.Is(err, directory.ErrNotFound) {
		return policy.Default(), nil
	}
	if err != nil {
		return policy.Policy{}, err
	}
	return policy.Parse(pv.Document)
}

// TemplateChange is a stored template set version and the one before.
type TemplateChange struct{ From, To int64 }

// changeTemplates applies change to the set in force and stores the
// result as the next version. A concurrent change (another admin, another
// replica) makes the store refuse; the change is then applied again to
// the newer set, so nothing either admin did is lost.
func (s *Service) changeTemplates(ctx context.Context, actor string, change func(set *access.TemplateSet, p policy.Policy) error) (TemplateChange, error) {
	for attempt := 0; ; attempt++ {
		set, version, err := s.Templates(ctx)
		if err != nil {
			return TemplateChange{}, err
		}
		p, err := s.currentPolicy(ctx)
		if err != nil {
			return TemplateChange{}, err
		}
		if err := change(&set, p); err != nil {
			return TemplateChange{}, err
		}
		doc, err := set.Marshal()
		if err != nil {
			return TemplateChange{}, err
		}
		d, err := s.dir.PutDocument(ctx, directory.DocTemplates, doc, actor, version)
		if errors.Is(err, directory.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return TemplateChange{}, err
		}
		return TemplateChange{From: version, To: d.Version}, nil
	}
}

// SetTemplate creates or replaces one permission template; every feature
// must be in the policy's catalogue. Running gateways apply it within a
// second, to every session whose role or user has it.
func (s *Service) SetTemplate(ctx context.Context, actor, name string, t access.Template) (TemplateChange, error) {
	ch, err := s.changeTemplates(ctx, actor, func(set *access.TemplateSet, p policy.Policy) error {
		next := access.TemplateSet{Templates: map[string]access.Template{name: t}}
		if err := next.Validate(p.Access.Features); err != nil {
			return &InvalidError{Problems: []FieldProblem{{Field: "template", Message: err.Error()}}}
		}
		set.Templates[name] = next.Templates[name]
		return nil
	})
	if err != nil {
		return ch, err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.TemplateChanged, Actor: actor, Detail: map[string]string{
		"template": name, "features": strings.Join(t.Features, ","),
		"from_version": fmt.Sprint(ch.From), "to_version": fmt.Sprint(ch.To)}})
	return ch, nil
}

// DeleteTemplate removes a template no role and no user uses (a user or
// role left without one would lose every feature at once; reassign them
// first).
func (s *Service) DeleteTemplate(ctx context.Context, actor, name string) (TemplateChange, error) {
	users, err := s.dir.ListUsers(ctx)
	if err != nil {
		return TemplateChange{}, err
	}
	ch, err := s.changeTemplates(ctx, actor, func(set *access.TemplateSet, p policy.Policy) error {
		if _, ok := set.Templates[name]; !ok {
			return ErrNoTemplate
		}
		var holders []string
		for _, u := range users {
			if u.Template == name {
				holders = append(holders, u.Username)
			}
		}
		var roles []string
		for role, t := range p.Access.Roles {
			if t == name {
				roles = append(roles, role)
			}
		}
		slices.Sort(roles)
		if len(holders)+len(roles) > 0 {
			return &InvalidError{Problems: []FieldProblem{{Field: "template", Message: fmt.Sprintf(
				"%s is in use (roles: %s; users: %s); give them another template first", name, orNone(roles), orNone(holders))}}}
		}
		delete(set.Templates, name)
		return nil
	})
	if err != nil {
		return ch, err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.TemplateDeleted, Actor: actor, Detail: map[string]string{
		"template": name, "from_version": fmt.Sprint(ch.From), "to_version": fmt.Sprint(ch.To)}})
	return ch, nil
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// SetUserTemplate gives the user their own template ("" returns them to
// their role's) and ends their sessions, as SetRole does: a session
// carries the template it was created with.
func (s *Service) SetUserTemplate(ctx context.Context, actor, username, template string) (*directory.User, error) {
	if template != "" {
		set, _, err := s.Templates(ctx)
		if err != nil {
			return nil, err
		}
		if _, ok := set.Templates[template]; !ok {
			return nil, fmt.Errorf("%w: %q", ErrNoTemplate, template)
		}
	}
	var old string
	u, err := s.update(ctx, username, func(u *directory.User) error { old, u.Template = u.Template, template; return nil })
	if err != nil {
		return nil, err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.UserTemplateChanged, Actor: actor, UserID: u.ID,
		Detail: map[string]string{"from": old, "to": template}})
	return u, s.endSessions(ctx, actor, u, "template_changed")
}

// Explanation says how the access table decides one request for one
// user: which template applies and why, which rule matched, and what it
// needs.
type Explanation struct {
	User           *directory.User
	Template       string // the template that applies, "" for none
	TemplateSource string // "user" (their own), "role", or "none"
	TemplateExists bool
	Rule           int    // -1: no rule matched
	Route          string // the matching rule's pattern
	Feature        string
	Default        string // the policy's access.default
	CleanPath      bool
	Allowed        bool
}

// Explain answers `gatehouse access explain`.
func (s *Service) Explain(ctx context.Context, username, method, path string) (Explanation, error) {
	u, err := s.User(ctx, username)
	if err != nil {
		return Explanation{}, err
	}
	p, err := s.currentPolicy(ctx)
	if err != nil {
		return Explanation{}, err
	}
	set, _, err := s.Templates(ctx)
	if err != nil {
		return Explanation{}, err
	}
	tbl, err := access.Compile(p.Access, set)
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{User: u, Template: tbl.TemplateFor(u.Role, u.Template), Default: p.Access.Default,
		CleanPath: access.CleanPath(path), Rule: -1}
	switch {
	case u.Template != "":
		e.TemplateSource = "user"
	case e.Template != "":
		e.TemplateSource = "role"
	default:
		e.TemplateSource = "none"
	}
	_, e.TemplateExists = set.Templates[e.Template]
	if !e.CleanPath {
		return e, nil
	}
	d := tbl.Decide(method, path, tbl.GrantsFor(u.Role, u.Template))
	e.Rule, e.Feature, e.Allowed = d.Rule, d.Feature, d.Allowed
	if d.Rule >= 0 {
		e.Route = tbl.Rule(d.Rule).Pattern
	}
	return e, nil
}
