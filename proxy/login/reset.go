package login

import (
	"context"
	"errors"
	"net/http"
	"slices"

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
	// LinkID names the link (not its secret): a passkey asked for on
	// the reset page waits under it.
	LinkID string
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
	d, ok := p.resetData(w, r, token, a)
	if !ok {
		return
	}
	p.renderReset(w, r, http.StatusOK, d)
}

func (p *Pages) renderReset(w http.ResponseWriter, r *http.Request, status int, d web.PageData) {
	w.Header().Set("Cache-Control", "no-store")
	p.render.Page(w, r, status, "reset.html", d)
}

// resetSMS texts a code to the SMS factor of the link's account, for the
// reset page's code field: worded as a reset's, kept apart from a login's
// code, under the same limits.
func (p *Pages) resetSMS(w http.ResponseWriter, r *http.Request) {
	token, a, ok := p.resetForm(w, r)
	if !ok {
		return
	}
	d, ok := p.resetData(w, r, token, a)
	if !ok {
		return
	}
	if d.PhoneTo == "" {
		p.render.Error(w, r, web.ErrNotFound)
		return
	}
	to, err := p.mfa.SendResetCode(r.Context(), a.UserID)
	switch {
	case errors.Is(err, auth.ErrCodeSentRecently):
		d.Error = msgCodeWait
		p.renderReset(w, r, http.StatusTooManyRequests, d)
		return
	case err != nil:
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return
	}
	c := proxy.CallerOf(r)
	p.audit.Record(r.Context(), audit.Event{Event: audit.MFACodeSent, Actor: a.Username, UserID: a.UserID, ClientIP: c.IP.String(),
		Detail: map[string]string{"method": auth.MethodSMSOTP, "step": "password_reset"}})
	d.Notice, d.NoticeArg = msgCodeSent, to
	p.renderReset(w, r, http.StatusOK, d)
}

