// Package directory is the durable side of Gatehouse: users, login policy
// versions, signing keys and the audit log. This package defines the data
// and the small interfaces consumers depend on; the SQL backend (SQLite and
// PostgreSQL) lives in directory/sqldir and is checked by the conformance
// suite in directory/directorytest.
package directory

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
)

var (
	// ErrNotFound means no row matched.
	ErrNotFound = errors.New("directory: not found")
	// ErrConflict means a unique key (username, email, key id) is taken.
	ErrConflict = errors.New("directory: already exists")
	// ErrUnavailable wraps a database outage; callers fail closed.
	ErrUnavailable = errors.New("directory: unavailable")
)

// User is one account. Federated identities, TOTP secrets, API keys and
// devices hang off the user id in their own tables (added by later
// migrations) rather than widening this struct.
type User struct {
	ID           string // random, stable; never reused
	Username     string // unique, case-insensitive (stored lower-case)
	Email        string // unique when non-empty, stored as given; compared case-insensitively
	DisplayName  string
	PasswordHash string // PHC-formatted argon2id; empty means no local password
	Role         string
	// Template is the user's own permission template; "" means the
	// role's default (auth/access).
	Template   string
	Groups     []string
	Disabled   bool
	Require2FA bool // per-user 2FA mandate
	// AllowList is the user's own network allowlist; empty: no
	// restriction of their own.
	AllowList AllowList
	// SecurityStamp is bumped by callers whenever a credential changes
	// (password set, 2FA reset or removed). Remember-device tokens embed
	// it, so every one issued before the change stops working.
	SecurityStamp int64
	// PasswordExpires is when the password stops working (the first
	// admin's generated one); zero means never. Setting a password
	// clears it.
	PasswordExpires time.Time
	// MustChangePassword makes the next password login owe a new password
	// of the user's own choosing before it reaches anything (an
	// administrator set this one: the product's "Enforce Password
	// Reset"). Setting a password yourself clears it.
	MustChangePassword bool
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// AllowEntry is one entry of a user's network allowlist: a CIDR (or a
// single address) and, for the admins, what it is ("Bangalore office").
type AllowEntry struct {
	CIDR        string
	Description string
}

// AllowList is a user's network allowlist.
type AllowList []AllowEntry

// CIDRs lists the entries' CIDRs, in order; nil for an empty list.
func (l AllowList) CIDRs() []string {
	if len(l) == 0 {
		return nil
	}
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = e.CIDR
	}
	return out
}

// Users is the user store.
type Users interface {
	// CreateUser sets ID, CreatedAt, UpdatedAt and lower-cases Username
	// in u; ErrConflict when the username or a non-empty email is taken.
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser overwrites every field of the user u.ID except CreatedAt
	// and SecurityStamp, which it reads back into u, and sets UpdatedAt;
	// ErrNotFound, ErrConflict.
	UpdateUser(ctx context.Context, u *User) error
	// BumpSecurityStamp increments the user's stamp atomically and returns
	// the new value; ErrNotFound. UpdateUser never writes the stamp (it
	// reads it back), so a stale copy cannot undo a bump.
	BumpSecurityStamp(ctx context.Context, id string) (int64, error)
	// SetOwnPassword is a user's own password change in one conditional
	// statement: while user id is enabled and its stamp is still stamp,
	// it stores hash with no expiry and no change owed, bumps the stamp
	// and returns the new value; otherwise it changes nothing and
	// returns ErrNotFound. Reading, checking and writing back a whole
	// row instead would let a reset that raced an admin's disable or
	// demotion write the old row back, and two links of one stamp
	// both succeed.
	SetOwnPassword(ctx context.Context, id string, stamp int64, hash string) (int64, error)
	// DeleteUser removes the user and everything that is theirs (second
	// factor, recovery codes, API keys, devices, group memberships,
	// federated identity links) in one transaction, and moves the
	// generations replicas watch (groups; api_keys when a key went) so
	// they drop what they cached; ErrNotFound. Session revocations and
	// audit events naming the user stay: ending the user's sessions is
	// the caller's (auth/admin records a revocation first).
	DeleteUser(ctx context.Context, id string) error
	UserByID(ctx context.Context, id string) (*User, error)
	UserByUsername(ctx context.Context, username string) (*User, error) // case-insensitive
	UserByEmail(ctx context.Context, email string) (*User, error)       // case-insensitive; "" matches nobody
	ListUsers(ctx context.Context) ([]User, error)                      // ordered by username
	// DisabledUserIDs lists every disabled user's id. Gateways poll it so
	// that disabling a user through any replica or the CLI ends that user's
	// sessions everywhere at their next request.
	DisabledUserIDs(ctx context.Context) ([]string, error)
	// UserAllowlists returns the CIDRs of the AllowList of every user who
	// has one, by user id; polled like DisabledUserIDs.
	UserAllowlists(ctx context.Context) (map[string][]string, error)
}

