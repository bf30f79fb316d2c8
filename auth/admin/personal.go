package admin

import (
	"context"
	"regexp"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/directory"
)

// PersonalData is everything the gateway holds about one user, as the
// user may download it (the product's "Personal Data Protection": view
// your data). It never holds a secret: no password hash, no factor seed,
// no recovery code, no key secret or hash, no session ticket.
type PersonalData struct {
	ExportedAt time.Time       `json:"exported_at"`
	Profile    PersonalProfile `json:"profile"`
	TwoFactor  struct {
		Enrolled          bool `json:"enrolled"`
		Required          bool `json:"required"`
		RecoveryCodesLeft int  `json:"recovery_codes_left"`
	} `json:"two_factor"`
	Sessions []PersonalSession `json:"sessions"`
	// SessionsKnown is false when the session store could not be read
	// from where the export was made.
	SessionsKnown bool             `json:"sessions_known"`
	Devices       []PersonalDevice `json:"devices"`
	APIKeys       []PersonalKey    `json:"api_keys"`
	// Events are the audit events about the user, newest first (logins,
	// failures, changes an admin made), at most maxPersonalEvents.
	Events []AuditRecord `json:"events"`
	// WebhookEvents are the notifications about the user's sessions
	// still in the queue for the CRM, newest first: pending, or given up
	// and kept for 30 days. A delivered one is no longer held.
	WebhookEvents []WebhookRecord `json:"webhook_events"`
}

// PersonalProfile is the user record without its secrets.
type PersonalProfile struct {
	ID              string    `json:"id"`
	Username        string    `json:"username"`
	Email           string    `json:"email"`
	DisplayName     string    `json:"display_name"`
	Role            string    `json:"role"`
	Template        string    `json:"template"`
	Groups          []string  `json:"groups"`
	Disabled        bool      `json:"disabled"`
	HasPassword     bool      `json:"has_password"`
	PasswordExpires time.Time `json:"password_expires,omitzero"`
	// AllowedNetworks are the CIDRs of the user's own allowlist;
	// Allowlist is the same entries with the admins' descriptions.
	AllowedNetworks []string          `json:"allowed_networks"`
	Allowlist       []PersonalNetwork `json:"allowlist"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
}

// PersonalNetwork is one entry of the user's own network allowlist.
type PersonalNetwork struct {
	CIDR        string `json:"cidr"`
	Description string `json:"description"`
}

// PersonalSession is one live session's description.
type PersonalSession struct {
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	Address   string    `json:"address"`
	UserAgent string    `json:"user_agent"`
	Methods   []string  `json:"methods"`
	Device    string    `json:"mobile_client,omitempty"`
}

// PersonalDevice is one mobile device login.
type PersonalDevice struct {
	ID          string    `json:"id"`
	Client      string    `json:"client"`
	UserAgent   string    `json:"user_agent"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	LastAddress string    `json:"last_address"`
	SignedOut   time.Time `json:"signed_out,omitzero"`
	Reason      string    `json:"signed_out_reason,omitempty"`
}

// PersonalKey is one API key's metadata.
type PersonalKey struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Scopes      []string  `json:"scopes"`
	Networks    []string  `json:"networks"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires,omitzero"`
	LastUsed    time.Time `json:"last_used,omitzero"`
	LastAddress string    `json:"last_used_address,omitempty"`
	Revoked     time.Time `json:"revoked,omitzero"`
}

// maxPersonalEvents bounds the events in one export.
const maxPersonalEvents = 10000

// PersonalData gathers what the gateway holds about the user.
func (s *Service) PersonalData(ctx context.Context, userID string) (PersonalData, error) {
	var d PersonalData
	u, err := s.dir.UserByID(ctx, userID)
	if err != nil {
		return d, err
	}
	d.ExportedAt = s.now().UTC()
	d.Profile = PersonalProfile{ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName, Role: u.Role,
		Template: u.Template, Groups: nonNilStrings(u.Groups), Disabled: u.Disabled, HasPassword: u.PasswordHash != "",
		PasswordExpires: u.PasswordExpires, AllowedNetworks: nonNilStrings(u.AllowList.CIDRs()), Allowlist: []PersonalNetwork{},
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	for _, e := range u.AllowList {
		d.Profile.Allowlist = append(d.Profile.Allowlist, PersonalNetwork(e))
	}
	p, err := s.currentPolicy(ctx)
	if err != nil {
		return d, err
	}
	tf, err := s.twoFactor(ctx, &p, u)
	if err != nil {
		return d, err
	}
	d.TwoFactor.Enrolled, d.TwoFactor.Required, d.TwoFactor.RecoveryCodesLeft = tf.Enrolled, tf.Required, tf.RecoveryCodesLeft
	d.Sessions = []PersonalSession{}
	if s.sessions != nil {
		recs, err := s.sessions.ListUser(ctx, u.ID)
		if err != nil {
			return d, err
		}
		d.SessionsKnown = true
		for _, r := range recs {
			d.Sessions = append(d.Sessions, PersonalSession{ID: r.ID, Created: r.Created, LastSeen: r.LastSeen, Address: r.Meta.ClientIP,
				UserAgent: r.Meta.UserAgent, Methods: nonNilStrings(r.Meta.Methods), Device: r.Meta.Client})
		}
	}
	devs, err := s.dir.UserDevices(ctx, u.ID)
	if err != nil {
		return d, err
	}
	d.Devices = []PersonalDevice{}
	for _, v := range devs {
		d.Devices = append(d.Devices, PersonalDevice{ID: v.ID, Client: v.ClientID, UserAgent: v.UserAgent, FirstSeen: v.FirstSeen,
			LastSeen: v.LastSeen, LastAddress: v.LastIP, SignedOut: v.RevokedAt, Reason: v.RevokeReason})
	}
	keys, err := s.dir.ListAPIKeys(ctx, u.ID)
	if err != nil {
		return d, err
	}
	d.APIKeys = []PersonalKey{}
	for _, k := range keys {
		d.APIKeys = append(d.APIKeys, PersonalKey{ID: k.ID, Name: k.Name, Scopes: nonNilStrings(k.Scopes), Networks: nonNilStrings(k.AllowedCIDRs),
			Created: k.CreatedAt, Expires: k.ExpiresAt, LastUsed: k.LastUsedAt, LastAddress: k.LastUsedIP, Revoked: k.RevokedAt})
	}
	events, err := s.AuditAll(ctx, AuditFilter{UserID: u.ID}, maxPersonalEvents)
	if err != nil {
		return d, err
	}
	d.Events = make([]AuditRecord, len(events))
	for i, e := range events {
		d.Events[i] = NewAuditRecord(e)
	}
	if d.WebhookEvents, err = s.webhooks(ctx, directory.WebhookQuery{UserID: u.ID}); err != nil {
		return d, err
	}
	for i := range d.WebhookEvents {
		d.WebhookEvents[i].LastError = userFacingError(d.WebhookEvents[i].LastError)
	}
	return d, nil
}

// deliveryStatus is a last error that names only the CRM's answer.
var deliveryStatus = regexp.MustCompile(`^status \d{3}$`)

// userFacingError is a delivery's last error as the user may see it: the
// CRM's status as it is, anything else (a transport error, which names
// the CRM's internal host and address) as the fact that it could not be
// reached. The operator's listing keeps the whole text.
func userFacingError(msg string) string {
	if msg == "" || deliveryStatus.MatchString(msg) {
		return msg
	}
	return "the CRM could not be reached"
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
