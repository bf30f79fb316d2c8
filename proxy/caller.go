package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/access"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/session"
)

// Caller is what the pipeline established about one request, once: the
// client address, the policy in force, and the credential (zero when the
// request carries none). Route handlers read it with CallerOf instead of
// loading the session again.
type Caller struct {
	auth.Credential
	IP     netip.Addr
	Policy *policy.Versioned
	// Ended says why a credential the request carried is no longer valid
	// (idle_timeout, absolute_lifetime, revoked, mfa_required), "" otherwise.
	Ended string
	// Grants is what the caller's permission template allows, set by the
	// authorize step; Access is the table it came from.
	Grants *access.Grants
	Access *access.Table
	// Refused is a credential its authenticator refused with a reason the
	// client is told (an API key: revoked, rate limited, in the URL).
	Refused *auth.Refused

	cookie string // the session cookie value, for re-checks of tunnels
}

// SignedIn reports whether the request carries a live credential (possibly
// with a step still owed).
func (c *Caller) SignedIn() bool { return c != nil && c.ID != "" }

// Complete reports whether every login step is done, so the caller may
// reach the upstream.
func (c *Caller) Complete() bool { return c.SignedIn() && c.Pending == "" }

type callerKey struct{}

// CallerOf returns the request's Caller; nil only for routes mounted with
// Access Public.
func CallerOf(r *http.Request) *Caller {
	c, _ := r.Context().Value(callerKey{}).(*Caller)
	return c
}

// WithCaller returns r carrying c (for tests of route handlers).
func WithCaller(r *http.Request, c *Caller) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
}

// Pending steps a half-authenticated session owes.
const (
	Pending2FA    = "2fa"
	PendingEnroll = "2fa_enroll"
	// PendingPassword: every factor passed with an administrator-set
	// password, which must be replaced first (Enforce Password Reset).
	PendingPassword = "password_change"
)

// Reasons a credential ended, beyond the session package's idle/absolute.
const (
	EndedRevoked     = "revoked"
	EndedMFARequired = "mfa_required"
	// endedInvalid is a credential that did not verify (unknown, forged).
	endedInvalid = "invalid"
)

// errAuthFailed is an authentication that could not be made (a store
// outage); it is kept apart from a credential that is simply not valid.
var errAuthFailed = errors.New("proxy: authentication could not be checked")

// identify runs the authenticators and the session rules and fills c. It
// returns an error only when a check could not be made: the caller must
// then refuse the request (fail closed).
// recordExpired audits a session the policy ended, found by whoever
// claimed it (again: another replica or the sweep did and reported it).
func (g *Gateway) recordExpired(ctx context.Context, c *Caller, reason, id, userID string, again bool) {
	if !again {
		g.audit.Record(ctx, audit.Event{Event: audit.SessionExpired, UserID: userID, ClientIP: c.IP.String(),
			Detail: map[string]string{"reason": reason, "session": id}})
	}
}

func (g *Gateway) identify(r *http.Request, c *Caller) error {
	for _, a := range g.authenticators {
		cred, err := a.Authenticate(r)
		switch {
		case err == nil:
			c.Credential = cred
			return g.sessionRules(r, c)
		case errors.Is(err, auth.ErrNoCredentials):
			continue
		case isExpired(err):
			e := expiredOf(err)
			c.Ended = e.Reason
			g.metrics.inc(outcomeExpired)
			g.recordExpired(r.Context(), c, e.Reason, e.ID, e.UserID, e.Again)
			return nil
		case errors.Is(err, auth.ErrInvalidCredentials):
			c.Ended = endedInvalid
			return nil
		default:
			if c.Refused = refusedOf(err); c.Refused != nil {
				return nil
			}
			return errors.Join(errAuthFailed, err)
		}
	}
	return nil
}