// PolicyVersion is one stored login policy document. Versions only grow;
// the highest is in force.
type PolicyVersion struct {
	Version   int64
	Document  []byte // YAML, as validated by auth/policy
	Actor     string // who set it ("seed", "cli:root", an admin's username)
	CreatedAt time.Time
}

// Policies stores login policy versions.
type Policies interface {
	// CurrentPolicy returns the highest version, or ErrNotFound when none
	// was ever stored.
	CurrentPolicy(ctx context.Context) (PolicyVersion, error)
	// PutPolicy stores doc as the next version and returns it. When
	// ifNone is true it stores only if no version exists yet (seeding by
	// several replicas at once), returning ErrConflict otherwise.
	PutPolicy(ctx context.Context, doc []byte, actor string, ifNone bool) (PolicyVersion, error)
	// PutPolicyAfter stores doc as the next version only when the highest
	// stored version is still after (optimistic concurrency: an admin
	// saves the version they edited); ErrConflict otherwise.
	PutPolicyAfter(ctx context.Context, doc []byte, actor string, after int64) (PolicyVersion, error)
	// PolicyAt returns one stored version, or ErrNotFound.
	PolicyAt(ctx context.Context, version int64) (PolicyVersion, error)
	// PolicyHistory returns stored versions newest first, at most limit.
	PolicyHistory(ctx context.Context, limit int) ([]PolicyVersion, error)
}

// Document is one stored version of a versioned document other than the
// login policy: the permission templates (DocTemplates), later the access
// policy set.
type Document struct {
	Kind      string
	Version   int64
	Body      []byte // YAML or text, as validated by its owner
	Actor     string
	CreatedAt time.Time
}

// Document kinds.
const (
	DocTemplates = "templates"
	// DocAccessPolicies is the Cedar policy set of record access
	// decisions (auth/records).
	DocAccessPolicies = "access_policies"
)

// Documents stores versioned documents. Versions only grow; the highest
// is in force.
type Documents interface {
	// CurrentDocument returns the highest version of kind, or ErrNotFound.
	CurrentDocument(ctx context.Context, kind string) (Document, error)
	// PutDocument stores body as the next version of kind only when the
	// version in force is after (0: none yet), so two admins editing the
	// same version cannot silently undo each other: the later gets
	// ErrConflict and edits again.
	PutDocument(ctx context.Context, kind string, body []byte, actor string, after int64) (Document, error)
	// DocumentHistory returns up to limit versions of kind, newest first.
	DocumentHistory(ctx context.Context, kind string, limit int) ([]Document, error)
}

// Sales group access modes: which records a group's managers reach, and
// whether owning an account reaches the leads under it (the seeds' "Access
// to Leads" note).
const (
	ModeLeadBased    = "lead_based"
	ModeAccountBased = "account_based"
)

// Manager permissions a group member may hold over the records of the
// group's other members. The account ones only mean something in an
// account-based group.
const (
	PermViewAllLeads      = "view_all_leads"
	PermModifyAllLeads    = "modify_all_leads"
	PermViewAllAccounts   = "view_all_accounts"
	PermModifyAllAccounts = "modify_all_accounts"
)

// GroupPerms lists the manager permissions in their canonical order.
var GroupPerms = []string{PermViewAllLeads, PermModifyAllLeads, PermViewAllAccounts, PermModifyAllAccounts}

