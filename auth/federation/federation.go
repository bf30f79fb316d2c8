// Package federation turns a verified identity from an external provider
// (Google, an OIDC provider, ADFS over SAML) into a directory user: found
// by its link (provider + subject, ASVS 6.8.1), else by a configured rule
// (verified email or UPN), else created just in time when the provider
// allows it; the provider's groups set the role and sales groups at every
// login, so removing someone from an IdP group takes effect at their next
// login.
//
// It also joins the two halves of a redirect login: a login method's
// Protocol (auth/oidc, auth/saml) verifies what the provider sent and says
// who it vouches for, and NewLogin runs Resolve after it and turns mapping
// errors into refusals a user can act on, giving an auth.RedirectLogin.
package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// Claims is what a provider vouched for, from a verified token or
// assertion only.
type Claims struct {
	Provider      string // the configured provider id
	Method        string // auth.MethodGoogle, MethodOIDC, MethodSAML
	Subject       string // the provider's stable id (OIDC sub, SAML NameID or UPN)
	Email         string
	EmailVerified bool // OIDC email_verified; a SAML IdP's asserted email counts as verified
	UPN           string
	Name          string
	Groups        []string
	MFA           bool // the provider asserted multi-factor authentication (amr/acr, AuthnContext)
	// SessionID is the provider's session of this login (OIDC sid), for
	// its back-channel logout; empty when it gave none.
	SessionID string
}

// Rule is a provider's mapping configuration.
type Rule struct {
	Match    string                  `yaml:"match"` // email (default) | upn | subject
	JIT      JIT                     `yaml:"jit"`
	GroupMap map[string]GroupMapping `yaml:"group_map"`
}

// JIT creates unknown users on first login.
type JIT struct {
	Enabled bool   `yaml:"enabled"`
	Role    string `yaml:"role"`
}

// GroupMapping is what one provider group grants.
type GroupMapping struct {
	Role   string   `yaml:"role"`
	Groups []string `yaml:"groups"`
}

var (
	// ErrNoAccount: no user matches and the provider does not create users.
	ErrNoAccount = errors.New("federation: no account for this identity")
	// ErrUnverifiedEmail: matching by email needs a verified email.
	ErrUnverifiedEmail = errors.New("federation: email not verified by the provider")
	// ErrBadEmail: the email (or UPN) is not one plain address.
	ErrBadEmail = errors.New("federation: not a plain email address")
	// ErrDisabled: the matched user is disabled.
	ErrDisabled = errors.New("federation: account disabled")
	// ErrNoRole: the provider no longer grants the user's role and the
	// rule names no role to fall back to (Rule.Validate refuses such a
	// rule, so only a rule built without it gets here).
	ErrNoRole = errors.New("federation: no role to fall back to")
)

// Validate reports every problem of the rule at once, each as
// "<key>.<field>: what is wrong; the fix", key being the provider's entry
// (providers[0]).
func (r Rule) Validate(key string) error {
	var errs []error
	if !slices.Contains([]string{"email", "upn", "subject"}, r.Match) {
		errs = append(errs, fmt.Errorf("%s.match: must be email, upn or subject, got %q", key, r.Match))
	}
	switch {
	case r.JIT.Role != "":
	case r.JIT.Enabled:
		errs = append(errs, fmt.Errorf("%s.jit.role: required when jit.enabled (the role new users get)", key))
	case grantsRole(r.GroupMap):
		errs = append(errs, fmt.Errorf("%s.jit.role: required when group_map grants a role: it is the role a user falls back to once the provider no longer puts them in a group that maps one", key))
	}
	return errors.Join(errs...)
}

func grantsRole(m map[string]GroupMapping) bool {
	for _, gm := range m {
		if gm.Role != "" {
			return true
		}
	}
	return false
}

// Store is what resolving needs of the directory.
type Store interface {
	directory.Identities
	UserByEmail(ctx context.Context, email string) (*directory.User, error)
	CreateUser(ctx context.Context, u *directory.User) error
	UpdateUser(ctx context.Context, u *directory.User) error
}

// Outcome says what Resolve did, for the audit log.
type Outcome struct {
	Created bool // a user was created just in time
	Linked  bool // the identity was linked to a user for the first time
	Updated bool // role or groups changed from the provider's groups
}

// Resolve finds (or creates) the user for c under r.
func Resolve(ctx context.Context, st Store, c Claims, r Rule) (*directory.User, Outcome, error) {
	var out Outcome
	if c.Provider == "" || c.Subject == "" {
		return nil, out, errors.New("federation: claims without provider or subject")
	}
	u, err := st.UserByIdentity(ctx, c.Provider, c.Subject)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		if u, err = match(ctx, st, c, r); err != nil {
			return nil, out, err
		}
		if u == nil {
			if !r.JIT.Enabled {
				return nil, out, ErrNoAccount
			}
			if u, err = create(ctx, st, c, r); err != nil {
				return nil, out, err
			}
			out.Created = true
		}
		if err := st.LinkIdentity(ctx, c.Provider, c.Subject, u.ID); err != nil {
			return nil, out, err
		}
		out.Linked = true
	case err != nil:
		return nil, out, err
	}
	if u.Disabled {
		return nil, out, ErrDisabled
	}
	changed, err := applyGroups(u, c.Groups, r)
	if err != nil {
		return nil, out, err
	}
	if changed && !out.Created {
		if err := st.UpdateUser(ctx, u); err != nil {
			return nil, out, err
		}
		out.Updated = true
	}
	return u, out, nil
}

