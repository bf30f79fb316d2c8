package password

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/session"
)

// Limits are the failed-attempt limits (ASVS 6.3.1, NIST 800-63B 5.2.2).
// Counters expire Window after the first failure, so a lockout ends by
// itself and an attacker cannot lock an account out for longer than that.
type Limits struct {
	AccountAttempts int
	IPAttempts      int
	Window          time.Duration
}

// Authenticator checks a username and password against the directory.
type Authenticator struct {
	users    directory.Users
	hasher   *Hasher
	counters session.Counter
	limits   Limits
}

// NewAuthenticator wires the parts; counters should be the shared session
// store so limits hold across replicas.
func NewAuthenticator(users directory.Users, h *Hasher, counters session.Counter, l Limits) *Authenticator {
	return &Authenticator{users: users, hasher: h, counters: counters, limits: l}
}

// Authenticate returns the identity for username/pw or an *auth.Failure
// (reasons: unknown_user, wrong_password, disabled, no_password,
// locked_out) wrapping auth.ErrInvalidCredentials (unknown user, wrong password, disabled — all
// alike to the caller), auth.ErrLockedOut, or an outage
// (session.ErrUnavailable, directory.ErrUnavailable).
func (a *Authenticator) Authenticate(ctx context.Context, username, pw, clientIP string) (auth.Identity, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	acctKey, ipKey := "login:acct:"+digest(username), "login:ip:"+clientIP
	if locked, err := a.locked(ctx, acctKey, ipKey); err != nil || locked {
		if err != nil {
			return auth.Identity{}, err
		}
		return auth.Identity{}, &auth.Failure{Method: auth.MethodPassword, Reason: "locked_out", Err: auth.ErrLockedOut}
	}
	if username == "" || len(pw) > MaxLength {
		return auth.Identity{}, a.fail(ctx, acctKey, ipKey, "", "unknown_user")
	}
	u, err := a.users.UserByUsername(ctx, username)
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return auth.Identity{}, err
	}
	var hash string
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := a.hasher.Verify(ctx, hash, pw)
	if err != nil && !errors.Is(err, ErrMalformedHash) {
		return auth.Identity{}, err
	}
	switch {
	case u == nil:
		return auth.Identity{}, a.fail(ctx, acctKey, ipKey, "", "unknown_user")
	case !ok && u.PasswordHash == "":
		return auth.Identity{}, a.fail(ctx, acctKey, ipKey, u.ID, "no_password")
	case !ok:
		return auth.Identity{}, a.fail(ctx, acctKey, ipKey, u.ID, "wrong_password")
	case u.Disabled:
		return auth.Identity{}, &auth.Failure{Method: auth.MethodPassword, Reason: "disabled", UserID: u.ID, Err: auth.ErrInvalidCredentials}
	}
	if err := a.counters.Reset(ctx, acctKey); err != nil {
		return auth.Identity{}, err
	}
	return IdentityOf(u, auth.MethodPassword), nil
}

// IdentityOf builds the identity a directory user logs in as.
func IdentityOf(u *directory.User, methods ...string) auth.Identity {
	return auth.Identity{
		UserID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName,
		Role: u.Role, Groups: u.Groups, Methods: methods,
	}
}

func (a *Authenticator) locked(ctx context.Context, acctKey, ipKey string) (bool, error) {
	n, err := a.counters.Count(ctx, acctKey)
	if err != nil {
		return false, err
	}
	m, err := a.counters.Count(ctx, ipKey)
	if err != nil {
		return false, err
	}
	return n >= int64(a.limits.AccountAttempts) || m >= int64(a.limits.IPAttempts), nil
}

// fail counts the failure against the account name (whether or not it
// exists, so lockout itself reveals nothing) and the client IP.
func (a *Authenticator) fail(ctx context.Context, acctKey, ipKey, userID, reason string) error {
	n, err := a.counters.Incr(ctx, acctKey, a.limits.Window)
	if err != nil {
		return err
	}
	m, err := a.counters.Incr(ctx, ipKey, a.limits.Window)
	if err != nil {
		return err
	}
	f := &auth.Failure{Method: auth.MethodPassword, Reason: reason, UserID: userID, Err: auth.ErrInvalidCredentials}
	if n == int64(a.limits.AccountAttempts) || m == int64(a.limits.IPAttempts) {
		f.Reason += ",locked_out"
	}
	return f
}

// digest keeps usernames (personal data) out of store keys.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}