// Group is a sales group.
type Group struct {
	Name        string
	Mode        string // ModeLeadBased or ModeAccountBased
	Description string
	Members     []GroupMember // ordered by username
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// GroupMember is one member of a group and the manager permissions they
// hold in it (none for an ordinary member).
type GroupMember struct {
	UserID   string
	Username string
	Perms    []string // in GroupPerms order
}

// Groups stores sales groups. Membership is also visible as User.Groups
// (the names, kept in the same transactions), which is what identity
// headers carry; setting User.Groups through CreateUser or UpdateUser
// adds and removes memberships (creating a missing group lead-based and
// keeping the permissions of memberships that stay).
type Groups interface {
	// CreateGroup stores g (not its members) and sets its times;
	// ErrConflict when the name is taken.
	CreateGroup(ctx context.Context, g *Group) error
	// UpdateGroup sets the mode and description; ErrNotFound.
	UpdateGroup(ctx context.Context, name, mode, description string) error
	// DeleteGroup removes the group and its memberships; ErrNotFound.
	DeleteGroup(ctx context.Context, name string) error
	// Group returns one group with its members; ErrNotFound.
	Group(ctx context.Context, name string) (*Group, error)
	// ListGroups returns every group with its members, by name.
	ListGroups(ctx context.Context) ([]Group, error)
	// SetMember adds the user to the group or, when a member already,
	// replaces their permissions; ErrNotFound for an unknown group or user.
	SetMember(ctx context.Context, group, userID string, perms []string) error
	// RemoveMember ends a membership; ErrNotFound when there is none.
	RemoveMember(ctx context.Context, group, userID string) error
	// GroupsGeneration is a number that changes whenever a group, a
	// membership or a user does, so a replica's copy of the groups is
	// re-read only when it moved.
	GroupsGeneration(ctx context.Context) (int64, error)
}

// APIKey is a program's credential. The secret itself is never stored:
// Hash is a keyed MAC of it made by the caller (auth/apikey).
type APIKey struct {
	ID           string // public key id, unique
	UserID       string // the owner; the key acts as this user, never more
	Name         string
	Hash         []byte
	Scopes       []string // features the key may use; empty: all of the owner's
	AllowedCIDRs []string // the key's own network allowlist; empty: none
	CreatedAt    time.Time
	ExpiresAt    time.Time // zero: never
	RevokedAt    time.Time // zero: live
	LastUsedAt   time.Time
	LastUsedIP   string
}

// APIKeys stores API keys.
type APIKeys interface {
	// CreateAPIKey stores k (CreatedAt zero means now); ErrConflict on a
	// duplicate id, ErrNotFound for an unknown user.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKey returns one key, revoked or not; ErrNotFound.
	APIKey(ctx context.Context, id string) (*APIKey, error)
	// ListAPIKeys returns the user's keys ("" for every user's), newest
	// first, revoked ones included.
	ListAPIKeys(ctx context.Context, userID string) ([]APIKey, error)
	// RevokeAPIKey marks the key revoked at now; revoking a revoked key
	// keeps the first time. ErrNotFound.
	RevokeAPIKey(ctx context.Context, id string, now time.Time) error
	// TouchAPIKey records a use (callers write at most once a minute per
	// key); a missing key is not an error.
	TouchAPIKey(ctx context.Context, id string, at time.Time, ip string) error
	// APIKeysGeneration changes whenever a key is revoked, so replicas
	// drop cached keys at once.
	APIKeysGeneration(ctx context.Context) (int64, error)
}

// Device is one device login of the mobile app: the record of a device
// session that outlives it, so a user can see where they are signed in
// and end one login (or all) from the CLI or the gateway, and so every
// replica learns of the end through the directory whatever the session
// store. ID is the device session's id (32 lowercase hex characters);
// it is not a secret and may be logged.
type Device struct {
	ID        string // the device session's id; unique, public, log-safe
	UserID    string
	ClientID  string // the OAuth client the app signed in with
	UserAgent string // as the app sent it at the first login
	// FirstSeen is the login; LastSeen and LastIP the latest use recorded
	// by TouchDevice (callers write them at most once a minute or so).
	FirstSeen time.Time
	LastSeen  time.Time
	LastIP    string
	RevokedAt time.Time // zero while live
	// RevokeReason says why the login ended, for the device list and the
	// audit log: "revoked" (an admin or the CLI), "another_device",
	// "refresh_reuse" (a refresh token was replayed), "user".
	RevokeReason string
}

// Devices stores device logins. Revocation goes through the directory,
// not straight to the session store, because the CLI only reaches the
// directory and every replica must learn of it: RevokeDevices moves a
// generation that replicas poll (and that PostgreSQL notifies), and they
// read RevokedDevicesSince to find the sessions to delete.
type Devices interface {
	// AddDevice stores d, live: its RevokedAt and RevokeReason are
	// ignored (revoking goes through RevokeDevices, which tells the
	// replicas). A zero FirstSeen means now, a zero LastSeen FirstSeen.
	// ErrConflict when the id exists, ErrNotFound for an unknown user.
	AddDevice(ctx context.Context, d Device) error
	// Device returns one device, live or revoked; ErrNotFound.
	Device(ctx context.Context, id string) (*Device, error)
	// UserDevices returns the user's devices, live and revoked, newest
	// FirstSeen first.
	UserDevices(ctx context.Context, userID string) ([]Device, error)
	// TouchDevice records a use (LastSeen, LastIP), revoked or not; a
	// touch older than the one stored is ignored, so replicas writing out
	// of order cannot move LastSeen back. ErrNotFound when absent.
	TouchDevice(ctx context.Context, id string, at time.Time, ip string) error
	// RevokeDevices marks the user's live devices among ids (nil: all of
	// them; empty but not nil: none) revoked at at (zero: now) with
	// reason, moves the devices generation in the same transaction when
	// it revoked any, and returns the ids it revoked now, sorted. Ids
	// already revoked, unknown or another user's are skipped, never an
	// error, so two concurrent revocations report each device once
	// between them.
	RevokeDevices(ctx context.Context, userID string, ids []string, at time.Time, reason string) ([]string, error)
	// RevokedDevicesSince lists devices revoked at or after since, oldest
	// (by RevokedAt) first.
	RevokedDevicesSince(ctx context.Context, since time.Time) ([]Device, error)
	// DevicesGeneration changes whenever a device is revoked, so replicas
	// read RevokedDevicesSince only then.
	DevicesGeneration(ctx context.Context) (int64, error)
}

// Audit page sizes. A query returns at most one page, so no request can
// make a replica read the whole log into memory; a longer export pages
// with AuditQuery.Before.
const (
	AuditPageDefault = 100  // a query that names no limit
	AuditPageMax     = 1000 // the largest page, whatever the query asks
)

// AuditQuery selects audit events. Every filter is optional (its zero
// value selects everything) and they are ANDed.
type AuditQuery struct {
	UserID string    // events concerning this user
	Event  string    // events with this name
	Since  time.Time // at or after, inclusive
	Until  time.Time // before, exclusive, so [Since, Until) ranges tile
	// Before is the paging cursor: the ID of the last event of the
	// previous page, 0 for none. Only events that come after it in the
	// order are returned (an older Time, or the same Time and a smaller
	// ID), not merely smaller IDs: replicas stamp Time with their own
	// clocks, so a smaller ID can hold a later Time, and an ID cursor
	// would then repeat and skip events. When no event has that ID,
	// events with a smaller ID.
	Before int64
	// Limit is the page size: <= 0 means AuditPageDefault, more than
	// AuditPageMax means AuditPageMax.
	Limit int
}

// Audit is the append-only audit log.
type Audit interface {
	// AppendAudit stores e; a zero Time means now, and ID is assigned.
	AppendAudit(ctx context.Context, e audit.Event) error
	// ListAudit returns the newest events first (by Time, then the later
	// appended), at most limit; none when limit <= 0.
	ListAudit(ctx context.Context, limit int) ([]audit.Event, error)
	// QueryAudit returns one page of the events q selects, in ListAudit's
	// order. A page shorter than the (capped) limit is the last; the next
	// one starts with Before set to the last event's ID.
	QueryAudit(ctx context.Context, q AuditQuery) ([]audit.Event, error)
	// PseudonymizeAudit rewrites the events whose user is userID, whose
	// actor is one of names (the user's username, email) or whose detail
	// holds one, so that none names the user: those fields and such
	// detail values become pseudonym, and the client address is cleared.
	// It returns how many events changed. The events stay: an erasure
	// keeps the record of what happened, not who it happened to.
	PseudonymizeAudit(ctx context.Context, userID, pseudonym string, names []string) (int64, error)
	// DeleteAuditBefore removes the events older than t and returns how
	// many (the retention job, log.audit_retention).
	DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error)
}