func refusedOf(err error) *auth.Refused {
	var e *auth.Refused
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// isExpired and expiredReason keep errors.As off the success path: its
// target escapes, which would cost an allocation on every request.
func isExpired(err error) bool { return expiredReason(err) != "" }

func expiredReason(err error) string {
	if e := expiredOf(err); e != nil {
		return e.Reason
	}
	return ""
}

func expiredOf(err error) *auth.Expired {
	var e *auth.Expired
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// sessionRules are the checks every credential passes after it verified,
// in exactly one place: a disabled user's credential ends, so does one
// a pending revocation covers, and so does a session without a second
// factor once the policy demands one.
func (g *Gateway) sessionRules(r *http.Request, c *Caller) error {
	id := &c.Identity
	if c.Kind != auth.KindSession && c.Kind != auth.KindDevice {
		// Other credentials (API keys) are checked by their authenticator;
		// the pushed disabled list still ends them at once. Session
		// revocations and the 2FA mandate are about sessions.
		if g.policy.Disabled(id.UserID) {
			c.Credential = auth.Credential{}
			c.Refused = &auth.Refused{Status: http.StatusUnauthorized, Code: "invalid_api_key", Message: "the credential's user is disabled"}
		}
		return nil
	}
	if g.policy.Disabled(id.UserID) {
		return g.end(r, c, EndedRevoked)
	}
	if t := g.policy.RevokedBefore(id.UserID); !t.IsZero() && c.Created.Before(t) {
		// A revocation the session store could not apply yet (review
		// finding F4): the session is refused as if it had been.
		return g.end(r, c, EndedRevoked)
	}
	if p := &c.Policy.Policy; c.Pending == "" && p.MFARequired(policy.MFAInput{Role: id.Role}) && !secondFactorDone(p, id) {
		// Turning on mandatory 2FA applies to sessions that exist already
		// (review finding F16): they end, and the next login asks for it.
		return g.end(r, c, EndedMFARequired)
	}
	return nil
}

// end revokes the caller's credential and leaves it signed out.
func (g *Gateway) end(r *http.Request, c *Caller, reason string) error {
	if c.Kind == auth.KindSession || c.Kind == auth.KindDevice {
		if err := g.sessions.Revoke(r.Context(), c.ID); err != nil {
			return errors.Join(errAuthFailed, err)
		}
		g.assertions.Forget(c.ID)
	}
	g.audit.Record(r.Context(), audit.Event{Event: audit.SessionRevoked, Actor: "system", UserID: c.Identity.UserID,
		ClientIP: c.IP.String(), Detail: map[string]string{"reason": reason, "session": c.ID}})
	c.Credential = auth.Credential{}
	c.Ended = reason
	return nil
}

// secondFactors are the methods that satisfy a 2FA mandate. A passkey
// alone (a passwordless login) is one: it is only accepted with user
// verification, the PIN or biometric that is its second factor.
var secondFactors = []string{auth.MethodTOTP, auth.MethodEmailOTP, auth.MethodSMSOTP, auth.MethodWebAuthn, auth.MethodRecoveryCode, auth.MethodRememberedDevice}

// SecondFactorDone reports whether a login passed a second factor the
// policy accepts: one of ours, or the IdP's own under trust_idp (the admin
// API demands one whatever the policy's mandate).
func SecondFactorDone(p *policy.Policy, id *auth.Identity) bool { return secondFactorDone(p, id) }

// GrantsOf is what the caller's permission template allows under the
// access table in force, narrowed to the credential's scopes; nil when
// no table could be read.
func (g *Gateway) GrantsOf(c *Caller) *access.Grants {
	tbl := g.policy.Access()
	if tbl == nil || !c.SignedIn() {
		return nil
	}
	gr := tbl.GrantsFor(c.Identity.Role, c.Identity.Template)
	if c.Scopes != nil {
		gr = g.narrow(tbl, gr, c.ID, c.Scopes)
	}
	return gr
}

// secondFactorDone reports whether a login passed a second factor the
// policy accepts: one of ours, or the IdP's own under trust_idp.
func secondFactorDone(p *policy.Policy, id *auth.Identity) bool {
	if id.IdPMFA && p.MFA.Federated == "trust_idp" {
		return true
	}
	for _, m := range id.Methods {
		if slices.Contains(secondFactors, m) {
			return true
		}
	}
	return false
}

// sessionCookie is the session-cookie authenticator: the first in every
// pipeline.
type sessionCookie struct{ g *Gateway }

func (a *sessionCookie) Authenticate(r *http.Request) (auth.Credential, error) {
	g := a.g
	v := g.cookies.Session(r)
	if v == "" {
		return auth.Credential{}, auth.ErrNoCredentials
	}
	c := CallerOf(r)
	l := g.Limits(&c.Policy.Policy)
	s, err := g.sessions.Load(r.Context(), v, l)
	if err != nil {
		// Only here: errors.As's target escapes, which would
		// cost an allocation on every successful request.
		var ended *session.ExpiredError
		switch {
		case errors.As(err, &ended):
			return auth.Credential{}, &auth.Expired{Reason: string(ended.Reason), ID: ended.ID, UserID: ended.UserID, Again: ended.Again}
		case errors.Is(err, session.ErrNotFound), errors.Is(err, session.ErrMalformed):
			return auth.Credential{}, auth.ErrInvalidCredentials
		default:
			return auth.Credential{}, err
		}
	}
	if s.Device != nil {
		// A device's login is opened by its OAuth tokens only (with the
		// device key's proof); its ticket never travels as a cookie.
		return auth.Credential{}, auth.ErrInvalidCredentials
	}
	c.cookie = v
	return auth.Credential{Kind: auth.KindSession, ID: s.ID, Identity: s.Identity, Pending: s.Pending,
		Created: s.Created, Deadline: s.Created.Add(l.Absolute)}, nil
}