// resetSubmit checks the link again, the second factor when the policy
// demands one (counted against the user's code limit like a login's),
// then sets the password.
func (p *Pages) resetSubmit(w http.ResponseWriter, r *http.Request) {
	token, a, ok := p.resetForm(w, r)
	if !ok {
		return
	}
	owed, _, ok := p.resetFactors(w, r, a)
	if !ok {
		return
	}
	pw := r.PostForm.Get("new_password")
	if pw != r.PostForm.Get("confirm_password") {
		p.resetRefused(w, r, token, a, http.StatusBadRequest, msgMismatch)
		return
	}
	var refused *PasswordRefused
	if err := p.resets.CheckNewPassword(pw); errors.As(err, &refused) {
		p.resetRefused(w, r, token, a, http.StatusBadRequest, refused.Reason)
		return
	}
	c := proxy.CallerOf(r)
	if owed {
		var method string
		var err error
		wrong := msgBadCode
		if answer := r.PostForm.Get("credential"); answer != "" && p.mfa.PasskeysAvailable() {
			method, err = p.mfa.FinishPasskeyLogin(r.Context(), resetCeremony(a), a.UserID, []byte(answer))
			wrong = msgPasskeyFailed
		} else {
			method, err = p.mfa.VerifyForReset(r.Context(), a.UserID, r.PostForm.Get("code"))
		}
		if err != nil {
			status, msg, event, refusal := CodeRefusal(err)
			if !refusal {
				p.render.Error(w, r, web.ErrUnavailable.With(err))
				return
			}
			detail := map[string]string{"step": "password_reset"}
			if f := (*auth.Failure)(nil); errors.As(err, &f) {
				detail["method"], detail["reason"] = f.Method, f.Reason
			}
			p.audit.Record(r.Context(), audit.Event{Event: event, Actor: a.Username, UserID: a.UserID, ClientIP: c.IP.String(), Detail: detail})
			if msg == msgBadCode {
				msg = wrong
			}
			p.resetRefused(w, r, token, a, status, msg)
			return
		}
		p.audit.Record(r.Context(), audit.Event{Event: audit.MFASuccess, Actor: a.Username, UserID: a.UserID, ClientIP: c.IP.String(),
			Detail: map[string]string{"method": method, "step": "password_reset"}})
	}
	switch err := p.resets.CompleteReset(r.Context(), token, pw); {
	case errors.As(err, &refused):
		p.resetRefused(w, r, token, a, http.StatusBadRequest, refused.Reason)
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

// resetForm is the start of every reset form post: the feature is on,
// the form parses, and its link is usable from here.
func (p *Pages) resetForm(w http.ResponseWriter, r *http.Request) (string, ResetAccount, bool) {
	if !p.resetAllowed(w, r) {
		return "", ResetAccount{}, false
	}
	if err := web.ParseForm(w, r); err != nil {
		p.render.Error(w, r, err)
		return "", ResetAccount{}, false
	}
	token := r.PostForm.Get("token")
	a, ok := p.checkReset(w, r, token)
	return token, a, ok
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

// resetFactors reports whether the policy makes this user pass their
// second factor before a reset (the same decision a login makes) and
// the user's factors. A user the policy would send to enrolment has no
// factor to ask for; their next login enrols.
func (p *Pages) resetFactors(w http.ResponseWriter, r *http.Request, a ResetAccount) (bool, auth.MFAStatus, bool) {
	if p.mfa == nil {
		return false, auth.MFAStatus{}, true
	}
	st, err := p.mfa.Status(r.Context(), a.UserID)
	if err != nil {
		p.render.Error(w, r, web.ErrUnavailable.With(err))
		return false, st, false
	}
	pol := &proxy.CallerOf(r).Policy.Policy
	return pol.DecideMFA(policy.MFAInput{Role: a.Role, UserRequires: st.Required, Enrolled: st.Enrolled}) == policy.MFAPrompt, st, true
}

// resetData is the reset page of the link's account: the form, and when
// a second factor is owed, the ways to pass it. A code emailed would go
// to the mailbox the link went to, one factor twice, so email is never
// one of them: an email-only user enters a recovery code.
func (p *Pages) resetData(w http.ResponseWriter, r *http.Request, token string, a ResetAccount) (web.PageData, bool) {
	d := web.PageData{Title: "password.title", ResetToken: token, Username: a.Username}
	owed, st, ok := p.resetFactors(w, r, a)
	if !ok || !owed {
		return d, ok
	}
	d.CodeOwed = true
	has := func(kind string) bool { return slices.Contains(st.Methods, kind) }
	if has("sms") && p.mfa.SMSAvailable() {
		d.PhoneTo = st.PhoneTo
	}
	if has(auth.MethodWebAuthn) && p.mfa.PasskeysAvailable() {
		// As at the 2FA step, a passkey that cannot be asked for leaves
		// the code field.
		if opts, err := p.mfa.BeginPasskeyLogin(r.Context(), resetCeremony(a), a.UserID); err != nil {
			p.gw.Logger().WarnContext(r.Context(), "passkey not offered for a password reset", "user_id", a.UserID, "error", err)
		} else {
			d.PasskeyOptions = string(opts)
		}
	}
	switch {
	case has(auth.MethodTOTP):
		d.CodeLabel = "reset.code"
	case d.PhoneTo != "":
		d.CodeLabel = "reset.code_sms"
	case d.PasskeyOptions != "":
		d.CodeLabel = "reset.code_recovery"
	default:
		d.CodeLabel, d.Message = "reset.code_recovery", "reset.email_only"
	}
	return d, true
}

// resetRefused shows the reset page again, with its ways to pass the
// factor asked for anew, and msg.
func (p *Pages) resetRefused(w http.ResponseWriter, r *http.Request, token string, a ResetAccount, status int, msg string) {
	d, ok := p.resetData(w, r, token, a)
	if !ok {
		return
	}
	d.Error = msg
	p.renderReset(w, r, status, d)
}

// resetCeremony is where a passkey asked for on a reset page waits: the
// link's own name, apart from every session id.
func resetCeremony(a ResetAccount) string { return "reset:" + a.LinkID }
