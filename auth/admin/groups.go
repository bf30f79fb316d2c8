package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

var (
	// ErrNoGroup means no sales group has the given name.
	ErrNoGroup = errors.New("admin: no such group")
	// ErrGroupExists means the name is taken.
	ErrGroupExists = errors.New("admin: group exists")
	// ErrNotMember means the user is not in the group.
	ErrNotMember = errors.New("admin: not a member of the group")
)

// Groups lists every sales group with its members.
func (s *Service) Groups(ctx context.Context) ([]directory.Group, error) {
	return s.dir.ListGroups(ctx)
}

// Group returns one sales group, or ErrNoGroup.
func (s *Service) Group(ctx context.Context, name string) (*directory.Group, error) {
	g, err := s.dir.Group(ctx, name)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrNoGroup, name)
	}
	return g, err
}

func checkMode(mode string) error {
	if mode != directory.ModeLeadBased && mode != directory.ModeAccountBased {
		e := &InvalidError{}
		e.add("mode", "mode %q is not lead_based or account_based", mode)
		return e
	}
	return nil
}

// AddGroup creates a sales group without members.
func (s *Service) AddGroup(ctx context.Context, actor, name, mode, description string) (*directory.Group, error) {
	name = strings.TrimSpace(name)
	e := &InvalidError{}
	if !validGroup.MatchString(name) {
		e.add("name", "%q is not a valid group name (letters, digits, space, . _ -; at most 64)", name)
	}
	if err := checkMode(mode); err != nil {
		e.Problems = append(e.Problems, err.(*InvalidError).Problems...)
	}
	if err := e.err(); err != nil {
		return nil, err
	}
	g := &directory.Group{Name: name, Mode: mode, Description: strings.TrimSpace(description)}
	if err := s.dir.CreateGroup(ctx, g); err != nil {
		if errors.Is(err, directory.ErrConflict) {
			return nil, fmt.Errorf("%w: %q", ErrGroupExists, name)
		}
		return nil, err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.GroupCreated, Actor: actor, Detail: map[string]string{"group": name, "mode": mode}})
	return g, nil
}

// SetGroupMode changes a group's access mode. Switching to lead-based is
// refused while a member holds an account permission, which would stop
// meaning anything without anyone being told.
func (s *Service) SetGroupMode(ctx context.Context, actor, name, mode string) (*directory.Group, error) {
	if err := checkMode(mode); err != nil {
		return nil, err
	}
	g, err := s.Group(ctx, name)
	if err != nil {
		return nil, err
	}
	if mode == directory.ModeLeadBased {
		var holders []string
		for _, m := range g.Members {
			if slices.ContainsFunc(m.Perms, accountPerm) {
				holders = append(holders, m.Username)
			}
		}
		if len(holders) > 0 {
			e := &InvalidError{}
			e.add("mode", "group %s: %s hold account permissions, which lead-based groups do not have; revoke them first", name, strings.Join(holders, ", "))
			return nil, e
		}
	}
	if err := s.dir.UpdateGroup(ctx, name, mode, g.Description); err != nil {
		return nil, err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.GroupChanged, Actor: actor, Detail: map[string]string{"group": name, "from": g.Mode, "to": mode}})
	g.Mode = mode
	return g, nil
}

func accountPerm(p string) bool {
	return p == directory.PermViewAllAccounts || p == directory.PermModifyAllAccounts
}

// DeleteGroup removes a group; its members' sessions end, since the
// groups they carry to the upstream changed.
func (s *Service) DeleteGroup(ctx context.Context, actor, name string) error {
	g, err := s.Group(ctx, name)
	if err != nil {
		return err
	}
	if err := s.dir.DeleteGroup(ctx, name); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNoGroup, name)
		}
		return err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.GroupDeleted, Actor: actor, Detail: map[string]string{"group": name, "members": fmt.Sprint(len(g.Members))}})
	for _, m := range g.Members {
		if err := s.endSessions(ctx, actor, &directory.User{ID: m.UserID}, "groups_changed"); err != nil {
			return err
		}
	}
	return nil
}