// SigningKey is a key the gateway signs identity assertions with. Private
// is opaque to the directory: auth/signing stores the PKCS#8 DER sealed
// with the secrets key ring, so the database alone yields no key (rows
// written by releases before sealing hold the DER in clear until the
// next load seals them). Which key signs and which are published is
// decided by auth/signing; retired keys are neither. The same table holds
// the login page's password encryption keys (auth/pwcrypt, Alg
// "RSA-OAEP-256", sealed the same way); each package reads only its own
// algorithm's keys.
type SigningKey struct {
	KID       string
	Alg       string // "ES256" (auth/signing) or "RSA-OAEP-256" (auth/pwcrypt)
	Private   []byte
	CreatedAt time.Time
	Retired   bool
}

// Keys stores the gateway's private keys: assertion signing keys and
// password encryption keys, told apart by Alg.
type Keys interface {
	AddSigningKey(ctx context.Context, k SigningKey) error // zero CreatedAt means now; ErrConflict on duplicate KID
	// AddFirstSigningKey stores k only when no active key with k.Alg
	// exists, atomically, so replicas starting together on an empty
	// directory agree on one key; otherwise ErrConflict.
	AddFirstSigningKey(ctx context.Context, k SigningKey) error
	SigningKeys(ctx context.Context) ([]SigningKey, error)  // oldest first, retired included
	RetireSigningKey(ctx context.Context, kid string) error // idempotent; ErrNotFound for an unknown kid
	// UpdateSigningKey replaces the stored private key of kid (sealed
	// again, or sealed for the first time), keeping every other field;
	// ErrNotFound for an unknown kid.
	UpdateSigningKey(ctx context.Context, kid string, private []byte) error
}

