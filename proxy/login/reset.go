package login

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/auth"
	"github.com/gatehouse-auth/gatehouse/auth/audit"
	"github.com/gatehouse-auth/gatehouse/auth/policy"
	"github.com/gatehouse-auth/gatehouse/proxy"
	"github.com/gatehouse-auth/gatehouse/proxy/web"
)

// Resets is self-service password reset as the pages need it.
type Resets interface {
	// RequestReset emails a link for identifier when it names an
	// account that can use one, and answers the same when it does not;
	// ErrTooManyResets past the client network's limit.
	RequestReset(ctx context.Context, identifier, network string) error
	// CheckReset names the account of a usable link, or ErrResetLink.
	CheckReset(ctx context.Context, token string) (ResetAccount, error)
	// CheckNewPassword is the password rules alone: *PasswordRefused,
	// or nil. The page asks it before spending a second-factor code.
	CheckNewPassword(pw string) error
	// CompleteReset sets pw through the link: *PasswordRefused for a
	// password the rules refuse (the link stays usable), ErrResetLink
	// for a link no longer usable.
	CompleteReset(ctx context.Context, token, pw string) error
}

// ResetAccount is what the reset page needs of the link's account.
type ResetAccount struct {
	UserID, Username, Role string
	Require2FA             bool
}

var (
	// ErrResetLink is every link that cannot be used.
	ErrResetLink = errors.New("login: the reset link is invalid or has expired")
	// ErrTooManyResets is the per-network limit on asking for links.
	ErrTooManyResets = errors.New("login: too many reset requests")
)

const (
	msgResetSent    = "reset.sent"
	msgResetLink    = "reset.link"
	msgResetTooMany = "reset.too_many"
	msgResetDone    = "reset.done"
)

func (p *Pages) resetAllowed(w http.ResponseWriter, r *http.Request) bool {
	if !proxy.CallerOf(r).Policy.Policy.SelfServiceReset() {
		p.render.Error(w, r, web.ErrNotFound)
		return false
	}
	return true
}

func (p *Pages) forgotPage(w http.ResponseWriter, r *http.Request) {
	if !p.resetAllowed(w, r) {
		return
	}
	p.render.Page(w, r, http.StatusOK, "forgot.html", web.PageData{Title: "forgot.title"})
}

// forgotSubmit answers the same page, after the same work, whether the
// account exists or not (auth/reset sends the email in the background).
func (p *Pages) forgotSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.resetAllowed(w, r) {
		return
	}
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return
	}
	c := proxy.CallerOf(r)
	d := web.PageData{Title: "forgot.title"}
	switch err := p.resets.RequestReset(r.Context(), r.PostForm.Get("identifier"), clientNetwork(c.IP)); {
	case errors.Is(err, ErrTooManyResets):
		d.Error = msgResetTooMany
		p.render.Page(w, r, http.StatusTooManyRequests, "forgot.html", d)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	d.Notice = msgResetSent
	p.render.Page(w, r, http.StatusOK, "forgot.html", d)
}

// resetPage shows the new-password form of a usable link. The token
// then travels only in the form's body.
func (p *Pages) resetPage(w http.ResponseWriter, r *http.Request) {
	if !p.resetAllowed(w, r) {
		return
	}
	token := r.URL.Query().Get("token")
	a, ok := p.checkReset(w, r, token)
	if !ok {
		return
	}
	owed, ok := p.resetCodeOwed(w, r, a)
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	p.render.Page(w, r, http.StatusOK, "reset.html", web.PageData{Title: "password.title", ResetToken: token, Username: a.Username, CodeOwed: owed})
}

// resetSubmit checks the link again, the second factor when the policy
// demands one (counted against the user's code limit like a login's),
// then sets the password.
func (p *Pages) resetSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.resetAllowed(w, r) {
		return
	}
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return
	}
	token := r.PostForm.Get("token")
	a, ok := p.checkReset(w, r, token)
	if !ok {
		return
	}
	owed, ok := p.resetCodeOwed(w, r, a)
	if !ok {
		return
	}
	d := web.PageData{Title: "password.title", ResetToken: token, Username: a.Username, CodeOwed: owed}
	pw := r.PostForm.Get("new_password")
	if pw != r.PostForm.Get("confirm_password") {
		d.Error = msgMismatch
		p.render.Page(w, r, http.StatusBadRequest, "reset.html", d)
		return
	}
	var refused *PasswordRefused
	if err := p.resets.CheckNewPassword(pw); errors.As(err, &refused) {
		d.Error = refused.Reason
		p.render.Page(w, r, http.StatusBadRequest, "reset.html", d)
		return
	}
	c := proxy.CallerOf(r)
	if owed {
		method, err := p.mfa.Verify(r.Context(), a.UserID, r.PostForm.Get("code"))
		if err != nil {
			status, msg, event, refusal := CodeRefusal(err)
			if !refusal {
				p.render.Error(w, r, web.ErrUnavailable.With(err))
				return
			}
			p.audit.Record(r.Context(), audit.Event{Event: event, Actor: a.Username, UserID: a.UserID, ClientIP: c.IP.String(),
				Detail: map[string]string{"step": "password_reset"}})
			d.Error = msg
			p.render.Page(w, r, status, "reset.html", d)
			return
		}
		p.audit.Record(r.Context(), audit.Event{Event: audit.MFASuccess, Actor: a.Username, UserID: a.UserID, ClientIP: c.IP.String(),
			Detail: map[string]string{"method": method, "step": "password_reset"}})
	}
	switch err := p.resets.CompleteReset(r.Context(), token, pw); {
	case errors.As(err, &refused):
		d.Error = refused.Reason
		p.render.Page(w, r, http.StatusBadRequest, "reset.html", d)
		return
	case errors.Is(err, ErrResetLink):
		p.render.Page(w, r, http.StatusBadRequest, "reset.html", web.PageData{Title: "password.title", Error: msgResetLink})
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	// The browser's own session, if any, ended with all the others.
	p.cookies.ClearSession(w)
	p.render.Page(w, r, http.StatusOK, "message.html", web.PageData{Title: "reset.done_title", Message: msgResetDone, LoginLink: true})
}

func (p *Pages) checkReset(w http.ResponseWriter, r *http.Request, token string) (ResetAccount, bool) {
	a, err := p.resets.CheckReset(r.Context(), token)
	switch {
	case errors.Is(err, ErrResetLink):
		p.render.Page(w, r, http.StatusBadRequest, "reset.html", web.PageData{Title: "password.title", Error: msgResetLink})
		return a, false
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return a, false
	}
	// The account's own network rules (its role's and its user
	// allowlist) hold for a reset as for a login: a link opened outside
	// them sets nothing.
	if !p.gw.CheckNetwork(w, r, true, &auth.Identity{UserID: a.UserID, Username: a.Username, Role: a.Role}) {
		return a, false
	}
	return a, true
}

// resetCodeOwed reports whether the policy makes this user pass their
// second factor before a reset: the same decision a login makes. A user
// the policy would send to enrolment has no factor to ask for; their
// next login enrols.
func (p *Pages) resetCodeOwed(w http.ResponseWriter, r *http.Request, a ResetAccount) (bool, bool) {
	if p.mfa == nil {
		return false, true
	}
	st, err := p.mfa.Status(r.Context(), a.UserID)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return false, false
	}
	pol := &proxy.CallerOf(r).Policy.Policy
	return pol.DecideMFA(policy.MFAInput{Role: a.Role, UserRequires: st.Required, Enrolled: st.Enrolled}) == policy.MFAPrompt, true
}
