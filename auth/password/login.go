package password

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/lockout"
)

// Limits are the failed-attempt limits (ASVS 6.3.1, NIST 800-63B 5.2.2).
// Counters expire Window after the first failure, so a lockout ends by
// itself and an attacker cannot lock an account out for longer than that.
type Limits struct {
	AccountAttempts int
	IPAttempts      int
	Window          time.Duration
	// Now is the clock a password's expiry is judged by; nil means
	// time.Now.
	Now func() time.Time
}

// Authenticator checks a username and password against the directory.
type Authenticator struct {
	users   directory.Users
	hasher  *Hasher
	limiter *lockout.Limiter
	limits  Limits
}

// NewAuthenticator wires the parts; counters should be the shared session
// store so limits hold across replicas.
func NewAuthenticator(users directory.Users, h *Hasher, counters lockout.Store, l Limits) *Authenticator {
	return &Authenticator{users: users, hasher: h, limiter: lockout.New(counters, l.Window), limits: l}
}

// Authenticate returns the identity for username/pw or an *auth.Failure
// (reasons: unknown_user, wrong_password, disabled, no_password,
// password_expired, locked_out, busy) wrapping auth.ErrInvalidCredentials (unknown user,
// wrong password, disabled — all alike to the caller), auth.ErrLockedOut
// (too many failures, or ErrBusy: too many logins queued for a hash), or
// an outage (session.ErrUnavailable, directory.ErrUnavailable).
//
// The attempt is reserved against the account and the client IP before
// anything is looked up or hashed, so concurrent guesses cannot all slip
// in under the limit while the first ones are still hashing.
func (a *Authenticator) Authenticate(ctx context.Context, username, pw, clientIP string) (auth.Identity, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	att, err := a.limiter.Reserve(ctx,
		lockout.Account(username, a.limits.AccountAttempts), lockout.ClientIP(clientIP, a.limits.IPAttempts))
	if errors.Is(err, auth.ErrLockedOut) {
		return auth.Identity{}, &auth.Failure{Method: auth.MethodPassword, Reason: "locked_out", Err: err}
	}
	if err != nil {
		return auth.Identity{}, err
	}
	if username == "" || len(pw) > MaxLength {
		return auth.Identity{}, failed(att, "", "unknown_user")
	}
	u, err := a.users.UserByUsername(ctx, username)
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return auth.Identity{}, cancel(ctx, att, err)
	}
	var hash string
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := a.hasher.Verify(ctx, hash, pw)
	switch {
	case errors.Is(err, ErrBusy):
		return auth.Identity{}, cancel(ctx, att, &auth.Failure{Method: auth.MethodPassword, Reason: "busy", Err: err})
	case err != nil && !errors.Is(err, ErrMalformedHash):
		return auth.Identity{}, cancel(ctx, att, err)
	}
	switch {
	case u == nil:
		return auth.Identity{}, failed(att, "", "unknown_user")
	case !ok && u.PasswordHash == "":
		return auth.Identity{}, failed(att, u.ID, "no_password")
	case !ok:
		return auth.Identity{}, failed(att, u.ID, "wrong_password")
	case !u.PasswordExpires.IsZero() && !a.now().Before(u.PasswordExpires):
		// The right password, past its expiry (the first admin's
		// generated one after an hour): refused like a wrong one, not
		// counted as a guess.
		return auth.Identity{}, cancel(ctx, att, &auth.Failure{Method: auth.MethodPassword, Reason: "password_expired", UserID: u.ID, Err: auth.ErrInvalidCredentials})
	case u.Disabled:
		// The right password for a disabled account: not a guess, so it
		// is not counted, and not a login, so nothing is reset.
		return auth.Identity{}, cancel(ctx, att, &auth.Failure{Method: auth.MethodPassword, Reason: "disabled", UserID: u.ID, Err: auth.ErrInvalidCredentials})
	}
	if err := att.Succeeded(ctx); err != nil {
		return auth.Identity{}, err
	}
	id := IdentityOf(u, auth.MethodPassword)
	id.MustChangePassword = u.MustChangePassword
	return id, nil
}

func (a *Authenticator) now() time.Time {
	if a.limits.Now != nil {
		return a.limits.Now()
	}
	return time.Now()
}

// IdentityOf builds the identity a directory user logs in as.
func IdentityOf(u *directory.User, methods ...string) auth.Identity {
	return auth.Identity{
		UserID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName,
		Role: u.Role, Template: u.Template, Groups: u.Groups, Methods: methods,
	}
}

// failed keeps the attempt counted against the account name (whether or
// not it exists, so lockout itself reveals nothing) and the client IP.
func failed(att *lockout.Attempt, userID, reason string) error {
	f := &auth.Failure{Method: auth.MethodPassword, Reason: reason, UserID: userID, Err: auth.ErrInvalidCredentials}
	if att.Failed() {
		f.Reason += ",locked_out"
	}
	return f
}

// cancel gives back an attempt that was never judged and returns err, or
// the store's error too if that fails.
func cancel(ctx context.Context, att *lockout.Attempt, err error) error {
	if cerr := att.Cancel(ctx); cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}
