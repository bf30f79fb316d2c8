package apilogin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/directory"
	"github.com/gatehouse-auth/gatehouse/auth/federation"
	"github.com/gatehouse-auth/gatehouse/auth/lockout"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
)

// Method is the login method name (X-Gatehouse-Auth-Method, amr).
const Method = "api"

// Login is one API provider as an auth.PasswordLogin.
type Login struct {
	id     string
	client *Client
	users  federation.Store
	rule   federation.Rule
	now    func() time.Time

	limiter     *lockout.Limiter
	acct, ipLim int
}

// ID is the provider id.
func (l *Login) ID() string { return l.id }

// Client is the provider's endpoint client (`gatehouse provider test`).
func (l *Login) Client() *Client { return l.client }

// SetLockout makes failed checks count against the same budgets as local
// passwords (per account and per client address), so switching the
// method does not reset a guesser's count.
func (l *Login) SetLockout(lim *lockout.Limiter, accountAttempts, ipAttempts int) {
	l.limiter, l.acct, l.ipLim = lim, accountAttempts, ipAttempts
}

func refusal(reason string, err error) error {
	return &auth.Failure{Method: Method, Reason: reason, Err: err}
}

// Authenticate asks the endpoint and maps its answer to a directory user.
func (l *Login) Authenticate(ctx context.Context, username, password, clientIP string) (auth.Identity, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	var att *lockout.Attempt
	if l.limiter != nil {
		var err error
		att, err = l.limiter.Reserve(ctx, lockout.Account(username, l.acct), lockout.ClientIP(clientIP, l.ipLim))
		if errors.Is(err, auth.ErrLockedOut) {
			return auth.Identity{}, refusal("locked_out", err)
		}
		if err != nil {
			return auth.Identity{}, err
		}
	}
	cancel := func() {
		if att != nil {
			att.Cancel(ctx)
		}
	}
	if username == "" || password == "" {
		cancel()
		return auth.Identity{}, refusal("empty", auth.ErrInvalidCredentials)
	}
	ans, _, err := l.client.Check(ctx, username, password, clientIP)
	if err != nil {
		// Could not check: nothing is counted, nothing changes.
		cancel()
		return auth.Identity{}, fmt.Errorf("provider %s: %w", l.id, err)
	}
	if !ans.Valid {
		if att != nil {
			att.Failed()
		}
		return auth.Identity{}, refusal("wrong_password", auth.ErrInvalidCredentials)
	}
	email, ok := federation.CleanEmail(ans.Email)
	if !ok {
		cancel()
		return auth.Identity{}, refusal("bad_email", auth.ErrInvalidCredentials)
	}
	// The endpoint vouches for the login name typed here; a directory
	// user of that name must be the one its answer names.
	if byName, ok := l.users.(interface {
		UserByUsername(ctx context.Context, username string) (*directory.User, error)
	}); ok {
		u, err := byName.UserByUsername(ctx, username)
		switch {
		case err == nil:
			if got, _ := federation.CleanEmail(u.Email); got != email {
				cancel()
				return auth.Identity{}, refusal("email_mismatch", auth.ErrInvalidCredentials)
			}
		case !errors.Is(err, directory.ErrNotFound):
			cancel()
			return auth.Identity{}, err
		}
	}
	c := federation.Claims{Provider: l.id, Method: Method, Subject: username, Email: email, EmailVerified: true}
	u, _, err := federation.Resolve(ctx, l.users, c, l.rule)
	switch {
	case errors.Is(err, federation.ErrNoAccount):
		cancel()
		return auth.Identity{}, refusal("no_account", auth.ErrInvalidCredentials)
	case errors.Is(err, federation.ErrDisabled):
		cancel()
		return auth.Identity{}, refusal("disabled", auth.ErrInvalidCredentials)
	case err != nil:
		cancel()
		return auth.Identity{}, err
	}
	// A stored link decides who the login is; it must still be the user
	// the endpoint named.
	if got, _ := federation.CleanEmail(u.Email); got != email {
		cancel()
		return auth.Identity{}, refusal("email_mismatch", auth.ErrInvalidCredentials)
	}
	if att != nil {
		att.Succeeded(ctx)
	}
	return federation.IdentityFor(u, c), nil
}

// Provider is an opened API provider for the Router.
type Provider struct {
	ID    string
	Login auth.PasswordLogin
}

// Router sends the login form's credentials to the right checker: the API
// provider a user is linked to; else, for a directory user without a
// local password, the first API provider the policy allows; else the
// local password when the policy allows it; else the first API provider.
type Router struct {
	Local     auth.PasswordLogin
	Providers []Provider
	Links     interface {
		UserByIdentity(ctx context.Context, provider, subject string) (*directory.User, error)
		UserByUsername(ctx context.Context, username string) (*directory.User, error)
	}
	Policy func() *policy.Policy
}

// Authenticate implements auth.PasswordLogin.
func (r *Router) Authenticate(ctx context.Context, username, password, clientIP string) (auth.Identity, error) {
	pol := r.Policy()
	if pol == nil {
		return auth.Identity{}, errors.New("apilogin: no policy loaded")
	}
	name := strings.ToLower(strings.TrimSpace(username))
	var first auth.PasswordLogin
	for _, p := range r.Providers {
		if !pol.MethodEnabled(p.ID) {
			continue
		}
		if first == nil {
			first = p.Login
		}
		if name == "" {
			continue
		}
		_, err := r.Links.UserByIdentity(ctx, p.ID, name)
		if err == nil {
			return p.Login.Authenticate(ctx, username, password, clientIP)
		}
		if !errors.Is(err, directory.ErrNotFound) {
			return auth.Identity{}, err
		}
	}
	if first != nil && name != "" {
		u, err := r.Links.UserByUsername(ctx, name)
		switch {
		case err == nil && u.PasswordHash == "":
			return first.Authenticate(ctx, username, password, clientIP)
		case err != nil && !errors.Is(err, directory.ErrNotFound):
			return auth.Identity{}, err
		}
	}
	if pol.MethodEnabled(auth.MethodPassword) || first == nil {
		return r.Local.Authenticate(ctx, username, password, clientIP)
	}
	return first.Authenticate(ctx, username, password, clientIP)
}
