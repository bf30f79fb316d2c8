package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/apikey"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// ErrNoAPIKey means no key has the given id.
var ErrNoAPIKey = errors.New("admin: no such API key")

// MACer makes the keyed hash stored for a key's secret (the secrets
// key ring).
type MACer interface {
	MAC(purpose string, data []byte) []byte
}

// NewAPIKey is the input of CreateAPIKey.
type NewAPIKey struct {
	Username string
	Name     string
	Expires  time.Duration // 0: the policy's api_keys.max_lifetime
	Scopes   []string      // features; empty: all of the user's
	AllowIPs []string
}

// CreateAPIKey makes a key for a user and returns it, the only time the
// secret exists outside the caller's hands; the directory keeps a MAC.
// Scopes must be features the user's template grants today (the key can
// never do more than its user; a later demotion narrows it at request
// time), the expiry at most the policy's max_lifetime.
func (s *Service) CreateAPIKey(ctx context.Context, actor string, mac MACer, in NewAPIKey) (string, *directory.APIKey, error) {
	u, err := s.User(ctx, in.Username)
	if err != nil {
		return "", nil, err
	}
	p, err := s.currentPolicy(ctx)
	if err != nil {
		return "", nil, err
	}
	kp := p.APIKeys
	e := &InvalidError{}
	switch {
	case !kp.KeysEnabled():
		e.add("user", "API keys are turned off by the login policy (api_keys.enabled)")
	case u.Disabled:
		e.add("user", "%s is disabled", u.Username)
	case !kp.RoleAllowed(u.Role):
		e.add("user", "the login policy allows API keys for roles %s, not %s (api_keys.roles)", strings.Join(kp.Roles, ", "), u.Role)
	}
	if in.Expires < 0 || in.Expires > kp.MaxLifetime {
		e.add("expires", "must be at most the policy's api_keys.max_lifetime (%s)", kp.MaxLifetime)
	}
	if in.Expires == 0 {
		in.Expires = kp.MaxLifetime
	}
	if len(in.Name) > 100 {
		e.add("name", "at most 100 characters")
	}
	set, _, err := s.Templates(ctx)
	if err != nil {
		return "", nil, err
	}
	tbl, err := access.Compile(p.Access, set)
	if err != nil {
		return "", nil, err
	}
	grants := tbl.GrantsFor(u.Role, u.Template)
	for _, sc := range in.Scopes {
		if !slices.Contains(grants.Features, sc) {
			e.add("scopes", "%q is not a feature %s's template grants (%s)", sc, u.Username, strings.Join(grants.Features, ", "))
		}
	}
	for i, c := range in.AllowIPs {
		if _, err := policy.ParsePrefix(c); err != nil {
			e.add(fmt.Sprintf("allow-ips[%d]", i), "%v", err)
		}
	}
	if err := e.err(); err != nil {
		return "", nil, err
	}
	now := s.now()
	for attempt := 0; ; attempt++ {
		id := apikey.NewID()
		tok, secret := apikey.Generate(id)
		k := &directory.APIKey{ID: id, UserID: u.ID, Name: strings.TrimSpace(in.Name), Hash: mac.MAC(apikey.MACPurpose, []byte(secret)),
			Scopes: slices.Clone(in.Scopes), AllowedCIDRs: slices.Clone(in.AllowIPs), CreatedAt: now, ExpiresAt: now.Add(in.Expires)}
		err := s.dir.CreateAPIKey(ctx, k)
		if errors.Is(err, directory.ErrConflict) && attempt < 3 {
			continue // a 71-bit id collided; draw again
		}
		if err != nil {
			return "", nil, err
		}
		s.audit.Record(ctx, audit.Event{Event: audit.APIKeyCreated, Actor: actor, UserID: u.ID, Detail: map[string]string{
			"key_id": id, "name": k.Name, "scopes": strings.Join(k.Scopes, ","), "expires": k.ExpiresAt.Format(time.RFC3339)}})
		return tok, k, nil
	}
}

// APIKeys lists one user's keys, or everyone's for "".
func (s *Service) APIKeys(ctx context.Context, username string) ([]directory.APIKey, error) {
	userID := ""
	if username != "" {
		u, err := s.User(ctx, username)
		if err != nil {
			return nil, err
		}
		userID = u.ID
	}
	return s.dir.ListAPIKeys(ctx, userID)
}

// RevokeAPIKey ends a key. Every replica refuses it within
// apikey.CacheTTL (a second), whether or not an invalidation event
// reaches it.
func (s *Service) RevokeAPIKey(ctx context.Context, actor, id string) (*directory.APIKey, error) {
	if err := s.dir.RevokeAPIKey(ctx, id, s.now()); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return nil, fmt.Errorf("%w: %q", ErrNoAPIKey, id)
		}
		return nil, err
	}
	k, err := s.dir.APIKey(ctx, id)
	if err != nil {
		return nil, err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.APIKeyRevoked, Actor: actor, UserID: k.UserID, Detail: map[string]string{"key_id": id}})
	return k, nil
}

// UserAPIKeys lists a user's keys by user id (the account page).
func (s *Service) UserAPIKeys(ctx context.Context, userID string) ([]directory.APIKey, error) {
	return s.dir.ListAPIKeys(ctx, userID)
}

// RevokeOwnAPIKey revokes a key only if it belongs to userID (the account
// page: a user revokes their own keys and cannot learn whether another's
// id exists).
func (s *Service) RevokeOwnAPIKey(ctx context.Context, actor, userID, id string) error {
	k, err := s.dir.APIKey(ctx, id)
	if errors.Is(err, directory.ErrNotFound) || err == nil && k.UserID != userID {
		return fmt.Errorf("%w: %q", ErrNoAPIKey, id)
	}
	if err != nil {
		return err
	}
	_, err = s.RevokeAPIKey(ctx, actor, id)
	return err
}
