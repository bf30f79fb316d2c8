package admin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/lockout"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// Event names of the operations in this file, in the same stable
// snake_case vocabulary as auth/audit's (log alerts match on them).
const (
	EventUserChanged  = audit.UserChanged
	EventUserDeleted  = audit.UserDeleted
	EventUserUnlocked = audit.UserUnlocked
)

// AdminFeature is the feature that makes a user an administrator of the
// gateway (the admin template grants it). DeleteUser keeps at least one
// enabled user who holds it.
const AdminFeature = "admin"

// ErrLastAdmin means the operation would leave no enabled user holding
// the admin feature, and nobody to administer the gateway but whoever
// can reach the CLI.
var ErrLastAdmin = errors.New("admin: no other enabled user has the admin feature; give someone else an admin role first")

// roleSet is what a user's role may be set to: the roles the login
// policy in force maps to a template (access.roles, the policy's
// defaults before any is stored), and roles some user already holds.
// A role outside the policy grants no template, so a typo (admn) is a
// user who silently gets nothing; the held roles are accepted too
// because a directory from before this check may have users whose role
// only the upstream application understands, and giving a colleague the
// same role must keep working.
type roleSet struct {
	policy []string // sorted
	held   []string // held by users but not in the policy; sorted
}

func (r roleSet) has(role string) bool {
	_, inPolicy := slices.BinarySearch(r.policy, role)
	_, isHeld := slices.BinarySearch(r.held, role)
	return inPolicy || isHeld
}

func (r roleSet) String() string {
	s := strings.Join(r.policy, ", ")
	if len(r.policy) == 0 {
		s = "none in the policy (its access.roles is empty)"
	}
	if len(r.held) > 0 {
		s += " (the policy's); " + strings.Join(r.held, ", ") + " (held by users, not in the policy)"
	}
	return s
}

// closest returns the known role nearest to role when it is one or two
// edits away (a typo), else "".
func (r roleSet) closest(role string) string {
	best, bestD := "", 3
	for _, k := range slices.Concat(r.policy, r.held) {
		if d := editDistance(role, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// KnownRoles lists the roles a user may be given (see roleSet), the
// policy's first: what a form offers.
func (s *Service) KnownRoles(ctx context.Context) ([]string, error) {
	r, err := s.knownRoles(ctx)
	if err != nil {
		return nil, err
	}
	return append(slices.Clone(r.policy), r.held...), nil
}

// knownRoles reads the roles a user may be given now.
func (s *Service) knownRoles(ctx context.Context) (roleSet, error) {
	p, err := s.currentPolicy(ctx)
	if err != nil {
		return roleSet{}, err
	}
	users, err := s.dir.ListUsers(ctx)
	if err != nil {
		return roleSet{}, err
	}
	r := roleSet{policy: slices.Sorted(maps.Keys(p.Access.Roles))}
	for _, u := range users {
		if u.Role != "" && !r.has(u.Role) {
			r.held = append(r.held, u.Role)
			slices.Sort(r.held)
		}
	}
	return r, nil
}

func checkRole(e *InvalidError, role string, known roleSet) {
	switch {
	case !validRole.MatchString(role):
		e.add("role", "required; lower-case letters, digits, '_', '-' (e.g. sales, admin)")
	case !known.has(role):
		hint := ""
		if c := known.closest(role); c != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", c)
		}
		e.add("role", "unknown role %q%s; known roles: %s. A new role needs an entry in the login policy's access.roles first (gatehouse policy show, then policy set)",
			role, hint, known)
	}
}

func checkEmail(e *InvalidError, email string) {
	if email != "" && (strings.Count(email, "@") != 1 || strings.ContainsAny(email, " \t\r\n<>,;\"") ||
		strings.HasPrefix(email, "@") || strings.HasSuffix(email, "@")) {
		e.add("email", "not a plain address like name@example.com")
	}
}

func checkGroups(e *InvalidError, groups []string) {
	for _, g := range groups {
		if !validGroup.MatchString(g) {
			e.add("groups", "%q is not a valid group name", g)
		}
	}
}

func checkDisplayName(e *InvalidError, name string) {
	if strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		e.add("display-name", "control characters are not allowed")
	}
}

// TwoFactorState is a user's second factor as an admin needs to see it.
type TwoFactorState struct {
	Enrolled bool
	// Required: the policy (mfa.mode, mfa.required_roles) or the user's
	// own mandate asks for a second factor; with Enrolled false the user
	// must enrol at their next login.
	Required          bool
	RecoveryCodesLeft int
}

// UserDetails is one user as `gatehouse user show` (and later the admin
// API's user page) presents them.
type UserDetails struct {
	User directory.User
	// Template is the permission template in force for the user ("" for
	// none) and TemplateSource where it comes from: "user", "role", "none".
	Template, TemplateSource string
	Admin                    bool // the template grants AdminFeature
	TwoFactor                TwoFactorState
	APIKeys                  int // live keys: neither revoked nor expired
	Devices                  int // live mobile device logins
	// LastLogin is the newest login the audit log records (browser, API
	// login or mobile device); zero when it records none or the directory
	// cannot query it by user.
	LastLogin time.Time
}

// ShowUser gathers what an admin looks at before changing a user.
func (s *Service) ShowUser(ctx context.Context, username string) (UserDetails, error) {
	u, err := s.User(ctx, username)
	if err != nil {
		return UserDetails{}, err
	}
	p, err := s.currentPolicy(ctx)
	if err != nil {
		return UserDetails{}, err
	}
	d := UserDetails{User: *u}
	if d.TwoFactor, err = s.twoFactor(ctx, &p, u); err != nil {
		return d, err
	}
	tbl, err := s.accessTable(ctx, p)
	if err != nil {
		return d, err
	}
	d.Template, d.Admin = tbl.TemplateFor(u.Role, u.Template), isAdmin(tbl, u)
	switch {
	case u.Template != "":
		d.TemplateSource = "user"
	case d.Template != "":
		d.TemplateSource = "role"
	default:
		d.TemplateSource = "none"
	}
	keys, err := s.dir.ListAPIKeys(ctx, u.ID)
	if err != nil {
		return d, err
	}
	now := s.now()
	for _, k := range keys {
		if k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)) {
			d.APIKeys++
		}
	}
	devs, err := s.dir.UserDevices(ctx, u.ID)
	if err != nil {
		return d, err
	}
	for _, dv := range devs {
		if dv.RevokedAt.IsZero() {
			d.Devices++
		}
	}
	d.LastLogin, err = s.lastLogin(ctx, u.ID)
	return d, err
}