// TOTPFactor is a user's enrolled authenticator. Secret is sealed by the
// caller (auth/secret); the directory never sees it in clear.
type TOTPFactor struct {
	UserID    string
	Secret    []byte
	CreatedAt time.Time // zero on EnrollTOTP means now
}

// OTP factor kinds.
const (
	OTPEmail = "email" // codes to the account's email address
	OTPSMS   = "sms"   // codes to Target, a phone number
)

// OTPFactor is a second factor whose one-time codes are sent to the
// user. An email factor has no Target: codes go to the account's address
// at send time.
type OTPFactor struct {
	UserID, Kind, Target string
	CreatedAt            time.Time // zero on EnrollFirstOTP means now
}

// FactorPasskeys is the kind RemoveFactor takes to remove every passkey
// of a user at once.
const FactorPasskeys = "webauthn"

// MaxPasskeys bounds how many passkeys one user may register: enough for
// a phone, two computers and spare keys, and a limit on what one account
// can store.
const MaxPasskeys = 10

// Passkey is a registered WebAuthn credential. Credential is the record
// the WebAuthn library keeps, encoded by the caller; the directory keeps
// it opaque and only queries CredentialID and compares SignCount.
type Passkey struct {
	ID           string // random, public: the account page names it in URLs
	UserID       string
	CredentialID []byte
	Name         string
	Credential   []byte
	SignCount    uint32
	CreatedAt    time.Time // zero on enrolment means now
	LastUsedAt   time.Time // zero until first used
}

