// Package audit records security events twice: as one structured slog line
// with a stable "event" key (for log pipelines) and as a row in the
// directory's audit table (for admins and data-subject exports). Callers
// pass only non-secret details; this package cannot tell a secret from a
// name, so the rule is enforced where events are built and by tests.
package audit

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"
)

// Event names; stable, because log alerts and scripts match on them.
const (
	LoginSuccess   = "login_success"
	LoginFailure   = "login_failure"
	LoginLockout   = "login_lockout"
	Logout         = "logout"
	SessionExpired = "session_expired"
	SessionRevoked = "session_revoked"
	UserCreated    = "user_created"
	UserDisabled   = "user_disabled"
	UserEnabled    = "user_enabled"
	PasswordSet    = "password_set"
	// UserChanged (email, display name, role, groups; Detail "fields"
	// names which), UserDeleted, UserUnlocked (failed-login counters
	// cleared), UserErased (deleted, and their audit events
	// pseudonymized).
	UserChanged  = "user_changed"
	UserDeleted  = "user_deleted"
	UserUnlocked = "user_unlocked"
	UserErased   = "user_erased"
	// PasswordChanged: a user replaced an administrator-set password at
	// login (the must-change step); PasswordChangeRequired: a login that
	// owes that step.
	PasswordChanged        = "password_changed"
	PasswordChangeRequired = "password_change_required"
	// PasswordResetRequested: a reset link was emailed to the user
	// ("Forgot password?"); PasswordReset: one was used to set a new
	// password.
	PasswordResetRequested = "password_reset_requested"
	PasswordReset          = "password_reset"
	PolicyChanged          = "policy_changed"
	PolicySeeded           = "policy_seeded"
	KeyRotated             = "signing_key_rotated"
	StoreOutage            = "store_unavailable"
	NetworkBlocked         = "network_blocked"
	// Second factor.
	MFARequired      = "mfa_required"
	MFASuccess       = "mfa_success"
	MFAFailure       = "mfa_failure"
	MFALockout       = "mfa_lockout"
	MFAEnrolled      = "mfa_enrolled"
	MFACodeSent      = "mfa_code_sent" // a one-time code was emailed
	MFARemoved       = "mfa_removed"
	MFARecoveryReset = "mfa_recovery_codes_regenerated"
	MFAReset         = "mfa_reset"
	MFARequirement   = "mfa_requirement_changed"
	UserAllowlist    = "user_allowlist_changed"
	UserRoleChanged  = "user_role_changed"
	// Access: permission templates and a user's own template.
	TemplatesSeeded     = "templates_seeded"
	TemplateChanged     = "template_changed"
	TemplateDeleted     = "template_deleted"
	UserTemplateChanged = "user_template_changed"
	// Sales groups.
	GroupCreated       = "group_created"
	GroupChanged       = "group_changed"
	GroupDeleted       = "group_deleted"
	GroupMemberAdded   = "group_member_added"
	GroupMemberRemoved = "group_member_removed"
	GroupPermsChanged  = "group_permissions_changed"
	// Record access policies (auth/records).
	AccessPoliciesSeeded  = "access_policies_seeded"
	AccessPoliciesChanged = "access_policies_changed"
	// API keys.
	APIKeyCreated = "api_key_created"
	APIKeyRevoked = "api_key_revoked"
	APIKeyRefused = "api_key_refused"

	DeviceLogin   = "device_login"
	DeviceRevoked = "device_revoked"
	// RefreshReuse is an already-used refresh token presented again: a
	// stolen token or a broken client; the device is signed out.
	RefreshReuse = "refresh_token_reuse"
	TokenRefused = "token_refused"

	// PersonalDataExported: a user downloaded what the gateway holds
	// about them.
	PersonalDataExported = "personal_data_exported"

	// LogoutAll is "log out everyone"; AdminAPI one call of the admin API.
	LogoutAll = "logout_all"
	AdminAPI  = "admin_api_call"

	// WebhookRequeued: an admin put a given-up webhook event (its user
	// is the event's) back in the queue for the CRM.
	WebhookRequeued = "webhook_requeued"
)

// Event is one security-relevant fact: the one event type every package
// records and the directory stores. Event is a stable snake_case name
// (the constants above); Detail never holds a secret.
type Event struct {
	ID       int64
	Time     time.Time
	Event    string
	Actor    string // who did it: username, "cli", "system"
	UserID   string // whom it concerns, when a user
	ClientIP string
	Detail   map[string]string
}

// Sink stores events (the directory's audit table).
type Sink interface {
	AppendAudit(ctx context.Context, e Event) error
}

// Recorder writes events to the log and the directory.
type Recorder struct {
	log  *slog.Logger
	sink Sink // may be nil (log only)
	now  func() time.Time
	// observers see every event (the metrics count them by kind); set
	// before the recorder is shared, read without a lock after.
	observers []func(context.Context, Event)
}

// Observe adds f, called with every event recorded from now on. Call it
// while wiring, before requests arrive.
func (r *Recorder) Observe(f func(context.Context, Event)) { r.observers = append(r.observers, f) }

// New returns a Recorder; sink may be nil.
func New(log *slog.Logger, sink Sink) *Recorder {
	return &Recorder{log: log.With("component", "audit"), sink: sink, now: time.Now}
}

// Record logs e and appends it to the directory. A directory failure is
// logged, not returned: the event is already in the log, and refusing a
// logout because the audit table is down would help nobody.
func (r *Recorder) Record(ctx context.Context, e Event) {
	if e.Time.IsZero() {
		e.Time = r.now().UTC()
	}
	attrs := []any{"event", e.Event}
	if e.Actor != "" {
		attrs = append(attrs, "actor", e.Actor)
	}
	if e.UserID != "" {
		attrs = append(attrs, "user_id", e.UserID)
	}
	if e.ClientIP != "" {
		attrs = append(attrs, "client_ip", e.ClientIP)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
		attrs = append(attrs, k, e.Detail[k])
	}
	r.log.InfoContext(ctx, "audit", attrs...)
	for _, f := range r.observers {
		f(ctx, e)
	}
	if r.sink == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := r.sink.AppendAudit(ctx, e); err != nil {
		r.log.ErrorContext(ctx, "audit append failed", "event", e.Event, "error", err)
	}
}