// auditQuerier is the directory's indexed audit query (sqldir has one):
// the newest login of one user is then one index lookup, where reading
// the log from the newest event would be a scan of everyone's.
type auditQuerier interface {
	QueryAudit(ctx context.Context, q directory.AuditQuery) ([]audit.Event, error)
}

func (s *Service) lastLogin(ctx context.Context, userID string) (time.Time, error) {
	q, ok := s.dir.(auditQuerier)
	if !ok {
		return time.Time{}, nil
	}
	var last time.Time
	for _, ev := range []string{audit.LoginSuccess, audit.DeviceLogin} {
		evs, err := q.QueryAudit(ctx, directory.AuditQuery{UserID: userID, Event: ev, Limit: 1})
		if err != nil {
			return time.Time{}, err
		}
		if len(evs) > 0 && evs[0].Time.After(last) {
			last = evs[0].Time
		}
	}
	return last, nil
}

func (s *Service) twoFactor(ctx context.Context, p *policy.Policy, u *directory.User) (TwoFactorState, error) {
	st := TwoFactorState{Required: p.MFARequired(policy.MFAInput{Role: u.Role, UserRequires: u.Require2FA})}
	enrolled, err := s.hasFactor(ctx, u.ID)
	if err != nil || !enrolled {
		return st, err
	}
	st.Enrolled = true
	st.RecoveryCodesLeft, err = s.dir.RecoveryCodesLeft(ctx, u.ID)
	return st, err
}

// hasFactor reports whether the user has any second factor: an app,
// codes by email or SMS, or a passkey.
func (s *Service) hasFactor(ctx context.Context, userID string) (bool, error) {
	n, err := s.dir.FactorCount(ctx, userID)
	return n > 0, err
}

// UserSummary is one row of the user list.
type UserSummary struct {
	directory.User
	TwoFactor TwoFactorState
}

