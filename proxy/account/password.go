package account

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/login"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// OwnPasswords is what the account page needs to let a user change their
// own password (auth/admin, with the session store, wired in
// cmd/gatehouse).
type OwnPasswords interface {
	// HasPassword reports whether the user has a local password: a user
	// who only signs in through an identity provider has none to change.
	HasPassword(ctx context.Context, userID string) (bool, error)
	// ChangePassword sets pw as the user's password and ends every
	// other session of theirs (devices included), keeping keep, the one
	// that made the change (ASVS 7.4.3). *login.PasswordRefused for a
	// password the rules refuse; ErrPasswordRace when the account
	// changed meanwhile (nothing set).
	ChangePassword(ctx context.Context, userID, keep, pw string) error
}

// ErrPasswordRace refuses a change that raced another change of the
// account (a reset, an admin's): the user tries again.
var ErrPasswordRace = errors.New("account: the account changed meanwhile")

// changePassword sets a new password after the current one (or a current
// code), whatever the session's age: a session left open on a shared
// computer must not be enough to take the account over.
func (p *Pages) changePassword(w http.ResponseWriter, r *http.Request) {
	c := proxy.CallerOf(r)
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return
	}
	if has, err := p.passwords.HasPassword(r.Context(), c.Identity.UserID); err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	} else if !has {
		p.render.Error(w, r, web.ErrNotFound)
		return
	}
	pw := r.PostForm.Get("new_password")
	if pw != r.PostForm.Get("confirm_password") {
		p.renderAccount(w, r, "", "password.mismatch", http.StatusBadRequest)
		return
	}
	if !p.proved(w, r, c, r.PostForm.Get("current"), "account.password_current") {
		return
	}
	var refused *login.PasswordRefused
	switch err := p.passwords.ChangePassword(r.Context(), c.Identity.UserID, c.ID, pw); {
	case errors.As(err, &refused):
		p.renderAccount(w, r, "", refused.Reason, http.StatusBadRequest)
		return
	case errors.Is(err, ErrPasswordRace):
		p.renderAccount(w, r, "", "account.password_race", http.StatusConflict)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	p.renderAccount(w, r, "account.password_changed", "", http.StatusOK)
}