// match finds an existing user by the rule; nil when none.
func match(ctx context.Context, st Store, c Claims, r Rule) (*directory.User, error) {
	var addr string
	switch r.Match {
	case "", "email":
		if c.Email == "" {
			return nil, nil
		}
		if !c.EmailVerified {
			return nil, ErrUnverifiedEmail
		}
		addr = c.Email
	case "upn":
		addr = c.UPN
	case "subject":
		return nil, nil // only an existing link matches by subject
	default:
		return nil, fmt.Errorf("federation: unknown match rule %q", r.Match)
	}
	if addr == "" {
		return nil, nil
	}
	want, ok := CleanEmail(addr)
	if !ok {
		return nil, ErrBadEmail
	}
	u, err := st.UserByEmail(ctx, want)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// The directory compares case-insensitively; the local part must match
	// exactly, only the domain may differ in case.
	if got, _ := CleanEmail(u.Email); got != want {
		return nil, nil
	}
	return u, nil
}

func create(ctx context.Context, st Store, c Claims, r Rule) (*directory.User, error) {
	email, ok := CleanEmail(c.Email)
	if !ok || !c.EmailVerified {
		email = ""
	}
	name := email
	if name == "" {
		if name, ok = CleanEmail(c.UPN); !ok {
			return nil, fmt.Errorf("federation: cannot create a user without a verified email or a UPN: %w", ErrNoAccount)
		}
	}
	u := &directory.User{Username: strings.ToLower(name), Email: email, DisplayName: c.Name, Role: r.JIT.Role}
	if _, err := applyGroups(u, c.Groups, r); err != nil {
		return nil, err
	}
	if err := st.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("federation: create user: %w", err)
	}
	return u, nil
}

// applyGroups makes the user's role and sales groups what the provider's
// current groups map to, and reports whether anything changed. The
// provider governs exactly what its group_map can grant:
//   - sales groups named anywhere in the map are replaced by the ones the
//     current groups map to; groups an admin gave outside the map stay;
//   - the role is the first mapped role of the current groups, in sorted
//     order (never map order); when none maps a role any more and the
//     user's role is one the map grants, it falls back to the rule's
//     jit.role, never to a role the IdP has stopped vouching for. A role
//     the map cannot grant (set by an admin) is left alone.
func applyGroups(u *directory.User, idpGroups []string, r Rule) (bool, error) {
	m := r.GroupMap
	if len(m) == 0 {
		return false, nil
	}
	managed := map[string]bool{} // every sales group the map can grant
	grantable := map[string]bool{}
	for _, gm := range m {
		for _, sg := range gm.Groups {
			managed[sg] = true
		}
		if gm.Role != "" {
			grantable[gm.Role] = true
		}
	}
	var groups []string
	for _, g := range u.Groups {
		if !managed[g] && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	role := ""
	for _, g := range slices.Sorted(slices.Values(idpGroups)) {
		gm, ok := m[g]
		if !ok {
			continue
		}
		if role == "" && gm.Role != "" {
			role = gm.Role
		}
		for _, sg := range gm.Groups {
			if !slices.Contains(groups, sg) {
				groups = append(groups, sg)
			}
		}
	}
	if role == "" {
		role = u.Role
		if grantable[u.Role] {
			if r.JIT.Role == "" {
				return false, ErrNoRole
			}
			role = r.JIT.Role
		}
	}
	slices.Sort(groups)
	changed := !slices.Equal(groups, u.Groups) || role != u.Role
	u.Role, u.Groups = role, groups
	return changed, nil
}

// CleanEmail accepts one plain address — exactly one "@", a local part
// without spaces, quotes, angle brackets, commas or control characters, a
// dotted domain — and returns it with the domain lower-cased. Tricks like
// "a@evil.com@corp.com", "<a@corp.com>" or "a@corp.com, b@x" are refused.
func CleanEmail(s string) (string, bool) {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(s) > 254 {
		return "", false
	}
	if strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune("\"'<>(),;:[]\\", r)
	}) {
		return "", false
	}
	domain = strings.ToLower(domain)
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", false
	}
	return local + "@" + domain, true
}

// IdentityFor is the session identity of a federated login.
func IdentityFor(u *directory.User, c Claims) auth.Identity {
	return auth.Identity{
		UserID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName,
		Role: u.Role, Template: u.Template, Groups: u.Groups, Methods: []string{c.Method}, Provider: c.Provider, Subject: c.Subject,
		IdPSession: auth.IdPSessionKey(c.Provider, c.SessionID),
	}
}
