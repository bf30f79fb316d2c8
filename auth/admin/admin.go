// Package admin is every change an administrator makes to users and to the
// login policy, each validated and audited once: the CLI calls it today,
// the admin API will call the same operations tomorrow, so neither can
// forget a check, a revocation or an audit event the other makes.
//
// Operations take the Actor who asks (cli:root, an admin's username) and
// return typed errors a caller maps to its own medium: ErrNoUser (404),
// ErrExists (409), *InvalidError (400, listing each field's problem).
// Nothing here prints.
package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/password"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

var (
	// ErrNoUser means no user has the given username.
	ErrNoUser = errors.New("admin: no such user")
	// ErrExists means the username or email is taken.
	ErrExists = errors.New("admin: a user with that username or email already exists")
	// ErrNoPolicy means no login policy is stored yet (serve seeds it).
	ErrNoPolicy = errors.New("admin: no login policy stored yet")
	// ErrConflict means the document changed since the version edited.
	ErrConflict = errors.New("admin: edited an old version")
)

// InvalidError lists what is wrong with an operation's input, one problem
// per field, in a fixed order.
type InvalidError struct{ Problems []FieldProblem }

// FieldProblem is one field's problem; Field is the input's name
// ("username", "email", "cidrs[2]").
type FieldProblem struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(p.Field + ": " + p.Message)
	}
	return b.String()
}

