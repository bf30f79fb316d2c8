package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/records"
)

// AccessPolicies returns the record access policy set in force and its
// version (0 with the shipped set when none was ever stored).
func (s *Service) AccessPolicies(ctx context.Context) ([]byte, int64, error) {
	doc, err := s.dir.CurrentDocument(ctx, directory.DocAccessPolicies)
	if errors.Is(err, directory.ErrNotFound) {
		return records.DefaultPolicies, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return doc.Body, doc.Version, nil
}

// SetAccessPolicies validates doc (records.ParsePolicies: parse, schema,
// permit only, the corpus) and stores it as the next version. after is
// the version the admin edited (-1: whatever is in force), so two admins
// editing at once cannot silently undo each other.
func (s *Service) SetAccessPolicies(ctx context.Context, actor string, doc []byte, after int64) (TemplateChange, error) {
	if _, err := records.ParsePolicies(doc); err != nil {
		e := &InvalidError{}
		e.add("policies", "%v", err)
		return TemplateChange{}, e
	}
	if after < 0 {
		_, v, err := s.AccessPolicies(ctx)
		if err != nil {
			return TemplateChange{}, err
		}
		after = v
	}
	put, err := s.dir.PutDocument(ctx, directory.DocAccessPolicies, doc, actor, after)
	if errors.Is(err, directory.ErrConflict) {
		return TemplateChange{}, fmt.Errorf("%w: the access policies changed since version %d; edit the current version", ErrConflict, after)
	}
	if err != nil {
		return TemplateChange{}, err
	}
	ch := TemplateChange{From: after, To: put.Version}
	s.audit.Record(ctx, audit.Event{Event: audit.AccessPoliciesChanged, Actor: actor, Detail: map[string]string{
		"from_version": fmt.Sprint(ch.From), "to_version": fmt.Sprint(ch.To)}})
	return ch, nil
}

// CheckAccess answers a record access check from the directory as it is
// now (the CLI's `access check`; gateways answer from their watcher's
// copy).
func (s *Service) CheckAccess(ctx context.Context, c records.Check) (records.Decision, error) {
	if err := c.Validate(); err != nil {
		e := &InvalidError{}
		e.add("check", "%v", err)
		return records.Decision{}, e
	}
	doc, _, err := s.AccessPolicies(ctx)
	if err != nil {
		return records.Decision{}, err
	}
	ps, err := records.ParsePolicies(doc)
	if err != nil {
		return records.Decision{}, err
	}
	users, err := s.dir.ListUsers(ctx)
	if err != nil {
		return records.Decision{}, err
	}
	groups, err := s.dir.ListGroups(ctx)
	if err != nil {
		return records.Decision{}, err
	}
	people := records.NewPeople(users, groups)
	who := people.Resolve(c.User)
	if who == nil {
		return records.Decision{}, ErrNoUser
	}
	return ps.Decide(people, who, c.Action, &c.Resource)
}
