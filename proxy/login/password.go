package login

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// PasswordRefused is a new password the rules refuse; Reason is shown to
// the user as it is.
type PasswordRefused struct{ Reason string }

func (e *PasswordRefused) Error() string { return "new password refused: " + e.Reason }

// ErrNoChangeOwed means the user no longer owes a password change (or no
// longer exists): the step is over, and the browser logs in again.
var ErrNoChangeOwed = errors.New("login: no password change owed")

const (
	msgMustChange = "password.must_change"
	msgMismatch   = "password.mismatch"
)

func passwordData(rd, username string) web.PageData {
	return web.PageData{Title: "password.title", Redirect: rd, Username: username, Notice: msgMustChange}
}

// passwordPage is the must-change step: only a session that owes it sees
// the form; any other caller is sent where it belongs.
func (p *Pages) passwordPage(w http.ResponseWriter, r *http.Request) {
	c := proxy.CallerOf(r)
	rd := web.CleanRedirect(r.URL.Query().Get("rd"))
	if c.Pending != proxy.PendingPassword {
		http.Redirect(w, r, nextFor(c, rd), http.StatusSeeOther)
		return
	}
	p.render.Page(w, r, http.StatusOK, "password.html", passwordData(rd, c.Identity.Username))
}

// passwordSubmit stores the user's own password, which ends every other
// session of theirs (this one included: it was only pending), and then
// completes the login with a fresh session.
func (p *Pages) passwordSubmit(w http.ResponseWriter, r *http.Request) {
	c, rd, ok := p.stepForm(w, r, func(c *proxy.Caller) bool { return c.Pending == proxy.PendingPassword })
	if !ok {
		return
	}
	d := passwordData(rd, c.Identity.Username)
	pw := r.PostForm.Get("new_password")
	if pw != r.PostForm.Get("confirm_password") {
		d.Error = msgMismatch
		p.render.Page(w, r, http.StatusBadRequest, "password.html", d)
		return
	}
	if p.passwords == nil {
		p.render.Error(w, r, web.ErrUnavailable)
		return
	}
	err := p.passwords.ChangeOwnPassword(r.Context(), c.Identity.UserID, pw)
	var refused *PasswordRefused
	switch {
	case errors.As(err, &refused):
		d.Error = refused.Reason
		p.render.Page(w, r, http.StatusBadRequest, "password.html", d)
		return
	case errors.Is(err, ErrNoChangeOwed):
		p.cookies.ClearSession(w)
		http.Redirect(w, r, proxy.LoginURL(rd, ""), http.StatusSeeOther)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	id := c.Identity
	id.MustChangePassword = false
	p.loggedIn(w, r, id, rd)
}
