package session

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
)

// Session is one login. Everything here is sealed in the store except the
// fields the backend maintains itself (Created, LastSeen), which are copied
// in from the Record on load.
type Session struct {
	ID       string        `json:"-"`
	Identity auth.Identity `json:"id"`
	Created  time.Time     `json:"-"`
	LastSeen time.Time     `json:"-"`
	ClientIP string        `json:"ip,omitempty"`
	Agent    string        `json:"ua,omitempty"`
	// Pending names the step still owed before the session may reach the
	// upstream ("2fa", "2fa_enroll"); empty when fully authenticated.
	Pending string `json:"pending,omitempty"`
	// Device is set on a mobile device's login (auth/token), which only
	// its OAuth tokens open: the session cookie authenticator refuses it.
	Device *Device `json:"dev,omitempty"`
}

// Device is what a device login is bound to: the registered OAuth client
// and the thumbprint of the key the app holds (RFC 9449 cnf.jkt), which
// every refresh, and every request when access tokens are bound, must
// prove possession of.
type Device struct {
	Client string `json:"cl"`
	JKT    string `json:"jkt"`
	// Bound says whether access tokens are sender-constrained too
	// (policy mobile.dpop: required) or only refresh tokens (refresh_only).
	Bound bool `json:"b,omitempty"`
}

// Limits are the policy's lifetimes, passed in on every load so a policy
// change applies to existing sessions at their next request.
type Limits struct {
	Absolute time.Duration
	Idle     time.Duration
	// Pending bounds a half-authenticated session (first factor passed,
	// second owed); zero means Idle.
	Pending time.Duration
}

// Reason says why a session ended.
type Reason string

const (
	ReasonIdle     Reason = "idle_timeout"
	ReasonAbsolute Reason = "absolute_lifetime"
)

// ExpiredError is returned for a session that exists but must end. ID
// and UserID name the session that ended, for the audit event.
type ExpiredError struct {
	Reason     Reason
	ID, UserID string
	// Again says another replica or the sweep ended the session first
	// (Store.Claim) and reported it: refuse the request, report nothing.
	Again bool
}

func (e *ExpiredError) Error() string { return fmt.Sprintf("session: expired (%s)", e.Reason) }

// IsExpired reports whether err is an ExpiredError and returns its reason.
func IsExpired(err error) (Reason, bool) {
	var e *ExpiredError
	if errors.As(err, &e) {
		return e.Reason, true
	}
	return "", false
}

// Check applies the expiry rules: a session ends when it is older than the
// absolute lifetime (login expiration) or unused for longer than the idle
// timeout. The absolute rule wins when both hold, because its message ("log
// in again") is the one that stays true.
func Check(created, lastSeen, now time.Time, pending bool, l Limits) Reason {
	abs, idle := l.Absolute, l.Idle
	if pending && l.Pending > 0 {
		abs = min(abs, l.Pending)
	}
	if abs > 0 && now.Sub(created) >= abs {
		return ReasonAbsolute
	}
	if idle > 0 && now.Sub(lastSeen) >= idle {
		return ReasonIdle
	}
	return ""
}

// TouchAfter is how stale LastSeen may get before a load writes it again.
// Writing at most once per idle/fraction keeps the hot path read-only while
// ending an idle session at most idle/fraction early.
func TouchAfter(idle time.Duration, fraction int) time.Duration {
	if fraction < 2 {
		fraction = 2
	}
	return idle / time.Duration(fraction)
}