// AddMember puts a user in a group (with no manager permissions) and ends
// their sessions: a session carries the groups it began with, as it does
// the role. Adding a member twice is not an error and keeps their
// permissions.
func (s *Service) AddMember(ctx context.Context, actor, group, username string) (*directory.User, error) {
	u, g, err := s.userAndGroup(ctx, username, group)
	if err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(g.Members, func(m directory.GroupMember) bool { return m.UserID == u.ID }); i >= 0 {
		return u, nil
	}
	if err := s.dir.SetMember(ctx, group, u.ID, nil); err != nil {
		return nil, s.groupErr(err, group)
	}
	s.audit.Record(ctx, audit.Event{Event: audit.GroupMemberAdded, Actor: actor, UserID: u.ID, Detail: map[string]string{"group": group}})
	return u, s.endSessions(ctx, actor, u, "groups_changed")
}

// RemoveMember takes a user out of a group (with their permissions in it)
// and ends their sessions.
func (s *Service) RemoveMember(ctx context.Context, actor, group, username string) (*directory.User, error) {
	u, _, err := s.userAndGroup(ctx, username, group)
	if err != nil {
		return nil, err
	}
	if err := s.dir.RemoveMember(ctx, group, u.ID); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s is not in %s", ErrNotMember, u.Username, group)
		}
		return nil, err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.GroupMemberRemoved, Actor: actor, UserID: u.ID, Detail: map[string]string{"group": group}})
	return u, s.endSessions(ctx, actor, u, "groups_changed")
}

// GrantPerms adds manager permissions to a member (grant) or removes them
// (revoke); it returns the member's permissions after the change. The
// account permissions are refused in a lead-based group.
func (s *Service) GrantPerms(ctx context.Context, actor, group, username string, perms []string, grant bool) ([]string, error) {
	e := &InvalidError{}
	for _, p := range perms {
		if !slices.Contains(directory.GroupPerms, p) {
			e.add("permission", "%q is not a manager permission (%s)", p, strings.Join(directory.GroupPerms, ", "))
		}
	}
	if len(perms) == 0 {
		e.add("permission", "name at least one permission (%s)", strings.Join(directory.GroupPerms, ", "))
	}
	if err := e.err(); err != nil {
		return nil, err
	}
	u, g, err := s.userAndGroup(ctx, username, group)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(g.Members, func(m directory.GroupMember) bool { return m.UserID == u.ID })
	if i < 0 {
		return nil, fmt.Errorf("%w: %s is not in %s (group add-member first)", ErrNotMember, u.Username, group)
	}
	if grant && g.Mode == directory.ModeLeadBased && slices.ContainsFunc(perms, accountPerm) {
		e.add("permission", "group %s is lead-based: account permissions apply only in account-based groups (group set-mode %s account_based)", group, group)
		return nil, e
	}
	old := g.Members[i].Perms
	var next []string
	for _, p := range directory.GroupPerms {
		has := slices.Contains(old, p)
		if grant && (has || slices.Contains(perms, p)) || !grant && has && !slices.Contains(perms, p) {
			next = append(next, p)
		}
	}
	if slices.Equal(old, next) {
		return next, nil
	}
	if err := s.dir.SetMember(ctx, group, u.ID, next); err != nil {
		return nil, s.groupErr(err, group)
	}
	s.audit.Record(ctx, audit.Event{Event: audit.GroupPermsChanged, Actor: actor, UserID: u.ID, Detail: map[string]string{
		"group": group, "from": strings.Join(old, ","), "to": strings.Join(next, ",")}})
	return next, nil
}

func (s *Service) userAndGroup(ctx context.Context, username, group string) (*directory.User, *directory.Group, error) {
	u, err := s.User(ctx, username)
	if err != nil {
		return nil, nil, err
	}
	g, err := s.Group(ctx, group)
	if err != nil {
		return nil, nil, err
	}
	return u, g, nil
}

func (s *Service) groupErr(err error, group string) error {
	if errors.Is(err, directory.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrNoGroup, group)
	}
	return err
}
