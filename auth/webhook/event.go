package webhook

import (
	"time"

	"github.com/gatehouse-auth/gatehouse/auth/audit"
)

// Event types, the payload's "type": a stable vocabulary the CRM matches.
const (
	TypeLogout          = "logout"           // the user logged out
	TypeIdleTimeout     = "idle_timeout"     // the session went unused too long
	TypeAbsoluteTimeout = "absolute_timeout" // the session reached its maximum lifetime
	TypeRevoked         = "revoked"          // ended by an admin, a credential change, a policy, the IdP
	TypeDeviceLogout    = "device_logout"    // a mobile device was signed out
	TypeUserDisabled    = "user_disabled"    // the user was disabled: every session ended
)

// Payload is the JSON body of one event.
type Payload struct {
	// ID is unique per event and the same on every retry: the receiver's
	// de-duplication key, also sent as webhook-id.
	ID   string    `json:"id"`
	Type string    `json:"type"`
	Time time.Time `json:"time"` // when the session ended (UTC)
	User User      `json:"user"`
	// Session is the ended browser session's public id, as the upstream
	// saw it in X-Gatehouse-Session; empty when the event ends every
	// session of the user (a revocation, a disable).
	Session string `json:"session,omitempty"`
	// Device is the mobile device's id, as in X-Gatehouse-Device, when
	// a device's login ended.
	Device string `json:"device,omitempty"`
	// Reason says more than the type: the revocation's cause
	// (admin_logout, password_set, role_changed, backchannel_logout, …)
	// or the device's (revoked, refresh_reuse, logged_out, …).
	Reason string `json:"reason,omitempty"`
}

// User names whose session ended; Username is empty when the user could
// not be read (deleted meanwhile, or the directory down).
type User struct {
	ID       string `json:"id"`
	Username string `json:"username,omitempty"`
}

// appliedReasons are the reasons of a session_revoked event that carries
// out an end already reported under its own event, and are not reported
// again: a replica applying a revocation from the directory
// ("revocation", "user_disabled", cmd/gatehouse's watcher), the pipeline
// ending a session that arrived after such a revocation ("revoked",
// proxy.EndedRevoked), and the revocation auth/admin records while
// disabling a user, reported as user_disabled.
var appliedReasons = map[string]bool{"revocation": true, "revoked": true, "user_disabled": true}

// Of maps an audit event to the notification it makes; false for an
// event that ends no session (or one reported otherwise, see
// appliedReasons), or names no user. ID and the username are left for
// the caller.
func Of(e audit.Event) (Payload, bool) {
	if e.UserID == "" {
		return Payload{}, false
	}
	p := Payload{Time: e.Time.UTC().Truncate(time.Millisecond), User: User{ID: e.UserID},
		Session: e.Detail["session"], Reason: e.Detail["reason"]}
	switch e.Event {
	case audit.Logout:
		p.Type, p.Reason = TypeLogout, "logout"
	case audit.SessionExpired:
		switch p.Reason {
		case "idle_timeout":
			p.Type = TypeIdleTimeout
		case "absolute_lifetime":
			p.Type = TypeAbsoluteTimeout
		default:
			return Payload{}, false
		}
		p.Device = e.Detail["device"]
	case audit.SessionRevoked:
		if appliedReasons[p.Reason] {
			return Payload{}, false
		}
		p.Type, p.Device = TypeRevoked, e.Detail["device"]
	case audit.DeviceRevoked:
		p.Type, p.Session, p.Device = TypeDeviceLogout, "", e.Detail["device"]
	case audit.UserDisabled:
		p.Type, p.Session, p.Reason = TypeUserDisabled, "", "user_disabled"
	default:
		return Payload{}, false
	}
	return p, true
}