func (e *InvalidError) add(field, format string, args ...any) {
	e.Problems = append(e.Problems, FieldProblem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (e *InvalidError) err() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Directory is what the operations need of the directory.
type Directory interface {
	directory.Users
	directory.Policies
	directory.Revocations
	directory.Documents
	directory.Groups
	directory.APIKeys
	directory.Devices
	RemoveTOTP(ctx context.Context, userID string) error
	TOTP(ctx context.Context, userID string) (directory.TOTPFactor, error)
	FactorCount(ctx context.Context, userID string) (int, error)
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	// The erasure and the retention job (directory.Audit).
	PseudonymizeAudit(ctx context.Context, userID, pseudonym string, names []string) (int64, error)
	DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error)
	// The webhook queue: its failed deliveries, the personal-data
	// export and the erasure (directory.Outbox).
	ListWebhooks(ctx context.Context, q directory.WebhookQuery) ([]directory.WebhookEvent, error)
	RequeueWebhook(ctx context.Context, id string, now time.Time) error
	PseudonymizeWebhooks(ctx context.Context, userID, pseudonym string, names []string) (int64, error)
}

// Auditor records the events.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// Service runs the operations. Safe for concurrent use.
type Service struct {
	dir       Directory
	audit     Auditor
	hasher    *password.Hasher
	providers []string // configured provider ids, for the policy's methods
	now       func() time.Time
	sessions  SessionLister   // nil: dry runs do not count sessions
	sources   *NetworkSources // nil: policy changes are not checked against the lists
}

// New returns a Service; providerIDs are the configured providers (a
// policy may name only these), now nil means time.Now.
func New(dir Directory, a Auditor, hasher *password.Hasher, providerIDs []string, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{dir: dir, audit: a, hasher: hasher, providers: providerIDs, now: now}
}

var (
	validUsername = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)
	validRole     = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	validGroup    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$`)
)

// NewUser is the input of AddUser. Password is optional: nil means no
// local password (a federated-only user); a given one, even empty, is
// checked against the password rules and hashed, so an empty line read
// for a password is refused rather than read as "none".
type NewUser struct {
	Username    string
	Email       string
	Role        string
	DisplayName string
	Groups      []string
	Password    *string
	// MustChange makes the password good for one login, which must
	// choose a new one (Enforce Password Reset); ignored without one.
	MustChange bool
}

// AddUser validates, creates and audits a user.
func (s *Service) AddUser(ctx context.Context, actor string, in NewUser) (*directory.User, error) {
	u := &directory.User{Username: strings.ToLower(strings.TrimSpace(in.Username)), Email: strings.TrimSpace(in.Email),
		Role: in.Role, DisplayName: strings.TrimSpace(in.DisplayName)}
	for _, g := range in.Groups {
		u.Groups = append(u.Groups, strings.TrimSpace(g))
	}
	known, err := s.knownRoles(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkUser(u, known); err != nil {
		return nil, err
	}
	if in.Password != nil {
		hash, err := s.hash(ctx, *in.Password)
		if err != nil {
			return nil, err
		}
		u.PasswordHash, u.MustChangePassword = hash, in.MustChange
	}
	if err := s.dir.CreateUser(ctx, u); err != nil {
		if errors.Is(err, directory.ErrConflict) {
			return nil, ErrExists
		}
		return nil, err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.UserCreated, Actor: actor, UserID: u.ID,
		Detail: map[string]string{"username": u.Username, "role": u.Role}})
	return u, nil
}

func checkUser(u *directory.User, known roleSet) error {
	var e InvalidError
	if !validUsername.MatchString(u.Username) {
		e.add("username", "1-64 characters: lower-case letters, digits, '.', '_', '@', '-'")
	}
	checkEmail(&e, u.Email)
	checkRole(&e, u.Role, known)
	checkGroups(&e, u.Groups)
	checkDisplayName(&e, u.DisplayName)
	return e.err()
}

// hash checks a new password against the rules and hashes it.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	if err := password.CheckNew(pw); err != nil {
		return "", &InvalidError{Problems: []FieldProblem{{Field: "password", Message: err.Error()}}}
	}
	return s.hasher.Hash(ctx, pw)
}

// User returns the user named username, or ErrNoUser.
func (s *Service) User(ctx context.Context, username string) (*directory.User, error) {
	u, err := s.dir.UserByUsername(ctx, username)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, ErrNoUser
	}
	return u, err
}

// Users lists every user, ordered by username.
func (s *Service) Users(ctx context.Context) ([]directory.User, error) { return s.dir.ListUsers(ctx) }

// update loads username, applies change, saves it, and returns the user.
func (s *Service) update(ctx context.Context, username string, change func(*directory.User) error) (*directory.User, error) {
	u, err := s.User(ctx, username)
	if err != nil {
		return nil, err
	}
	if err := change(u); err != nil {
		return nil, err
	}
	if err := s.dir.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// endSessions records that the user's current sessions must end; every
// running gateway applies it (a disabled user's sessions end through the
// disabled list as well). A failure is returned: an admin who believes a
// user was logged out when they were not is worse than an error.
func (s *Service) endSessions(ctx context.Context, actor string, u *directory.User, reason string) error {
	if _, err := s.dir.RevokeUserSessions(ctx, u.ID); err != nil {
		return fmt.Errorf("record the session revocation: %w", err)
	}
	s.audit.Record(ctx, audit.Event{Event: audit.SessionRevoked, Actor: actor, UserID: u.ID,
		Detail: map[string]string{"reason": reason}})
	return nil
}

// SetDisabled disables (ending every session) or enables a user.
func (s *Service) SetDisabled(ctx context.Context, actor, username string, disabled bool) (*directory.User, error) {
	if disabled {
		if err := s.keepAnAdminAfter(ctx, username, func(u *directory.User) { u.Disabled = true }); err != nil {
			return nil, err
		}
	}
	u, err := s.update(ctx, username, func(u *directory.User) error { u.Disabled = disabled; return nil })
	if err != nil {
		return nil, err
	}
	ev := audit.UserEnabled
	if disabled {
		ev = audit.UserDisabled
		if err := s.endSessions(ctx, actor, u, "user_disabled"); err != nil {
			return u, err
		}
	}
	s.audit.Record(ctx, audit.Event{Event: ev, Actor: actor, UserID: u.ID})
	return u, nil
}

// SetPassword sets a new password, clears any expiry, forgets the user's
// remembered devices and ends their sessions. mustChange is the product's
// "Enforce Password Reset": the password then works for one login, which
// must choose a new one before it reaches anything.
func (s *Service) SetPassword(ctx context.Context, actor, username, pw string, mustChange bool) (*directory.User, error) {
	hash, err := s.hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	u, err := s.update(ctx, username, func(u *directory.User) error {
		u.PasswordHash, u.PasswordExpires, u.MustChangePassword = hash, time.Time{}, mustChange
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, s.passwordChanged(ctx, actor, u, "password_set", audit.Event{Event: audit.PasswordSet, Actor: actor, UserID: u.ID,
		Detail: map[string]string{"must_change": strconv.FormatBool(mustChange)}})
}

// passwordChanged does what every password change does once the new
// hash is stored: ends the user's sessions on every replica (reason, for
// the audit log and the CRM's webhook), forgets remembered devices (the
// security stamp, which also kills reset links), and records e.
func (s *Service) passwordChanged(ctx context.Context, actor string, u *directory.User, reason string, e audit.Event) error {
	if err := s.endSessions(ctx, actor, u, reason); err != nil {
		return err
	}
	if _, err := s.dir.BumpSecurityStamp(ctx, u.ID); err != nil {
		return fmt.Errorf("forget remembered devices: %w", err)
	}
	s.audit.Record(ctx, e)
	return nil
}

// ErrStaleReset refuses a reset whose link was made under another
// security stamp (the password changed, or another link was used,
// meanwhile), or for a user disabled since.
var ErrStaleReset = errors.New("admin: the reset link no longer matches the account")

// ResetPassword is the end of a self-service reset (auth/reset): the
// user proved they read the account's email (and passed the second
// factor the policy demands), and sets pw as their own password, only
// while the account's stamp is still stamp. Like any credential change
// it ends every session and forgets remembered devices.
func (s *Service) ResetPassword(ctx context.Context, userID string, stamp int64, pw string) error {
	u, err := s.dir.UserByID(ctx, userID)
	if errors.Is(err, directory.ErrNotFound) {
		return ErrStaleReset
	}
	if err != nil {
		return err
	}
	// An early look saves the hash's cost on a dead link; the stored
	// password still depends only on the conditional write below.
	if u.Disabled || u.SecurityStamp != stamp {
		return ErrStaleReset
	}
	if err := s.storeOwnPassword(ctx, u, stamp, pw); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return ErrStaleReset
		}
		return err
	}
	return s.passwordChanged(ctx, u.Username, u, "password_reset", audit.Event{Event: audit.PasswordReset, Actor: u.Username, UserID: u.ID})
}

// storeOwnPassword hashes pw and stores it as u's own password (no
// expiry, no change owed) only while u is enabled and its security stamp
// is still stamp; directory.ErrNotFound when either moved meanwhile.
// The write also moves the stamp, so of two racing changes under one
// stamp only the first lands, and nothing else of the row is written
// back (a stale copy would undo an admin's disable or demotion).
func (s *Service) storeOwnPassword(ctx context.Context, u *directory.User, stamp int64, pw string) error {
	hash, err := s.hash(ctx, pw)
	if err != nil {
		return err
	}
	next, err := s.dir.SetOwnPassword(ctx, u.ID, stamp, hash)
	if err != nil {
		return err
	}
	u.PasswordHash, u.PasswordExpires, u.MustChangePassword, u.SecurityStamp = hash, time.Time{}, false, next
	return nil
}

// ErrNoChangeOwed refuses a must-change step for a user who no longer
// owes one (changed meanwhile, or disabled).
var ErrNoChangeOwed = errors.New("admin: no password change is owed")

// ErrSamePassword refuses a must-change step answered with the password
// the administrator set.
var ErrSamePassword = &InvalidError{Problems: []FieldProblem{{Field: "password", Message: "choose a password different from the one you were given"}}}

// ChangeOwnPassword is the must-change step of a login: the user (userID,
// already past every factor) replaces an administrator-set password with
// one of their own. It is refused unless the user still owes the change
// (a stale or forged step changes nothing), or when the new password is
// the one they were given; it ends the user's other sessions and forgets
// remembered devices, like any credential change.
func (s *Service) ChangeOwnPassword(ctx context.Context, userID, pw string) error {
	u, err := s.dir.UserByID(ctx, userID)
	if errors.Is(err, directory.ErrNotFound) {
		return ErrNoUser
	}
	if err != nil {
		return err
	}
	if !u.MustChangePassword || u.Disabled {
		return ErrNoChangeOwed
	}
	if err := password.CheckNew(pw); err != nil {
		return &InvalidError{Problems: []FieldProblem{{Field: "password", Message: err.Error()}}}
	}
	if same, err := s.hasher.Verify(ctx, u.PasswordHash, pw); err != nil && !errors.Is(err, password.ErrMalformedHash) {
		return err
	} else if same {
		return ErrSamePassword
	}
	if err := s.storeOwnPassword(ctx, u, u.SecurityStamp, pw); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return ErrNoChangeOwed
		}
		return err
	}
	return s.passwordChanged(ctx, u.Username, u, "password_changed", audit.Event{Event: audit.PasswordChanged, Actor: u.Username, UserID: u.ID,
		Detail: map[string]string{"step": "must_change"}})
}

// ErrChangedMeanwhile refuses a user's own password change that raced
// another change of the account (a reset, an admin's): nothing is set.
var ErrChangedMeanwhile = errors.New("admin: the account changed meanwhile; try again")

// ErrNoPassword refuses a password change for a user who has no local
// password (they sign in through an identity provider).
var ErrNoPassword = errors.New("admin: the user has no local password")

// ErrSameAsCurrent refuses a change to the password already in use.
var ErrSameAsCurrent = &InvalidError{Problems: []FieldProblem{{Field: "password", Message: "choose a password different from your current one"}}}

// ChangePassword is a user's own change from the account page, made
// after they proved the current password or a code there. It stores pw
// (no expiry, no change owed), which moves the security stamp (forgetting
// remembered devices and killing reset links), and records
// password_changed; ending the user's other sessions is the caller's,
// since it keeps the session that made the change.
func (s *Service) ChangePassword(ctx context.Context, userID, pw string) error {
	u, err := s.dir.UserByID(ctx, userID)
	if errors.Is(err, directory.ErrNotFound) {
		return ErrNoUser
	}
	if err != nil {
		return err
	}
	if u.Disabled {
		return ErrNoUser
	}
	if u.PasswordHash == "" {
		return ErrNoPassword
	}
	if err := password.CheckNew(pw); err != nil {
		return &InvalidError{Problems: []FieldProblem{{Field: "password", Message: err.Error()}}}
	}
	if same, err := s.hasher.Verify(ctx, u.PasswordHash, pw); err != nil && !errors.Is(err, password.ErrMalformedHash) {
		return err
	} else if same {
		return ErrSameAsCurrent
	}
	if err := s.storeOwnPassword(ctx, u, u.SecurityStamp, pw); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return ErrChangedMeanwhile
		}
		return err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.PasswordChanged, Actor: u.Username, UserID: u.ID,
		Detail: map[string]string{"step": "account"}})
	return nil
}

// Logout ends every session of the user on every replica (ASVS 7.4.5).
func (s *Service) Logout(ctx context.Context, actor, username string) (*directory.User, error) {
	u, err := s.User(ctx, username)
	if err != nil {
		return nil, err
	}
	return u, s.endSessions(ctx, actor, u, "admin_logout")
}

// Reset2FA removes the user's factor and recovery codes, forgets their
// remembered devices and ends their sessions: what an admin does when a
// phone is lost.
func (s *Service) Reset2FA(ctx context.Context, actor, username string) (*directory.User, error) {
	u, err := s.User(ctx, username)
	if err != nil {
		return nil, err
	}
	if err := s.dir.RemoveTOTP(ctx, u.ID); err != nil {
		return u, err
	}
	if _, err := s.dir.BumpSecurityStamp(ctx, u.ID); err != nil {
		return u, err
	}
	if err := s.endSessions(ctx, actor, u, "mfa_reset"); err != nil {
		return u, err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.MFAReset, Actor: actor, UserID: u.ID})
	return u, nil
}

// Require2FA sets the per-user 2FA mandate. Turning it on ends the user's
// sessions, so it applies at their next request rather than their next
// login (review finding F16): the next login asks for the factor.
func (s *Service) Require2FA(ctx context.Context, actor, username string, on bool) (*directory.User, error) {
	u, err := s.update(ctx, username, func(u *directory.User) error { u.Require2FA = on; return nil })
	if err != nil {
		return nil, err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.MFARequirement, Actor: actor, UserID: u.ID,
		Detail: map[string]string{"required": onOff(on)}})
	if on {
		return u, s.endSessions(ctx, actor, u, "mfa_required")
	}
	return u, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// SetAllowedIPs sets (or, with none, clears) the user's own network
// allowlist; running gateways apply it to existing sessions too. Each
// CIDR is stored canonical and each description trimmed; problems are
// named allowlist[i].cidr and allowlist[i].description.
func (s *Service) SetAllowedIPs(ctx context.Context, actor, username string, entries directory.AllowList) (*directory.User, directory.AllowList, error) {
	var e InvalidError
	var clean directory.AllowList
	for i, in := range entries {
		p, err := policy.ParsePrefix(strings.TrimSpace(in.CIDR))
		if err != nil {
			e.add(fmt.Sprintf("allowlist[%d].cidr", i), "%v", err)
			continue
		}
		desc := strings.TrimSpace(in.Description)
		if err := policy.CheckDescription(desc); err != nil {
			e.add(fmt.Sprintf("allowlist[%d].description", i), "the description of %s: %v", p, err)
			continue
		}
		clean = append(clean, directory.AllowEntry{CIDR: p.String(), Description: desc})
	}
	if err := e.err(); err != nil {
		return nil, nil, err
	}
	u, err := s.update(ctx, username, func(u *directory.User) error { u.AllowList = clean; return nil })
	if err != nil {
		return nil, nil, err
	}
	detail := map[string]string{"cidrs": fmt.Sprint(clean.CIDRs())}
	descs := make([]string, len(clean))
	for i, c := range clean {
		descs[i] = c.Description
	}
	if slices.ContainsFunc(descs, func(d string) bool { return d != "" }) {
		detail["descriptions"] = fmt.Sprintf("%q", descs)
	}
	s.audit.Record(ctx, audit.Event{Event: audit.UserAllowlist, Actor: actor, UserID: u.ID, Detail: detail})
	return u, clean, nil
}

// SetRole gives the user another role and ends their sessions: a session
// carries the role it was created with, so without that a demoted user
// would keep the old role's rights until the session ended.
func (s *Service) SetRole(ctx context.Context, actor, username, role string) (*directory.User, error) {
	known, err := s.knownRoles(ctx)
	if err != nil {
		return nil, err
	}
	var e InvalidError
	checkRole(&e, role, known)
	if err := e.err(); err != nil {
		return nil, err
	}
	if err := s.keepAnAdminAfter(ctx, username, func(u *directory.User) { u.Role = role }); err != nil {
		return nil, err
	}
	var old string
	u, err := s.update(ctx, username, func(u *directory.User) error { old, u.Role = u.Role, role; return nil })
	if err != nil {
		return nil, err
	}
	s.audit.Record(ctx, audit.Event{Event: audit.UserRoleChanged, Actor: actor, UserID: u.ID,
		Detail: map[string]string{"from": old, "to": role}})
	return u, s.endSessions(ctx, actor, u, "role_changed")
}

// PolicyChange is a stored policy version and the one it replaced (zero
// Version when there was none).
type PolicyChange struct {
	From, To directory.PolicyVersion
	// Warnings are what the new version does that is allowed but
	// probably unintended (a role mapped to a template that does not
	// exist grants nothing).
	Warnings []string
}

// SetPolicy validates a policy document (the config's policy: shape; a
// document naming only some sections is merged onto the version in force,
// see PlanPolicy), checks that the methods it names are configured, and
// stores it as the next version; running gateways apply it within a
// second.
func (s *Service) SetPolicy(ctx context.Context, actor string, doc []byte) (PolicyChange, error) {
	plan, err := s.CheckPolicy(ctx, doc)
	if err != nil {
		return PolicyChange{}, err
	}
	return s.ApplyPolicy(ctx, actor, plan, nil)
}

// checkPolicy validates a policy document as SetPolicy stores it: its
// own rules, the configured providers, and the templates in force.
func (s *Service) checkPolicy(ctx context.Context, doc []byte) (policy.Policy, []byte, []string, error) {
	p, err := policy.Parse(doc)
	if err != nil {
		return p, nil, nil, &InvalidError{Problems: []FieldProblem{{Field: "policy", Message: err.Error()}}}
	}
	if err := p.CheckMethods("policy", s.providers); err != nil {
		return p, nil, nil, &InvalidError{Problems: []FieldProblem{{Field: "policy", Message: err.Error()}}}
	}
	set, _, err := s.Templates(ctx)
	if err != nil {
		return p, nil, nil, err
	}
	var problems []FieldProblem
	for _, f := range removedFeatures(set, p.Access.Features) {
		problems = append(problems, FieldProblem{Field: "policy", Message: fmt.Sprintf(
			"policy.access.features: %s is granted by template %s; remove it from them first", f, orNone(set.Using(f)))})
	}
	if len(problems) > 0 {
		return p, nil, nil, &InvalidError{Problems: problems}
	}
	var warnings []string
	for _, role := range slices.Sorted(maps.Keys(p.Access.Roles)) {
		if t := p.Access.Roles[role]; !hasTemplate(set, t) {
			warnings = append(warnings, fmt.Sprintf("policy.access.roles.%s: template %q does not exist; the role grants no feature until it does", role, t))
		}
	}
	out, err := p.Marshal()
	if err != nil {
		return p, nil, nil, err
	}
	return p, out, warnings, nil
}

// Policy returns the policy version in force, or ErrNoPolicy.
func (s *Service) Policy(ctx context.Context) (directory.PolicyVersion, error) {
	pv, err := s.dir.CurrentPolicy(ctx)
	if errors.Is(err, directory.ErrNotFound) {
		return pv, ErrNoPolicy
	}
	return pv, err
}

// BootstrapUsername is the first admin's name.
const BootstrapUsername = "admin"

// BootstrapLifetime is how long the first admin's generated password
// works (ASVS 6.4.1: an initial secret is short-lived).
const BootstrapLifetime = time.Hour

// Bootstrap creates the first admin on an empty directory. The admin must
// enrol 2FA at first login. When the operator can be shown a password
// (terminal is true: the start is interactive), it gets a random one that
// expires after BootstrapLifetime, returned here to be shown once and
// never logged; otherwise it gets none, and the operator sets one with
// `gatehouse user set-password admin`. created is false when the
// directory already had users (or another replica created the admin).
func (s *Service) Bootstrap(ctx context.Context, terminal bool) (pw string, created bool, err error) {
	users, err := s.dir.ListUsers(ctx)
	if err != nil || len(users) > 0 {
		return "", false, err
	}
	u := &directory.User{Username: BootstrapUsername, DisplayName: "Administrator", Role: "admin", Require2FA: true}
	if terminal {
		pw = rand.Text()
		if u.PasswordHash, err = s.hasher.Hash(ctx, pw); err != nil {
			return "", false, err
		}
		u.PasswordExpires = s.now().Add(BootstrapLifetime)
	}
	if err := s.dir.CreateUser(ctx, u); err != nil {
		if errors.Is(err, directory.ErrConflict) {
			return "", false, nil // another replica got there first
		}
		return "", false, fmt.Errorf("create first admin: %w", err)
	}
	s.audit.Record(ctx, audit.Event{Event: audit.UserCreated, Actor: "bootstrap", UserID: u.ID,
		Detail: map[string]string{"username": u.Username, "role": u.Role, "password": map[bool]string{true: "expires_1h", false: "none"}[terminal]}})
	return pw, true, nil
}

// removedFeatures lists the features templates grant that the catalogue
// no longer has.
func removedFeatures(set access.TemplateSet, catalogue []string) []string {
	var out []string
	for _, t := range set.Templates {
		for _, f := range t.Features {
			if !slices.Contains(catalogue, f) && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

func hasTemplate(set access.TemplateSet, name string) bool {
	_, ok := set.Templates[name]
	return ok
}