// UserList lists every user with their 2FA state, ordered by username.
// It costs a factor lookup per user (two for an enrolled one): fine for
// an admin's list, not for a request path.
func (s *Service) UserList(ctx context.Context) ([]UserSummary, error) {
	users, err := s.dir.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.currentPolicy(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]UserSummary, len(users))
	for i := range users {
		out[i].User = users[i]
		if out[i].TwoFactor, err = s.twoFactor(ctx, &p, &users[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UserEdit is the input of EditUser: a nil field is left as it is, so
// one edit changes exactly what the admin named. An empty Email clears
// the address; an empty Groups (not nil) takes the user out of every
// group.
type UserEdit struct {
	Email       *string
	DisplayName *string
	Role        *string
	Groups      *[]string
}

// errNoChange stops update before it writes a user whose edit changes
// nothing.
var errNoChange = errors.New("no change")

// EditUser changes the fields in is set, validated together (every
// problem at once, nothing stored unless all are valid), and returns the
// user and the names of the fields that changed ("email",
// "display-name", "role", "groups"; none when every set field already
// held its value, and then nothing is written or audited). A session
// carries the email, display name, role and groups it began with, so
// any change ends the user's sessions, as SetRole does; a role must be
// known (see roleSet); ErrExists when the email belongs to another user.
func (s *Service) EditUser(ctx context.Context, actor, username string, in UserEdit) (*directory.User, []string, error) {
	var e InvalidError
	var email, display, role string
	var groups []string
	if in.Email != nil {
		email = strings.TrimSpace(*in.Email)
		checkEmail(&e, email)
	}
	if in.DisplayName != nil {
		display = strings.TrimSpace(*in.DisplayName)
		checkDisplayName(&e, display)
	}
	if in.Role != nil {
		known, err := s.knownRoles(ctx)
		if err != nil {
			return nil, nil, err
		}
		role = *in.Role
		checkRole(&e, role, known)
	}
	if in.Groups != nil {
		for _, g := range *in.Groups {
			if g = strings.TrimSpace(g); !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
		checkGroups(&e, groups)
	}
	if err := e.err(); err != nil {
		return nil, nil, err
	}
	if in.Role != nil {
		if err := s.keepAnAdminAfter(ctx, username, func(u *directory.User) { u.Role = role }); err != nil {
			return nil, nil, err
		}
	}
	var old directory.User
	var changed []string
	u, err := s.update(ctx, username, func(u *directory.User) error {
		old = *u
		if in.Email != nil && email != u.Email {
			u.Email, changed = email, append(changed, "email")
		}
		if in.DisplayName != nil && display != u.DisplayName {
			u.DisplayName, changed = display, append(changed, "display-name")
		}
		if in.Role != nil && role != u.Role {
			u.Role, changed = role, append(changed, "role")
		}
		if in.Groups != nil && !sameSet(groups, u.Groups) {
			u.Groups, changed = groups, append(changed, "groups")
		}
		if len(changed) == 0 {
			return errNoChange
		}
		return nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return &old, nil, nil
	case errors.Is(err, directory.ErrConflict):
		return nil, nil, ErrExists
	case err != nil:
		return nil, nil, err
	}
	var profile []string
	for _, f := range changed {
		switch f {
		case "email", "display-name":
			profile = append(profile, f)
		case "role":
			s.audit.Record(ctx, audit.Event{Event: audit.UserRoleChanged, Actor: actor, UserID: u.ID,
				Detail: map[string]string{"from": old.Role, "to": u.Role}})
		case "groups":
			s.recordMemberships(ctx, actor, u.ID, old.Groups, u.Groups)
		}
	}
	if len(profile) > 0 {
		// The fields, not the values: an address is personal data the
		// audit log need not hold twice.
		s.audit.Record(ctx, audit.Event{Event: EventUserChanged, Actor: actor, UserID: u.ID,
			Detail: map[string]string{"fields": strings.Join(profile, ",")}})
	}
	reason := "user_changed"
	switch {
	case slices.Contains(changed, "role"):
		reason = "role_changed"
	case slices.Contains(changed, "groups"):
		reason = "groups_changed"
	}
	return u, changed, s.endSessions(ctx, actor, u, reason)
}

// recordMemberships audits a change of the user's groups as the group
// commands do: one event per group joined or left.
func (s *Service) recordMemberships(ctx context.Context, actor, userID string, before, after []string) {
	for _, g := range after {
		if !slices.Contains(before, g) {
			s.audit.Record(ctx, audit.Event{Event: audit.GroupMemberAdded, Actor: actor, UserID: userID, Detail: map[string]string{"group": g}})
		}
	}
	for _, g := range before {
		if !slices.Contains(after, g) {
			s.audit.Record(ctx, audit.Event{Event: audit.GroupMemberRemoved, Actor: actor, UserID: userID, Detail: map[string]string{"group": g}})
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// DeleteUser removes a user and everything that is theirs: second
// factor, recovery codes, API keys, device logins, group memberships,
// federated links. It refuses (ErrLastAdmin) to delete the last enabled
// user holding the admin feature; that is checked, not locked, so two
// admins deleting the last two at the same instant could both pass.
//
// The user's sessions end on every gateway through a revocation recorded
// before the delete, so a delete that fails half-way has still logged
// them out, and through a second one after it: a login that completed
// between the first revocation and the delete would otherwise outlive
// the user (no login can complete after the delete).
func (s *Service) DeleteUser(ctx context.Context, actor, username string) (*directory.User, error) {
	u, err := s.User(ctx, username)
	if err != nil {
		return nil, err
	}
	if err := s.keepAnAdmin(ctx, u); err != nil {
		return u, err
	}
	if err := s.endSessions(ctx, actor, u, "user_deleted"); err != nil {
		return u, err
	}
	if err := s.dir.DeleteUser(ctx, u.ID); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return nil, ErrNoUser // deleted meanwhile by someone else
		}
		return u, err
	}
	s.audit.Record(ctx, audit.Event{Event: EventUserDeleted, Actor: actor, UserID: u.ID,
		Detail: map[string]string{"username": u.Username, "role": u.Role}})
	if _, err := s.dir.RevokeUserSessions(ctx, u.ID); err != nil {
		return u, fmt.Errorf("user deleted, but a session that began during the delete may last until it times out: record the session revocation: %w", err)
	}
	return u, nil
}

// keepAnAdminAfter refuses a change (applied to a copy of the user) that
// would take the admin feature, or the ability to log in, from the last
// enabled admin: administration would then be CLI-only.
func (s *Service) keepAnAdminAfter(ctx context.Context, username string, change func(*directory.User)) error {
	u, err := s.User(ctx, username)
	if err != nil {
		return err
	}
	after := *u
	change(&after)
	tbl, err := s.tableInForce(ctx)
	if err != nil {
		return err
	}
	if u.Disabled || !after.Disabled && isAdmin(tbl, &after) {
		return nil
	}
	return s.keepAnAdmin(ctx, u)
}

// tableInForce is the access table of the policy in force.
func (s *Service) tableInForce(ctx context.Context) (*access.Table, error) {
	p, err := s.currentPolicy(ctx)
	if err != nil {
		return nil, err
	}
	return s.accessTable(ctx, p)
}

// keepAnAdmin refuses when u holds the admin feature and no other
// enabled user does. Disabled admins do not count: they cannot log in.
func (s *Service) keepAnAdmin(ctx context.Context, u *directory.User) error {
	tbl, err := s.tableInForce(ctx)
	if err != nil {
		return err
	}
	if !isAdmin(tbl, u) {
		return nil
	}
	users, err := s.dir.ListUsers(ctx)
	if err != nil {
		return err
	}
	for i := range users {
		if o := &users[i]; o.ID != u.ID && !o.Disabled && isAdmin(tbl, o) {
			return nil
		}
	}
	return ErrLastAdmin
}

// accessTable compiles the policy's access section over the templates in
// force; before any template set is stored, over the defaults serve
// seeds at its first start, which is what the gateway will enforce.
func (s *Service) accessTable(ctx context.Context, p policy.Policy) (*access.Table, error) {
	set, version, err := s.Templates(ctx)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		set = access.DefaultTemplates()
	}
	return access.Compile(p.Access, set)
}

func isAdmin(tbl *access.Table, u *directory.User) bool {
	return slices.Contains(tbl.GrantsFor(u.Role, u.Template).Features, AdminFeature)
}

// Counters resets failed-attempt counters: the shared session store
// (session.Counter, lockout.Store) is one.
type Counters interface {
	Reset(ctx context.Context, key string) error
}

// Unlock clears the user's failed-login budget (the account's password
// attempts and their second-factor codes) in c, which must be the store
// the gateways count in, so the right password works again before the
// lockout window ends. The budgets of client addresses stay: one is
// shared by everyone behind the address, and clearing it would hand a
// guesser there a fresh budget against every account.
func (s *Service) Unlock(ctx context.Context, actor, username string, c Counters) (*directory.User, error) {
	u, err := s.User(ctx, username)
	if err != nil {
		return nil, err
	}
	// The limits do not matter here: only the key names are used.
	for _, k := range []lockout.Key{lockout.Account(u.Username, 1), lockout.SecondFactor(u.ID, 1)} {
		if err := c.Reset(ctx, k.Name); err != nil {
			return u, fmt.Errorf("reset the failed-login counters: %w", err)
		}
	}
	s.audit.Record(ctx, audit.Event{Event: EventUserUnlocked, Actor: actor, UserID: u.ID})
	return u, nil
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