// MFA stores second factors: at most one TOTP factor and one OTP factor
// of each kind per user, up to MaxPasskeys passkeys, and that user's
// recovery codes (shared by all of them), kept only as hashes computed
// by the caller.
type MFA interface {
	// EnrollTOTP stores the factor, replacing any the user had, and
	// replaces the user's recovery codes with hashes, in one transaction.
	// ErrNotFound for an unknown user; ErrConflict when hashes repeat.
	EnrollTOTP(ctx context.Context, f TOTPFactor, recoveryHashes [][]byte) error
	// EnrollFirstTOTP is EnrollTOTP for a user who has no factor (TOTP
	// or OTP): it stores nothing and returns ErrConflict when one exists,
	// checked and written atomically, so an enrolment started before the
	// user enrolled elsewhere cannot replace that factor and its recovery
	// codes.
	EnrollFirstTOTP(ctx context.Context, f TOTPFactor, recoveryHashes [][]byte) error
	// EnrollFirstOTP stores f and the user's recovery codes for a user
	// who has no factor, atomically, as EnrollFirstTOTP does: ErrConflict
	// when any factor exists, ErrNotFound for an unknown user.
	EnrollFirstOTP(ctx context.Context, f OTPFactor, recoveryHashes [][]byte) error
	// OTPFactors lists the user's OTP factors, oldest first.
	OTPFactors(ctx context.Context, userID string) ([]OTPFactor, error)
	// AddTOTP and AddOTP store one more factor for a user who has one
	// already, keeping the recovery codes: ErrNotFound when the user has
	// no factor (the first goes through EnrollFirst*, with codes),
	// ErrConflict when one of that kind exists. Checked and written
	// atomically under the user's MFA lock.
	AddTOTP(ctx context.Context, f TOTPFactor) error
	AddOTP(ctx context.Context, f OTPFactor) error
	// EnrollFirstPasskey and AddPasskey are EnrollFirstOTP and AddOTP
	// for a passkey (p.ID is chosen by the directory and set on p). A
	// credential id registered already is ErrConflict; AddPasskey past
	// MaxPasskeys is ErrConflict too.
	EnrollFirstPasskey(ctx context.Context, p *Passkey, recoveryHashes [][]byte) error
	AddPasskey(ctx context.Context, p *Passkey) error
	// Passkeys lists the user's passkeys, oldest first.
	Passkeys(ctx context.Context, userID string) ([]Passkey, error)
	// PasskeyByCredentialID finds the passkey with that credential id,
	// whoever it belongs to; ErrNotFound when none.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (Passkey, error)
	// UsePasskey records a verified assertion: the new signature count,
	// the updated record and the time. A counter that did not advance
	// past the stored one (both zero is allowed: authenticators without a
	// counter) is ErrConflict and changes nothing; checked and written in
	// one statement, so of two assertions with the same count one fails.
	// ErrNotFound when the passkey is gone.
	UsePasskey(ctx context.Context, id string, signCount uint32, credential []byte, now time.Time) error
	// RemovePasskey deletes one of the user's passkeys as RemoveFactor
	// deletes a factor: the count of factors left, the recovery codes
	// with the last, ErrNotFound when the user has no such passkey, and
	// ErrConflict under keepOne for the last factor.
	RemovePasskey(ctx context.Context, userID, id string, keepOne bool) (int, error)
	// RemoveFactor deletes the user's factor of kind ("totp", "email",
	// "sms", FactorPasskeys for every passkey) and, when it was the last, the recovery codes with it; it
	// returns how many factors are left. ErrNotFound when there was none;
	// with keepOne, ErrConflict (nothing removed) when it is the last.
	RemoveFactor(ctx context.Context, userID, kind string, keepOne bool) (int, error)
	// TOTP returns the user's factor; ErrNotFound when not enrolled.
	TOTP(ctx context.Context, userID string) (TOTPFactor, error)
	// UpdateTOTPSecret stores a re-sealed secret after a key rotation,
	// keeping CreatedAt and the recovery codes; ErrNotFound when not
	// enrolled.
	UpdateTOTPSecret(ctx context.Context, userID string, sealed []byte) error
	// RemoveTOTP deletes every factor of the user (TOTP, OTP, passkeys) and all
	// recovery codes; removing what is not there is not an error.
	RemoveTOTP(ctx context.Context, userID string) error
	// UseRecoveryCode marks the user's unused code with this hash used,
	// atomically: of two concurrent calls with the same code exactly one
	// succeeds. ErrNotFound when no unused code matches.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) error
	// ReplaceRecoveryCodes swaps every code, used or not, for hashes;
	// ErrNotFound when the user has no factor (TOTP or OTP).
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error
	// FactorCount counts the user's second factors (an app, each OTP
	// kind, each passkey); 0 for a user without any.
	FactorCount(ctx context.Context, userID string) (int, error)
	// RecoveryCodesLeft counts the unused codes; 0 for a user without any.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
}

// Identities links users to their identities at external providers,
// keyed by provider id and subject together (ASVS 6.8.1).
type Identities interface {
	LinkIdentity(ctx context.Context, provider, subject, userID string) error // ErrConflict when linked already
	UserByIdentity(ctx context.Context, provider, subject string) (*User, error)
}

// Revocation asks every gateway replica to end the sessions a user had
// when it was recorded (At); sessions created later are not touched.
type Revocation struct {
	ID     int64
	UserID string
	At     time.Time
}

// Revocations carries "log this user out everywhere" from the process that
// decides it (the CLI, an admin) to every replica, whatever the session
// store: replicas poll recent rows.
type Revocations interface {
	RevokeUserSessions(ctx context.Context, userID string) (Revocation, error)
	RecentRevocations(ctx context.Context, since time.Time) ([]Revocation, error) // oldest first
}

// Directory is everything a backend provides. Times it returns are UTC
// with millisecond precision; any failure other than the ErrNotFound and
// ErrConflict cases wraps ErrUnavailable.
type Directory interface {
	Users
	Policies
	Audit
	Keys
	MFA
	Revocations
	Identities
	Documents
	Groups
	APIKeys
	Devices
	Outbox
	Ping(ctx context.Context) error
	Close() error
}
